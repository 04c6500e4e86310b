package xz

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

func TestCheckTypeSize(t *testing.T) {
	for _, tc := range []struct {
		c    CheckType
		size int
	}{{CheckNone, 0}, {CheckCRC32, 4}, {0x03, 4}, {CheckCRC64, 8}, {0x07, 16}, {CheckSHA256, 32}, {0x0d, 64}, {0x0f, 64}} {
		if got := tc.c.Size(); got != tc.size {
			t.Errorf("%v.Size() = %d, want %d", tc.c, got, tc.size)
		}
	}
}

func TestVarint(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		v    int64
		err  string
	}{
		{"zero", []byte{0}, 0, ""},
		{"two bytes", []byte{0x80, 0x01}, 128, ""},
		{"max", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, vliMax, ""},
		{"superfluous zero", []byte{0x80, 0x00}, 0, "superfluous"},
		{"ten bytes", bytes.Repeat([]byte{0x80}, 10), 0, "longer than 9"},
		{"truncated", []byte{0x80}, 0, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := readVarint(bytes.NewReader(tc.b))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %d, %v; want error %q", v, err, tc.err)
				}
				return
			}
			if err != nil || v != tc.v {
				t.Fatalf("got %d, %v; want %d", v, err, tc.v)
			}
		})
	}
}

func TestLZMA2Dict(t *testing.T) {
	for _, tc := range []struct {
		b    byte
		dict int64
	}{{0, 4 << 10}, {1, 6 << 10}, {18, 2 << 20}, {22, 8 << 20}, {23, 12 << 20}, {26, 32 << 20}, {40, 1<<32 - 1}} {
		if d, err := lzma2Dict(tc.b); err != nil || d != tc.dict {
			t.Errorf("lzma2Dict(%d) = %d, %v; want %d", tc.b, d, err, tc.dict)
		}
	}
	if _, err := lzma2Dict(41); err == nil {
		t.Error("lzma2Dict(41): no error")
	}
}

// header builds a block header from its body (without size byte and CRC).
func header(body ...byte) []byte {
	n := (len(body) + 1 + 4 + 3) &^ 3
	b := append([]byte{byte(n/4 - 1)}, body...)
	for len(b) < n-4 {
		b = append(b, 0)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestBlockHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		err  string
		want blockHeader
	}{
		{"lzma2", header(0x00, 0x21, 0x01, 0x16), "", blockHeader{size: 12, compressed: -1, uncompressed: -1, filters: []filter{{id: 0x21, dict: 8 << 20}}}},
		{"sizes", header(0xc0, 0x90, 0x01, 0x80, 0x80, 0x04, 0x21, 0x01, 0x10), "", blockHeader{size: 16, compressed: 144, uncompressed: 65536, filters: []filter{{id: 0x21, dict: 1 << 20}}}},
		{"delta+lzma2", header(0x01, 0x03, 0x01, 0x03, 0x21, 0x01, 0x10), "", blockHeader{size: 12, compressed: -1, uncompressed: -1, filters: []filter{{id: 3, dist: 4}, {id: 0x21, dict: 1 << 20}}}},
		{"x86 start", header(0x01, 0x04, 0x04, 0x10, 0, 0, 0, 0x21, 0x01, 0x10), "", blockHeader{size: 16, compressed: -1, uncompressed: -1, filters: []filter{{id: 4, start: 16}, {id: 0x21, dict: 1 << 20}}}},
		{"reserved flags", header(0x04, 0x21, 0x01, 0x16), "reserved flag", blockHeader{}},
		{"lzma2 not last", header(0x01, 0x21, 0x01, 0x16, 0x03, 0x01, 0x00), "not the last", blockHeader{}},
		{"no lzma2", header(0x00, 0x03, 0x01, 0x00), "not LZMA2", blockHeader{}},
		{"unknown filter", header(0x01, 0x7f, 0x00, 0x21, 0x01, 0x16), "not a filter this reader knows", blockHeader{}},
		{"zero compressed size", header(0x40, 0x00, 0x21, 0x01, 0x16), "compressed size", blockHeader{}},
		{"props too long", header(0x00, 0x21, 0x7f), "properties", blockHeader{}},
		{"dict byte 41", header(0x00, 0x21, 0x01, 41), "41 > 40", blockHeader{}},
		{"non-zero padding", func() []byte {
			b := header(0x00, 0x21, 0x01, 0x16)
			b[6] = 1
			binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[:8]))
			return b
		}(), "padding", blockHeader{}},
		{"bad CRC", func() []byte { b := header(0x00, 0x21, 0x01, 0x16); b[9] ^= 1; return b }(), "CRC32", blockHeader{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := decodeBlockHeader(tc.b, 0x100)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want error %q", h, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.size != tc.want.size || h.compressed != tc.want.compressed || h.uncompressed != tc.want.uncompressed || len(h.filters) != len(tc.want.filters) {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
			for i := range h.filters {
				if h.filters[i] != tc.want.filters[i] {
					t.Fatalf("filter %d: got %+v, want %+v", i, h.filters[i], tc.want.filters[i])
				}
			}
		})
	}
}

func TestIndex(t *testing.T) {
	recs := []record{{100, 65536}, {57, 65536}, {9, 10}}
	good := encodeIndex(3, recs)
	got, err := decodeIndex(bytes.NewReader(good), 0, int64(len(good)))
	if err != nil || len(got) != 3 || got[1] != recs[1] {
		t.Fatalf("decodeIndex = %v, %v", got, err)
	}
	bad := func(f func([]byte) []byte) []byte { return f(append([]byte{}, good...)) }
	for _, tc := range []struct {
		name string
		b    []byte
		err  string
	}{
		{"indicator", bad(func(b []byte) []byte { b[0] = 1; return b }), "indicator"},
		{"crc", bad(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "CRC32"},
		{"unpadded too small", encodeIndex(1, []record{{4, 1}}), "out of range"},
		{"count too big", encodeIndex(1000, recs), "cannot fit"},
		{"count too small", encodeIndex(2, recs), "padding"},
		{"short", good[:len(good)-4], "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeIndex(bytes.NewReader(tc.b), 0, int64(len(tc.b)))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}

// TestDelta: the delta decoder undoes a delta encoding done here.
func TestDelta(t *testing.T) {
	data := testData(10000, 1)
	for _, dist := range []int{1, 4, 256} {
		enc := make([]byte, len(data))
		for i := range data {
			var prev byte
			if i >= dist {
				prev = data[i-dist]
			}
			enc[i] = data[i] - prev
		}
		d := &deltaDec{dist: dist}
		// In pieces, as a stream.
		d.apply(enc[:333], false)
		d.apply(enc[333:], true)
		if !bytes.Equal(enc, data) {
			t.Errorf("dist %d: delta decoding differs", dist)
		}
	}
}
