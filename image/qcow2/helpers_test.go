package qcow2

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// makeSource writes a deterministic raw disk of size bytes to path: runs of
// pseudo-random bytes (incompressible), zeros, unwritten holes (sparse)
// and repeating patterns (compressible), in chunks whose sizes do not
// line up with any cluster size.
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
	rng := rand.New(rand.NewPCG(seed, 1))
	for off := int64(0); off < size; {
		n := min(size-off, 1+rng.Int64N(300<<10))
		var b []byte
		switch rng.IntN(4) {
		case 0: // random
			b = make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case 1: // written zeros
			b = make([]byte, n)
		case 2: // hole: leave it unwritten
		case 3: // pattern
			pat := fmt.Sprintf("virt-bmap qcow2 test pattern at %#x; ", off)
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

// qemuImg runs qemu-img with args and fails the test on error.
func qemuImg(t testing.TB, args ...string) string {
	t.Helper()
	return testutil.Run(t, "", "qemu-img", args...)
}

// qemuIO runs qemu-io on a qcow2 image with the given -c commands.
func qemuIO(t testing.TB, path string, cmds ...string) {
	t.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out := testutil.Run(t, "", "qemu-io", append(args, path)...)
	if strings.Contains(out, "error") || strings.Contains(out, "failed") {
		t.Fatalf("qemu-io %s: %s", path, out)
	}
}

// checkImage compares everything img gives with want (the oracle's raw
// image): the size, a full read written to a file and compared with cmp
// against rawPath, and many random reads, some from concurrent
// goroutines, across cluster and subcluster boundaries and at the end.
func checkImage(t *testing.T, img *Image, want []byte, rawPath string) {
	t.Helper()
	if img.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, qemu-img gives %d bytes", img.Size(), len(want))
	}
	got := make([]byte, img.Size())
	if n, err := img.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("full read: %d bytes, %v", n, err)
	}
	if rawPath != "" {
		ours := filepath.Join(t.TempDir(), "ours.raw")
		if err := os.WriteFile(ours, got, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cmp", rawPath, ours).CombinedOutput(); err != nil {
			t.Fatalf("cmp qemu-img's raw with our full read: %v\n%s", err, out)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("full read differs from qemu-img at byte %#x", firstDiff(got, want))
	}
	randomReads(t, img, want, 400, 4)
	eofReads(t, img, want)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// randomReads does n random reads in each of g goroutines and compares
// them with want.
func randomReads(t *testing.T, img *Image, want []byte, n, g int) {
	t.Helper()
	size := int64(len(want))
	cs := img.Info().ClusterSize
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for w := range g {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(size)))
			buf := make([]byte, 0, 1<<20)
			for range n {
				var off, ln int64
				switch rng.IntN(4) {
				case 0: // anywhere, any length
					off, ln = rng.Int64N(size), 1+rng.Int64N(256<<10)
				case 1: // straddling a cluster boundary
					b := rng.Int64N(size/cs+1) * cs
					off, ln = max(0, b-1-rng.Int64N(600)), 2+rng.Int64N(1200)
				case 2: // straddling a subcluster boundary (cs/32)
					sc := max(cs/32, 512)
					b := rng.Int64N(size/sc+1) * sc
					off, ln = max(0, b-1-rng.Int64N(100)), 2+rng.Int64N(3*sc)
				case 3: // several whole clusters
					off = rng.Int64N(size/cs+1) * cs
					ln = cs * (1 + rng.Int64N(8))
				}
				off = min(off, size-1)
				ln = min(ln, size-off, int64(cap(buf)))
				p := buf[:ln]
				m, err := img.ReadAt(p, off)
				if m != len(p) || (err != nil && !(err == io.EOF && off+ln == size)) {
					errs <- fmt.Errorf("ReadAt(%d bytes at %#x) = %d, %v", ln, off, m, err)
					return
				}
				if !bytes.Equal(p, want[off:off+ln]) {
					errs <- fmt.Errorf("ReadAt(%d bytes at %#x) differs from qemu-img at %#x", ln, off, off+int64(firstDiff(p, want[off:off+ln])))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// eofReads checks reads that reach or pass the virtual size.
func eofReads(t *testing.T, img *Image, want []byte) {
	t.Helper()
	size := int64(len(want))
	buf := make([]byte, 4096)
	for _, back := range []int64{1, 100, 512, 4096} {
		off := max(0, size-back)
		n, err := img.ReadAt(buf, off)
		if int64(n) != size-off || (int64(len(buf)) > size-off && err != io.EOF) {
			t.Errorf("ReadAt(4096 at size-%d) = %d, %v; want %d, io.EOF", back, n, err, size-off)
		}
		if !bytes.Equal(buf[:n], want[off:]) {
			t.Errorf("ReadAt(4096 at size-%d) differs from qemu-img", back)
		}
	}
	for _, off := range []int64{size, size + 1, size + 1<<40} {
		if n, err := img.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at %d (size %d) = %d, %v; want 0, io.EOF", off, size, n, err)
		}
	}
	if _, err := img.ReadAt(buf, -1); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at -1: %v, want an error", err)
	}
}

// fileStamp is what a test input looks like from outside: content hash,
// size and modification time.
type fileStamp struct {
	sum   [32]byte
	size  int64
	mtime int64
}

func stamp(t testing.TB, path string) fileStamp {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileStamp{sha256.Sum256(b), st.Size(), st.ModTime().UnixNano()}
}

// runIn runs a tool in directory dir and fails the test on error.
func runIn(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// memOpener is a chain.Opener that serves every name from memory, as a
// raw file: open records each call as "name|format" (format "data-file"
// for OpenFile).
type memOpener struct {
	data  []byte
	asked []string
}

type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

func (o *memOpener) OpenFile(from, name string) (chain.File, string, error) {
	o.asked = append(o.asked, name+"|data-file")
	return memFile{bytes.NewReader(o.data)}, name, nil
}

func (o *memOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	o.asked = append(o.asked, name+"|"+format)
	return memFile{bytes.NewReader(o.data)}, name, nil
}

// checkExtents walks img's allocation over the whole disk: the extents
// must be consecutive, cover it, and every extent said to read as zeros
// must be zeros in want (qemu-img's raw conversion).
func checkExtents(t *testing.T, img *Image, want []byte) {
	t.Helper()
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
				t.Fatalf("Extents: %+v at %#x", e, pos)
			}
			if e.Zero && !bytes.Equal(want[e.Off:e.End()], make([]byte, e.Len)) {
				t.Fatalf("extent %+v reads as zeros, qemu-img reads data there", e)
			}
			pos = e.End()
		}
	}
}
