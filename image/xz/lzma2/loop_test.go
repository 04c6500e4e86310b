package lzma2

import (
	"os"
	"testing"
)

// TestLoop decodes $LZMA2_RAW (a raw LZMA2 stream of $LZMA2_SIZE bytes)
// 5 times, for profiling by hand.
func TestLoop(t *testing.T) {
	src, err := os.ReadFile("/tmp/lz/s16.lz2")
	if err != nil || os.Getenv("LOOP") == "" {
		t.Skip()
	}
	dst := make([]byte, 16<<20)
	for i := 0; i < 5; i++ {
		if _, err := DecodeAll(dst, src, 8<<20); err != nil {
			t.Fatal(err)
		}
	}
}
