package vhdx

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// makeSource writes a deterministic raw disk of size bytes to path: runs
// of pseudo-random bytes, written zeros, unwritten holes (sparse) and a
// text pattern, in chunks that do not line up with any block size.
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
	rng := rand.New(rand.NewPCG(seed, 2))
	for off := int64(0); off < size; {
		n := min(size-off, 1+rng.Int64N(700<<10))
		var b []byte
		switch rng.IntN(4) {
		case 0:
			b = make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case 1:
			b = make([]byte, n)
		case 2: // hole
		case 3:
			pat := fmt.Sprintf("virt-bmap vhdx test pattern at %#x; ", off)
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

// qemuRaw converts the image at path to raw with qemu-img and returns the
// bytes: the oracle.
func qemuRaw(t testing.TB, path, format string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "oracle.raw")
	testutil.Run(t, "", "qemu-img", "convert", "-f", format, "-O", "raw", path, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allExtents collects the extents of [0, size) from m.
func allExtents(t testing.TB, m alloc.Mapper, size int64) []alloc.Extent {
	t.Helper()
	var all []alloc.Extent
	for off := int64(0); off < size; {
		exts, err := m.Extents(off, size-off)
		if err != nil {
			t.Fatal(err)
		}
		if len(exts) == 0 || exts[0].Off != off {
			t.Fatalf("Extents(%#x) = %v: does not start at the offset", off, exts)
		}
		for _, e := range exts {
			if e.Len <= 0 {
				t.Fatalf("empty extent %v", e)
			}
			all = alloc.Append(all, e)
		}
		off = exts[len(exts)-1].End()
	}
	return all
}

// checkRead compares a full read and random reads from several goroutines
// with want, and the size.
func checkRead(t *testing.T, r interface {
	io.ReaderAt
	Size() int64
}, want []byte) {
	t.Helper()
	if r.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, qemu-img gives %d bytes", r.Size(), len(want))
	}
	got := make([]byte, len(want))
	if n, err := r.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("full read: %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("full read differs from qemu-img at %#x", firstDiff(got, want))
	}
	size := int64(len(want))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			buf := make([]byte, 1<<20)
			for range 60 {
				off := rng.Int64N(size)
				n := min(size-off, 1+rng.Int64N(256<<10))
				if rng.IntN(2) == 0 { // around a 512-byte boundary
					off = max(0, off&^511-rng.Int64N(3))
					n = min(size-off, 1+rng.Int64N(1500))
				}
				m, err := r.ReadAt(buf[:n], off)
				if int64(m) != n || (err != nil && !(err == io.EOF && off+n == size)) {
					errs <- fmt.Errorf("ReadAt(%d at %#x) = %d, %v", n, off, m, err)
					return
				}
				if !bytes.Equal(buf[:n], want[off:off+n]) {
					errs <- fmt.Errorf("ReadAt(%d at %#x) differs at %#x", n, off, off+int64(firstDiff(buf[:n], want[off:off+n])))
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
	if n, err := r.ReadAt(make([]byte, 10), size); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, EOF", n, err)
	}
	if _, err := r.ReadAt(make([]byte, 10), -1); err == nil {
		t.Error("read at -1: no error")
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

// testOpener is image's chain.Opener in small, for the package's own
// tests (which cannot import image): the chain policy, the loop tracker,
// and every image opened as a VHD.
type testOpener struct {
	policy  chain.Policy
	tracker chain.Tracker
	warn    func(string)
}

func (o *testOpener) OpenFile(from, name string) (chain.File, string, error) {
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	f, err := chain.OpenFile(path)
	return f, path, err
}

func (o *testOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	img, err := o.open(path)
	return img, path, err
}

// fileDisk is a Disk that closes its file.
type fileDisk struct {
	*Disk
	f chain.File
}

func (d *fileDisk) Close() error { d.Disk.Close(); return d.f.Close() }

func (o *testOpener) open(path string) (*fileDisk, error) {
	if err := o.tracker.Enter(path); err != nil {
		return nil, err
	}
	f, err := chain.OpenFile(path)
	if err != nil {
		return nil, err
	}
	d, err := New(f, f.Size(), Config{Path: path, Open: o, Warn: o.warn})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileDisk{d, f}, nil
}

// openPath opens the VHD at path with a fresh test opener.
func openPath(t testing.TB, path string) (*fileDisk, error) {
	t.Helper()
	o := &testOpener{warn: func(m string) { t.Log("warning:", m) }}
	return o.open(path)
}

func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	testutil.Run(t, "", "qemu-img", args...)
}

func qemuIO(t testing.TB, format, path string, cmds ...string) {
	t.Helper()
	args := []string{"-f", format}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	cmd := exec.Command("qemu-io", append(args, path)...)
	if out, err := cmd.CombinedOutput(); err != nil || bytes.Contains(out, []byte("error")) || bytes.Contains(out, []byte("failed")) {
		t.Fatalf("qemu-io %v: %v\n%s", cmds, err, out)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkHolesZero checks extents against the oracle's bytes: what we call
// a hole or zeros reads as zeros.
func checkHolesZero(t *testing.T, exts []alloc.Extent, want []byte) {
	t.Helper()
	for _, e := range exts {
		if !e.Hole && !e.Zero {
			continue
		}
		if i := bytes.IndexFunc(want[e.Off:e.End()], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("extent %+v is a hole or zeros, but qemu reads non-zero bytes at %#x", e, e.Off+int64(i))
		}
	}
}

// libvhdiScript reads a VHD or VHDX (with its parent, when named) through
// libyal's libvhdi (Debian python3-libvhdi) and writes its bytes to a
// file: a second reader, independent of qemu, that reads differencing
// disks (qemu does not) and their sector bitmaps.
const libvhdiScript = `
import sys, pyvhdi
def op(p):
    f = pyvhdi.file()
    f.open(p)
    return f
c = op(sys.argv[1])
if len(sys.argv) > 3:
    parent = op(sys.argv[3])  # kept referenced: libvhdi reads through it
    c.set_parent(parent)
size = c.get_media_size()
with open(sys.argv[2], 'wb') as out:
    off = 0
    while off < size:
        n = min(1 << 20, size - off)
        out.write(c.read_buffer_at_offset(n, off))
        off += n
`

// libvhdiRead returns the bytes libvhdi reads from path over parent (""
// for none), or skips the test when pyvhdi is not installed.
func libvhdiRead(t testing.TB, path, parent string) []byte {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "import pyvhdi").Run() != nil {
		t.Skip("pyvhdi not installed (Debian package python3-libvhdi)")
	}
	out := filepath.Join(t.TempDir(), "libvhdi.raw")
	args := []string{"-c", libvhdiScript, path, out}
	if parent != "" {
		args = append(args, parent)
	}
	testutil.Run(t, "", "/usr/bin/python3", args...)
	return mustRead(t, out)
}
