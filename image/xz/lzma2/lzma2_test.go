package lzma2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	ulzma "github.com/ulikunitz/xz/lzma"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// testData returns n deterministic bytes like a disk's: text, random
// (incompressible) runs, zeros, repeated records and byte-code-like runs,
// so xz makes LZMA chunks with every kind of symbol and uncompressed
// chunks.
func testData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	words := strings.Fields("the quick brown fox jumps over a lazy dog kernel initrd boot grub linux inode extent superblock journal")
	var b bytes.Buffer
	for b.Len() < n {
		run := 256 + rng.IntN(48<<10)
		switch rng.IntN(5) {
		case 0:
			for k := 0; k < run; {
				w := words[rng.IntN(len(words))]
				b.WriteString(w)
				b.WriteByte(" \n"[rng.IntN(8)/7])
				k += len(w) + 1
			}
		case 1:
			for k := 0; k < run; k++ {
				b.WriteByte(byte(rng.Uint32()))
			}
		case 2:
			b.Write(make([]byte, run))
		case 3:
			rec := fmt.Sprintf("record %08d: %x\n", rng.IntN(1e8), rng.Uint64())
			for k := 0; k < run; k += len(rec) {
				b.WriteString(rec)
			}
		case 4:
			for k := 0; k < run; k++ {
				b.WriteByte(byte(rng.IntN(24)) * 3)
			}
		}
	}
	return b.Bytes()[:n]
}

// rawLZMA2 compresses data with `xz --format=raw` and the LZMA2 options
// opts (as for --lzma2=).
func rawLZMA2(t testing.TB, data []byte, opts string) []byte {
	t.Helper()
	testutil.NeedTools(t, "xz")
	cmd := exec.Command("xz", "--format=raw", "--lzma2="+opts, "-c", "-q")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz --format=raw --lzma2=%s: %v", opts, err)
	}
	return out
}

// ulikunitz decodes src with github.com/ulikunitz/xz, the reference,
// reading at most max bytes.
func ulikunitz(src []byte, dict, limit int) ([]byte, error) {
	r, err := ulzma.Reader2Config{DictCap: max(dict, ulzma.MinDictCap)}.NewReader2(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)))
	if err == nil && len(out) < limit && !r.EOS() {
		err = errors.New("no end marker")
	}
	return out, err
}

// dictOf is the dictionary size of an --lzma2 option string's dict=.
func dictOf(opts string) int {
	for _, o := range strings.Split(opts, ",") {
		var v int
		if _, err := fmt.Sscanf(o, "dict=%dKiB", &v); err == nil {
			return v << 10
		}
		if _, err := fmt.Sscanf(o, "dict=%dMiB", &v); err == nil {
			return v << 20
		}
	}
	return 8 << 20
}

// TestDifferential compresses data with xz under many options and
// decodes it with DecodeAll, with Reader and with ulikunitz/xz: all must
// give back the input.
func TestDifferential(t *testing.T) {
	mixed := testData(600<<10+4321, 1)
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rand.Uint32())
	}
	zeros := make([]byte, 5<<20)
	ab := bytes.Repeat([]byte("ab"), 100<<10)
	cases := []struct {
		opts string
		data []byte
	}{
		{"preset=0", mixed},
		{"preset=1", mixed[:400<<10]},
		{"preset=2", mixed[:400<<10]},
		{"preset=3", mixed[:400<<10]},
		{"preset=4", mixed[:400<<10]},
		{"preset=5", mixed[:400<<10]},
		{"preset=6", mixed[:400<<10]},
		{"preset=6e", mixed[:400<<10]},
		{"preset=9e,dict=4MiB", mixed[:400<<10]},
		{"preset=6,lc=0,lp=2,pb=0", mixed[:400<<10]},
		{"preset=6,lc=4,lp=0,pb=4", mixed[:400<<10]},
		{"preset=6,lc=1,lp=3,pb=2", mixed[:400<<10]},
		{"preset=6,lc=0,lp=0,pb=0", mixed[:400<<10]},
		{"preset=0,dict=4KiB", mixed[:400<<10]}, // distances limited to 4 KiB
		{"preset=6,dict=64KiB", mixed},
		{"preset=0,dict=64KiB", zeros}, // Reader grows, then slides its buffer
		{"preset=6,mf=hc3,nice=8", mixed[:400<<10]},
		{"preset=6", random},        // uncompressed chunks
		{"preset=6", zeros[:1<<20]}, // long matches at distance 1
		{"preset=6", ab},            // overlapping copies at distance 2
		{"preset=6", nil},
		{"preset=6", []byte{42}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.opts, len(tc.data)), func(t *testing.T) {
			src := rawLZMA2(t, tc.data, tc.opts)
			dict := dictOf(tc.opts)
			dst := make([]byte, len(tc.data))
			n, err := DecodeAll(dst, src, dict)
			if err != nil || n != len(src) {
				t.Fatalf("DecodeAll = %d of %d, %v", n, len(src), err)
			}
			if i := firstDiff(dst, tc.data); i >= 0 {
				t.Fatalf("DecodeAll differs from the input at %d", i)
			}
			r := NewReader(bytes.NewReader(src), min(dict, max(len(tc.data), 1)))
			got, err := io.ReadAll(readOdd{r})
			if err != nil || !r.EOS() || r.Consumed() != int64(len(src)) {
				t.Fatalf("Reader: %v, EOS %v, consumed %d of %d", err, r.EOS(), r.Consumed(), len(src))
			}
			if i := firstDiff(got, tc.data); i >= 0 {
				t.Fatalf("Reader differs from the input at %d (len %d)", i, len(got))
			}
			ref, err := ulikunitz(src, dict, len(tc.data)+1)
			if err != nil {
				t.Fatalf("ulikunitz: %v", err)
			}
			if !bytes.Equal(ref, dst) {
				t.Fatalf("ulikunitz differs at %d", firstDiff(ref, dst))
			}
		})
	}
}

// readOdd reads in odd sizes, to cross chunk boundaries in Reader.Read.
type readOdd struct{ r io.Reader }

func (o readOdd) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 77777)]) }

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestCorrupt: bad streams give an *Error at an offset inside the input,
// never a panic, and never write past dst.
func TestCorrupt(t *testing.T) {
	data := testData(200<<10, 3)
	good := rawLZMA2(t, data, "preset=1")
	unc := rawLZMA2(t, bytes.Repeat([]byte{0xa5, 0x5a, 0x33}, 100), "preset=0") // tiny: may be one LZMA chunk
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte{}, b...)) }
	tests := []struct {
		name string
		src  []byte
		size int
		msg  string
	}{
		{"empty", nil, 10, "no end byte"},
		{"only end, size wanted", []byte{0}, 10, "end of data after 0"},
		{"bad control", []byte{0x01, 0, 0, 'x', 0x03, 0, 0}, 10, "invalid control byte 0x03"},
		{"no dictionary reset", []byte{0x02, 0, 0, 'x', 0}, 1, "does not reset the dictionary"},
		{"no properties", []byte{0x01, 0, 0, 'x', 0x80, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0}, 3, "without properties"},
		{"properties out of range", []byte{0xe0, 0, 0, 0, 4, 225}, 1, "out of range"},
		{"lc+lp > 4", []byte{0xe0, 0, 0, 0, 4, 4*9 + 1}, 1, "lc=1 + lp=4"},
		{"truncated header", []byte{0xe0, 0, 0}, 1, "truncated chunk header"},
		{"chunk past the size", []byte{0x01, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0}, 5, "past the uncompressed size"},
		{"compressed size past the input", []byte{0xe0, 0, 0, 0x10, 0, 0x5d, 0, 0}, 1, "truncated"},
		{"range coder first byte", []byte{0xe0, 0, 0, 0, 4, 0x5d, 1, 0, 0, 0, 0, 0}, 1, "first byte 0x01"},
		{"short size", good, len(data) - 1, "past the uncompressed size"},
		{"long size", good, len(data) + 1, "end of data after"},
		{"truncated", good[:len(good)/2], len(data), "truncated"},
		{"no end byte", good[:len(good)-1], len(data), "no end byte"},
		{"flipped byte", mod(good, func(b []byte) []byte { b[len(b)/3] ^= 0x40; return b }), len(data), ""},
		{"flipped in tiny", mod(unc, func(b []byte) []byte { b[len(b)-3] ^= 0x01; return b }), 300, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, tc.size, tc.size+64)
			guard := dst[tc.size : tc.size+64]
			n, err := DecodeAll(dst, tc.src, 1<<20)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("DecodeAll = %d, %v; want an *Error", n, err)
			}
			if e.Off < 0 || e.Off > int64(len(tc.src)) || e.Chunk > e.Off {
				t.Errorf("error offset %d (chunk %d) outside the %d bytes of input", e.Off, e.Chunk, len(tc.src))
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
			for _, b := range guard {
				if b != 0 {
					t.Fatal("wrote past dst")
				}
			}
			// The Reader fails too (the size is its only difference).
			if tc.size == len(data) || tc.size <= 10 {
				if _, err := io.ReadAll(NewReader(bytes.NewReader(tc.src), 1<<20)); err == nil && tc.msg != "end of data after 0" && tc.size == len(data) {
					t.Errorf("Reader: no error")
				}
			}
		})
	}
}
