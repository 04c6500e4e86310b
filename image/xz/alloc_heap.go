//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package xz

func allocBuf(n int) []byte { return make([]byte, n) }

func freeBuf([]byte) {}
