package lzma2

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestQuick(t *testing.T) {
	src, err := os.ReadFile("/tmp/lz/s16.lz2")
	if err != nil {
		t.Skip()
	}
	want, _ := os.ReadFile("/tmp/lz/s16")
	dst := make([]byte, len(want))
	t0 := time.Now()
	n, err := DecodeAll(dst, src, 8<<20)
	t.Logf("%v %d/%d %.1f MB/s", err, n, len(src), float64(len(dst))/time.Since(t0).Seconds()/1e6)
	if !bytes.Equal(dst, want) {
		i := 0
		for dst[i] == want[i] {
			i++
		}
		t.Fatalf("differ at %d", i)
	}
}

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
