package lzma2

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"
)

// benchInput is the raw LZMA2 stream the benchmarks decode, and its size:
// $LZMA2_RAW and $LZMA2_SIZE if set (a real file: `xz --format=raw
// --lzma2=preset=6 -c FILE > FILE.lz2`, its size in bytes), else 4 MiB of
// testData compressed with preset 6.
func benchInput(b *testing.B) ([]byte, int) {
	if path := os.Getenv("LZMA2_RAW"); path != "" {
		src, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		n, err := strconv.Atoi(os.Getenv("LZMA2_SIZE"))
		if err != nil {
			b.Fatalf("LZMA2_SIZE: %v", err)
		}
		return src, n
	}
	data := testData(4<<20, 11)
	return rawLZMA2(b, data, "preset=6"), len(data)
}

// BenchmarkDecodeAll: ours, into one buffer.
func BenchmarkDecodeAll(b *testing.B) {
	src, n := benchInput(b)
	dst := make([]byte, n)
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := DecodeAll(dst, src, 8<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReader: ours, streaming.
func BenchmarkReader(b *testing.B) {
	src, n := benchInput(b)
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, NewReader(bytes.NewReader(src), min(n, 8<<20))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkULikunitz: the reference library's LZMA2 reader, as image/xz
// used it before.
func BenchmarkULikunitz(b *testing.B) {
	src, n := benchInput(b)
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := ulikunitz(src, 8<<20, n+1); err != nil {
			b.Fatal(err)
		}
	}
}
