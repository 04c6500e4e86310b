package lzma2

import (
	"os"
	"testing"
)

func BenchmarkQuick(b *testing.B) {
	src, err := os.ReadFile("/tmp/lz/s16.lz2")
	if err != nil {
		b.Skip()
	}
	dst := make([]byte, 16<<20)
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		if _, err := DecodeAll(dst, src, 8<<20); err != nil {
			b.Fatal(err)
		}
	}
}
