// Command virt-bmap writes the block map of one or more disk images. See
// doc.go for the manual.
package main

import (
	"os"
	"runtime/debug"
)

// version is set at link time: -ldflags "-X main.version=...".
var version = "dev"

// gcPercent and memLimit tune the garbage collector for what virt-bmap
// does: build a map that stays live to the end (on a disk of a million
// files, nearly every byte allocated is still in use when the map is
// written), where each collection with the default GOGC=100 scans the
// whole map again to free almost nothing. A collection once the heap has
// grown fivefold, with a soft limit that brings collections back as the
// heap nears 1 GiB, took a fifth of the CPU time off a million-file ext4
// map (bench/README.md). GOGC and GOMEMLIMIT in the environment win.
const (
	gcPercent = 400
	memLimit  = 900 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
