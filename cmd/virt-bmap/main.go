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
// files, every byte allocated is still in use when the map is written:
// total allocations equal the heap at the end on the ext1m and ntfs250k
// benchmarks), where a collection scans the whole map to free almost
// nothing. So the collector is off until the heap nears a soft limit of
// 900 MiB, which brings collections back for a map that large. It was
// GOGC=400 with that limit: the first collection started as the walker
// made room for a million objects at once (bmap.Builder.Grow), read the
// untouched room as pages of zeros, and every write then faulted a
// second time (26,000 more page faults on ext1m, 0.1-0.15 s of CPU time,
// bench/README.md). On a machine with less than twice memLimit of
// memory, the limit is half of it (physMem). GOGC and GOMEMLIMIT in the
// environment win.
const (
	gcPercent = -1 // off
	memLimit  = 900 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(memLimit)
		if m := physMem(); m > 0 && m/2 < limit {
			limit = m / 2
		}
		debug.SetMemoryLimit(limit)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
