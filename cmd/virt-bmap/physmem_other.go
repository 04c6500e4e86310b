//go:build !linux

package main

// physMem returns 0 (unknown) elsewhere than on Linux: the soft limit
// stays memLimit.
func physMem() int64 { return 0 }
