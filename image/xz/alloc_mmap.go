//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package xz

import "syscall"

// Cache buffers live outside the Go heap (anonymous mmap): the cache is
// the bulk of the reader's memory, and kept on the heap it would set the
// garbage collector's goal at twice its size, so the decoders' short-lived
// buffers could pile up to the size of the cache before a collection.
// Off-heap, the heap stays a few MiB and the process stays within
// CacheSize plus a small margin. Buffers are recycled by the cache and
// unmapped only when nothing holds them (see entry.refs).

func allocBuf(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

func freeBuf(b []byte) {
	// A buffer from make (mmap failed) is not a mapping: Munmap then
	// fails with EINVAL and the garbage collector takes it.
	syscall.Munmap(b)
}
