package vdi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// makeSource writes a deterministic raw disk of size bytes to path: runs of
// random bytes, written zeros, holes and patterns, in chunks that do not
// line up with blocks, and some whole blocks left as holes.
func makeSource(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for off := int64(0); off < size; {
		n := min(size-off, 1+rng.Int64N(700<<10))
		var b []byte
		switch rng.IntN(5) {
		case 0:
			b = make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case 1:
			b = make([]byte, n)
		case 2, 3: // holes
		case 4:
			pat := fmt.Sprintf("virt-bmap vdi test at %#x; ", off)
			b = bytes.Repeat([]byte(pat), int(n)/len(pat)+1)[:n]
		}
		if b != nil {
			if _, err := f.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		}
		off += n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	testutil.Run(t, "", "qemu-img", args...)
}

// qemuRaw converts a VDI to raw with qemu-img and returns the bytes.
func qemuRaw(t testing.TB, path string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".raw")
	qemuImg(t, "convert", "-U", "-f", "vdi", "-O", "raw", path, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run is a run of a disk with one allocation state.
type run struct {
	off, len   int64
	data, zero bool
}

func merge(in []run) []run {
	var out []run
	for _, r := range in {
		if n := len(out); n > 0 && out[n-1].off+out[n-1].len == r.off && out[n-1].data == r.data && out[n-1].zero == r.zero {
			out[n-1].len += r.len
			continue
		}
		out = append(out, r)
	}
	return out
}

// qemuMap is qemu-img map --output=json of path.
func qemuMap(t testing.TB, path string) []run {
	t.Helper()
	out, err := exec.Command("qemu-img", "map", "-U", "-f", "vdi", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img map %s: %v", path, err)
	}
	var m []struct {
		Start, Length int64
		Data, Zero    bool
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	var runs []run
	for _, e := range m {
		runs = append(runs, run{e.Start, e.Length, e.Data, e.Zero})
	}
	return merge(runs)
}

// ourMap walks img's Extents over the whole disk, checking they are
// consecutive.
func ourMap(t testing.TB, img *Image) []run {
	t.Helper()
	var runs []run
	for pos := int64(0); pos < img.Size(); {
		exts, err := img.Extents(pos, img.Size()-pos)
		if err != nil {
			t.Fatalf("Extents(%#x): %v", pos, err)
		}
		if len(exts) == 0 {
			t.Fatalf("Extents(%#x): none", pos)
		}
		for _, e := range exts {
			if e.Off != pos || e.Len <= 0 || e.End() > img.Size() {
				t.Fatalf("Extents: %+v at %#x (size %d)", e, pos, img.Size())
			}
			runs = append(runs, run{e.Off, e.Len, !e.Hole, e.Zero})
			pos = e.End()
		}
	}
	return merge(runs)
}

// checkRead compares a full read and random reads of img with want.
func checkRead(t *testing.T, img *Image, want []byte) {
	t.Helper()
	if img.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, qemu-img gives %d bytes", img.Size(), len(want))
	}
	got := make([]byte, len(want))
	if n, err := img.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("full read: %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("full read differs from qemu-img at %#x", firstDiff(got, want))
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(want))))
	size := int64(len(want))
	for range 100 {
		off := rng.Int64N(size)
		if rng.IntN(2) == 0 { // across a block boundary
			b := rng.Int64N(size/img.h.blockSize+1) * img.h.blockSize
			off = min(size-1, max(0, b-1-rng.Int64N(3000)))
		}
		p := make([]byte, min(size-off, 1+rng.Int64N(1<<20)))
		n, err := img.ReadAt(p, off)
		if n != len(p) || (err != nil && !(err == io.EOF && off+int64(n) == size)) {
			t.Fatalf("ReadAt(%d at %#x) = %d, %v", len(p), off, n, err)
		}
		if !bytes.Equal(p, want[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d at %#x) differs from qemu-img", len(p), off)
		}
	}
	if n, err := img.ReadAt(make([]byte, 10), size); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the size = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := img.ReadAt(make([]byte, 10), size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 4, io.EOF", n, err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
