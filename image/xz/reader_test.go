package xz

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// fileCase is one xz file made by the xz command.
type fileCase struct {
	name    string
	size    int      // bytes of test data
	args    []string // xz options
	blocks  int      // expected number of blocks; -1: do not check
	forward bool     // expect forward decoding (one block bigger than the cache allows whole)
}

var fileCases = []fileCase{
	{"multi-block-crc64", 1 << 20, []string{"-T2", "--block-size=64KiB"}, 16, false},
	{"odd-block-size", 1<<20 + 12345, []string{"-T2", "--block-size=100000"}, 11, false},
	{"check-none", 300 << 10, []string{"-T2", "--block-size=64KiB", "--check=none"}, 5, false},
	{"check-crc32", 300 << 10, []string{"-T2", "--block-size=64KiB", "--check=crc32"}, 5, false},
	{"check-sha256", 300 << 10, []string{"-T2", "--block-size=64KiB", "--check=sha256"}, 5, false},
	{"single-block-small", 200 << 10, []string{"-T1"}, 1, false},
	{"single-block-forward", 6<<20 + 777, []string{"-T1", "-1"}, 1, true},
	{"single-block-forward-sha256", 5 << 20, []string{"-T1", "-0", "--check=sha256"}, 1, true},
	{"delta", 300 << 10, []string{"-T1", "--block-size=64KiB", "--delta=dist=4", "--lzma2"}, 5, false},
	{"x86", 300 << 10, []string{"-T1", "--block-size=64KiB", "--x86", "--lzma2"}, 5, false},
	{"x86-forward", 5 << 20, []string{"-T1", "--x86", "--lzma2=preset=1"}, 1, true},
	{"delta-forward", 5 << 20, []string{"-T1", "--delta=dist=2", "--lzma2=preset=0"}, 1, true},
	{"arm", 300 << 10, []string{"-T1", "--block-size=64KiB", "--arm", "--lzma2"}, 5, false},
	{"armthumb", 300 << 10, []string{"-T1", "--block-size=64KiB", "--armthumb", "--lzma2"}, 5, false},
	{"arm64", 300 << 10, []string{"-T1", "--block-size=64KiB", "--arm64=start=4096", "--lzma2"}, 5, false},
	{"powerpc", 300 << 10, []string{"-T1", "--block-size=64KiB", "--powerpc", "--lzma2"}, 5, false},
	{"sparc", 300 << 10, []string{"-T1", "--block-size=64KiB", "--sparc=start=8", "--lzma2"}, 5, false},
	{"ia64", 300 << 10, []string{"-T1", "--block-size=64KiB", "--ia64", "--lzma2"}, 5, false},
	{"x86-start-delta", 300 << 10, []string{"-T1", "--block-size=64KiB", "--x86=start=123", "--delta=dist=7", "--lzma2"}, 5, false},
	{"lc0-lp2-pb0", 300 << 10, []string{"-T1", "--block-size=64KiB", "--lzma2=lc=0,lp=2,pb=0"}, 5, false},
	{"lc4-pb4-extreme", 300 << 10, []string{"-T1", "--block-size=64KiB", "--lzma2=preset=9e,lc=4,lp=0,pb=4"}, 5, false},
	{"empty", 0, []string{}, 0, false},
	{"one-byte", 1, []string{}, 1, false},
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range fileCases {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(tc.size, uint64(i))
			path := xzFile(t, dir, tc.name+".xz", data, tc.args...)
			want := xzDecompress(t, path)
			if !bytes.Equal(want, data) {
				t.Fatalf("xz -dc does not give back the input")
			}
			x := openFile(t, path, Options{CacheSize: MinCacheSize})
			if tc.blocks >= 0 && x.Blocks() != tc.blocks {
				t.Errorf("Blocks() = %d, want %d", x.Blocks(), tc.blocks)
			}
			if fwd := x.Blocks() > 0 && x.blocks[0].fwd != nil; fwd != tc.forward {
				t.Errorf("forward decoding %v, want %v", fwd, tc.forward)
			}
			compare(t, x, want, 400, uint64(i))
		})
	}
}

// compare checks a full read and n random reads of x against want.
func compare(t *testing.T, x *Reader, want []byte, n int, seed uint64) {
	t.Helper()
	if x.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", x.Size(), len(want))
	}
	got := make([]byte, len(want)+10)
	k, err := x.ReadAt(got, 0)
	if k != len(want) || err != io.EOF {
		t.Fatalf("full ReadAt = %d, %v; want %d, EOF", k, err, len(want))
	}
	if i := firstDiff(got[:k], want); i >= 0 {
		t.Fatalf("full read differs from xz -dc at byte %#x", i)
	}
	if len(want) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for r := 0; r < n; r++ {
		var off, l int
		switch r % 4 {
		case 0: // small, anywhere
			off, l = rng.IntN(len(want)), 1+rng.IntN(4096)
		case 1: // across a block boundary
			if x.Blocks() > 1 {
				b := x.blocks[1+rng.IntN(x.Blocks()-1)]
				off = max(0, int(b.uoff)-rng.IntN(5000))
				l = 1 + rng.IntN(10000)
			} else {
				off, l = rng.IntN(len(want)), 1+rng.IntN(3<<20)
			}
		case 2: // at and past EOF
			off = max(0, len(want)-rng.IntN(3000))
			l = 1 + rng.IntN(6000)
		case 3: // large
			off, l = rng.IntN(len(want)), 1+rng.IntN(300<<10)
		}
		p := make([]byte, l)
		k, err := x.ReadAt(p, int64(off))
		end := min(off+l, len(want))
		if k != end-off {
			t.Fatalf("ReadAt(%d bytes at %#x) = %d, %v; want %d", l, off, k, err, end-off)
		}
		if (end < off+l) != (err == io.EOF) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %#x) error %v", l, off, err)
		}
		if i := firstDiff(p[:k], want[off:end]); i >= 0 {
			t.Fatalf("ReadAt(%d bytes at %#x) differs from xz -dc at byte %#x", l, off, off+i)
		}
	}
	if k, err := x.ReadAt(make([]byte, 1), int64(len(want))); k != 0 || err != io.EOF {
		t.Errorf("ReadAt at EOF = %d, %v", k, err)
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestConcatenatedStreams(t *testing.T) {
	dir := t.TempDir()
	a := testData(200<<10, 1)
	b := testData(150<<10, 2)
	c := testData(10, 3)
	pa := xzFile(t, dir, "a.xz", a, "-T2", "--block-size=64KiB", "--check=crc32")
	pb := xzFile(t, dir, "b.xz", b, "-T1", "--check=sha256")
	pc := xzFile(t, dir, "c.xz", c, "--check=none")
	pe := xzFile(t, dir, "e.xz", nil)
	var cat []byte
	for i, p := range []string{pa, pb, pe, pc} {
		d, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cat = append(cat, d...)
		cat = append(cat, make([]byte, 4*i)...) // stream padding, none after the first
	}
	path := filepath.Join(dir, "cat.xz")
	if err := os.WriteFile(path, cat, 0o644); err != nil {
		t.Fatal(err)
	}
	want := xzDecompress(t, path)
	if !bytes.Equal(want, append(append(append([]byte{}, a...), b...), c...)) {
		t.Fatal("xz -dc of the concatenation is not the inputs")
	}
	x := openFile(t, path, Options{})
	if x.Streams() != 4 || x.Blocks() != 4+1+1 {
		t.Errorf("Streams() = %d, Blocks() = %d; want 4, 6", x.Streams(), x.Blocks())
	}
	compare(t, x, want, 300, 9)
}
