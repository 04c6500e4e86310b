// Command virt-inspector describes the operating systems on disk images.
// See doc.go for the manual.
package main

import "os"

// version is set at link time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
