package wof

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// The fuzz targets are seeded with streams of a few KiB (testdata):
// run them with -fuzzminimizetime 2s, or minimizing each new input can
// take the whole run on a loaded machine (30 s: about 50,000 reads,
// 80,000 XPRESS and 370,000 LZX chunks here).

// FuzzXpress decompresses arbitrary chunks: no panic, no hang.
func FuzzXpress(f *testing.F) {
	for _, c := range testdataStreams[:3] {
		src, n := firstChunk(f, c.file, c.f, len(c.data()))
		f.Add(src, uint16(n))
	}
	f.Add(make([]byte, 300), uint16(10))
	var d XpressDecoder
	f.Fuzz(func(t *testing.T, src []byte, n uint16) {
		dst := make([]byte, int(n)%16384+1)
		_ = d.Decompress(dst, src)
	})
}

// FuzzLZX is FuzzXpress for LZX chunks.
func FuzzLZX(f *testing.F) {
	c := testdataStreams[3]
	src, n := firstChunk(f, c.file, c.f, len(c.data()))
	f.Add(src, uint16(n))
	f.Add([]byte{0, 0x30, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 'b'}, uint16(1))
	var d LZXDecoder
	f.Fuzz(func(t *testing.T, src []byte, n uint16) {
		dst := make([]byte, int(n)%32768+1)
		_ = d.Decompress(dst, src)
	})
}

// FuzzReader reads arbitrary streams as WOF files of arbitrary sizes
// (up to 1 MiB here; the reader allocates by the chunk, not the size).
func FuzzReader(f *testing.F) {
	for _, c := range testdataStreams {
		f.Add(readTestdata(f, c.file), uint32(len(c.data())), uint8(c.f))
	}
	f.Fuzz(func(t *testing.T, s []byte, size uint32, format uint8) {
		r, err := NewReader(bytes.NewReader(s), int64(len(s)), int64(size%(1<<20)), Format(format%4))
		if err != nil {
			return
		}
		buf := make([]byte, 40000)
		for off := int64(0); off < r.Size(); off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				if err != io.EOF && !strings.HasPrefix(err.Error(), "wof: ") {
					t.Fatalf("error without context: %v", err)
				}
				return
			}
		}
	})
}

// TestCorrupt damages real streams (testdata) and reparse points and
// checks for the error each gives: which chunk, which offset, why.
func TestCorrupt(t *testing.T) {
	x4 := readTestdata(t, "xpress4k.wof") // 6000 bytes: 2 chunks, a 4-byte table
	lz := readTestdata(t, "lzx.wof")      // 12000 bytes: 1 chunk
	mod := func(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	for _, c := range []struct {
		name   string
		stream []byte
		size   int64
		f      Format
		want   string
	}{
		{"table past the stream", x4[:3], 6000, Xpress4K, "needs a 4-byte chunk table"},
		{"no room for the chunks", x4[:5], 6000, Xpress4K, "2 chunks in 1 bytes"},
		{"entry past the end", mod(x4, func(b []byte) []byte { b[3] = 0x40; return b }), 6000, Xpress4K, "chunk table entry 0 at stream offset 0"},
		{"entry 0: chunk 0 empty", mod(x4, func(b []byte) []byte { copy(b, []byte{0, 0, 0, 0}); return b }), 6000, Xpress4K, "XPRESS4K chunk 0 (stream offset 4, 0 bytes stored"},
		{"chunk stored larger than its size", x4, 100, Xpress4K, "stored size 2812 not in 1..100"},
		{"chunk 1 cut", x4[:len(x4)-20], 6000, Xpress4K, "XPRESS4K chunk 1"},
		{"code lengths over-subscribed", mod(x4, func(b []byte) []byte { b[4] = 0x11; b[5] = 0x11; return b }), 6000, Xpress4K, "chunk 0 (stream offset 4"},
		{"code lengths all zero", mod(x4, func(b []byte) []byte { clear(b[4 : 4+256]); return b }), 6000, Xpress4K, "chunk 0 (stream offset 4, 1802 bytes stored, 4096 bytes): xpress: a symbol decoded with an empty Huffman code"},
		{"lzx block type 0", mod(lz, func(b []byte) []byte { b[1] &^= 0xE0; return b }), 12000, LZX, "block at input byte 0, output 0"},
		{"lzx cut", lz[:len(lz)/2], 12000, LZX, "LZX chunk 0"},
		{"lzx as xpress", lz, 12000, Xpress16K, "XPRESS16K chunk 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(c.stream), int64(len(c.stream)), c.size, c.f)
			if err == nil {
				buf := make([]byte, c.size)
				var n int
				n, err = r.ReadAt(buf, 0)
				if err == io.EOF || err == nil {
					t.Fatalf("read %d bytes without an error", n)
				}
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to say %q", err, c.want)
			}
			t.Log(err)
		})
	}
	// Reparse points.
	good := []byte{0x17, 0, 0, 0x80, 16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}
	if f, err := ParseReparse(good); err != nil || f != LZX {
		t.Errorf("ParseReparse(good) = %v, %v", f, err)
	}
	for _, c := range []struct {
		name string
		at   int
		v    byte
		n    int
		want string
	}{
		{"short", 0, 0x17, 7, "reparse point of 7 bytes"},
		{"tag", 0, 0x18, 24, "not WOF's"},
		{"data length", 4, 4, 24, "no WOF_EXTERNAL_INFO"},
		{"version", 8, 2, 24, "WOF_EXTERNAL_INFO version 2"},
		{"provider WIM", 12, 1, 24, "WIM-backed"},
		{"provider", 12, 3, 24, "provider 3"},
		{"no file info", 4, 8, 24, "no FILE_PROVIDER_EXTERNAL_INFO_V1"},
		{"file version", 16, 0, 24, "file provider version 0"},
		{"format", 20, 4, 24, "unknown compression format 4"},
	} {
		b := bytes.Clone(good)
		b[c.at] = c.v
		_, err := ParseReparse(b[:c.n])
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if c.name == "provider WIM" && !errors.Is(err, ErrWIMBacked) {
			t.Errorf("%s: %v is not ErrWIMBacked", c.name, err)
		}
	}
}
