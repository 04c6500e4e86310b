package xz

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// seeds makes small xz files with the xz command for the fuzz corpora.
func seeds(f *testing.F) [][]byte {
	dir := f.TempDir()
	var out [][]byte
	for i, args := range [][]string{
		{"-T2", "--block-size=4KiB"},
		{"-T1", "--check=sha256"},
		{"-T1", "--check=none", "--delta=dist=2", "--lzma2"},
		{"-T1", "--check=crc32", "--x86", "--lzma2"},
		{},
	} {
		size := []int{20000, 3000, 5000, 5000, 0}[i]
		b, err := os.ReadFile(xzFile(f, dir, filepath.Base(f.Name())+".xz", testData(size, uint64(i)), args...))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzIndex feeds index bytes (seeded with the indexes of real files).
func FuzzIndex(f *testing.F) {
	for _, s := range seeds(f) {
		foot, err := decodeStreamFooter(s[len(s)-12:], 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s[len(s)-12-int(foot.indexSize) : len(s)-12])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeIndex(bytes.NewReader(b), 0, int64(len(b)))
		if err == nil && len(recs) > len(b)/2 {
			t.Fatalf("%d records from %d bytes", len(recs), len(b))
		}
	})
}

// FuzzBlockHeader feeds block headers (seeded with the first block header
// of real files).
func FuzzBlockHeader(f *testing.F) {
	for _, s := range seeds(f) {
		if s[12] != 0 {
			f.Add(s[12 : 12+blockHeaderLen(s[12])])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || blockHeaderLen(b[0]) != len(b) {
			return
		}
		h, err := decodeBlockHeader(b, 0)
		if err == nil {
			if len(h.filters) == 0 || h.filters[len(h.filters)-1].id != filterLZMA2 {
				t.Fatalf("accepted a chain without LZMA2 last: %+v", h)
			}
			for _, fl := range h.filters[:len(h.filters)-1] {
				newUnfilter(fl)
			}
		}
	})
}

// FuzzStreamFooter feeds stream footers and headers.
func FuzzStreamFooter(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s[len(s)-12:])
		f.Add(s[:12])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 12 {
			return
		}
		if ft, err := decodeStreamFooter(b, 0); err == nil && (ft.indexSize < 4 || ft.indexSize%4 != 0) {
			t.Fatalf("index size %d", ft.indexSize)
		}
		decodeStreamHeader(b, 0)
	})
}

// FuzzReader opens whole files and reads from them: only a panic, a hang
// or a wrong length fails.
func FuzzReader(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := NewReader(bytes.NewReader(b), int64(len(b)), Options{CacheSize: MinCacheSize, Workers: 2})
		if err != nil {
			return
		}
		defer x.Close()
		x.Blocks()
		x.Streams()
		x.Stats()
		size := x.Size()
		p := make([]byte, 10000)
		for _, off := range []int64{0, size / 3, size - 5000, size - 1} {
			if off < 0 || off >= size || off > 8<<20 {
				continue
			}
			n, err := x.ReadAt(p, off)
			if n > len(p) || (n < len(p) && err == nil) {
				t.Fatalf("ReadAt at %d = %d, %v", off, n, err)
			}
		}
	})
}
