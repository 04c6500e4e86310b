// Command bmaplogger serves disk images read-only over NBD and traces what
// a client (a booting guest) reads: every read looked up in the block map.
// See doc.go for the manual.
package main

import "os"

// version is set at link time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
