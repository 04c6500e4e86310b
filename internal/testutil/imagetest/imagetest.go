// Package imagetest holds the test helpers the image format packages
// (image/qcow2, image/vmdk, image/vhd, image/vhdx, image/vdi) share: a
// deterministic source disk to convert with qemu-img, the oracles (qemu-img
// convert -O raw, qemu-img map, libyal's libvhdi) and the checks of a
// reader against them (full, random, concurrent and end-of-disk reads;
// allocation extents against qemu-img map and against the bytes). It is
// for tests only: no non-test code may import it.
package imagetest

import (
	"bytes"
	"encoding/json"
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

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// Source says what MakeSource writes.
type Source struct {
	MaxRun int64  // longest run of one kind, bytes
	Label  string // named in the text pattern: "virt-bmap LABEL test pattern at 0x…"
	Holes  int    // weight of unwritten holes against the other three kinds (1 each); 0 means 1
}

// MakeSource writes a deterministic raw disk of size bytes to path: runs
// of 1 to s.MaxRun bytes of pseudo-random bytes (incompressible), written
// zeros, unwritten holes (the file is sparse) and a text pattern
// (compressible) naming s.Label and the offset, in runs that do not line
// up with any cluster, grain or block size.
func MakeSource(t testing.TB, path string, size int64, seed uint64, s Source) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	holes := max(s.Holes, 1)
	rng := rand.New(rand.NewPCG(seed, 7))
	for off := int64(0); off < size; {
		n := min(size-off, 1+rng.Int64N(s.MaxRun))
		var b []byte
		switch k := rng.IntN(3 + holes); {
		case k == 0:
			b = make([]byte, n+8)
			for i := 0; i+8 <= len(b); i += 8 {
				putUint64(b[i:], rng.Uint64())
			}
			b = b[:n]
		case k == 1:
			b = make([]byte, n)
		case k == 2:
			pat := fmt.Sprintf("virt-bmap %s test pattern at %#x; ", s.Label, off)
			b = bytes.Repeat([]byte(pat), int(n)/len(pat)+1)[:n]
		default: // hole: left unwritten
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

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// QemuImg runs qemu-img (skipping the test when it is missing) and returns
// its output; a failure fails the test.
func QemuImg(t testing.TB, args ...string) string {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	return testutil.Run(t, "", "qemu-img", args...)
}

// QemuIO runs qemu-io on the image at path, read as format, with the given
// -c commands (writes, to make test images); an error fails the test.
func QemuIO(t testing.TB, format, path string, cmds ...string) {
	t.Helper()
	testutil.NeedTools(t, "qemu-io")
	args := []string{"-f", format}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("qemu-io", append(args, path)...).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error")) || bytes.Contains(out, []byte("failed")) {
		t.Fatalf("qemu-io %s %v: %v\n%s", path, cmds, err, out)
	}
}

// QemuRaw converts the image at path, read as format, to raw with qemu-img
// and returns the bytes: the oracle.
func QemuRaw(t testing.TB, path, format string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".qemu.raw")
	QemuImg(t, "convert", "-U", "-f", format, "-O", "raw", path, out)
	return MustRead(t, out)
}

// QemuExtent is one entry of qemu-img map --output=json.
type QemuExtent struct {
	Start  int64  `json:"start"`
	Length int64  `json:"length"`
	Data   bool   `json:"data"`
	Zero   bool   `json:"zero"`
	Offset *int64 `json:"offset"` // where the bytes sit verbatim in the file, if they do
	Depth  int    `json:"depth"`  // 0: this image; 1...: its backing chain
}

// QemuMap is qemu-img map --output=json of the image at path.
func QemuMap(t testing.TB, path, format string) []QemuExtent {
	t.Helper()
	out := QemuImg(t, "map", "-U", "-f", format, "--output=json", path)
	var m []QemuExtent
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("qemu-img map %s: %v\n%s", path, err, out)
	}
	return m
}

// AllExtents walks m's Extents over [0, size), checking that they are
// consecutive and not empty, and returns them merged.
func AllExtents(t testing.TB, m alloc.Mapper, size int64) []alloc.Extent {
	t.Helper()
	var all []alloc.Extent
	for off := int64(0); off < size; {
		exts, err := m.Extents(off, size-off)
		if err != nil {
			t.Fatalf("Extents(%#x): %v", off, err)
		}
		if len(exts) == 0 || exts[0].Off != off {
			t.Fatalf("Extents(%#x) = %v: does not start at the offset asked", off, exts)
		}
		for _, e := range exts {
			if e.Off != off || e.Len <= 0 || e.End() > size {
				t.Fatalf("Extents: extent %+v not contiguous at %#x (size %d)", e, off, size)
			}
			all = alloc.Append(all, e)
			off = e.End()
		}
	}
	return all
}

// CheckMapData compares our extents with qemu's map: where qemu says data,
// we say data; where qemu says not data, we say hole or zeros (or, with
// exact false, anything: qemu sees a sparse file's holes through a fixed
// disk where we report the file's bytes as data).
func CheckMapData(t *testing.T, ours []alloc.Extent, qemu []QemuExtent, exact bool) {
	t.Helper()
	i := 0
	for _, q := range qemu {
		for at := q.Start; at < q.Start+q.Length; {
			for i < len(ours) && ours[i].End() <= at {
				i++
			}
			if i == len(ours) {
				t.Fatalf("our extents end before %#x", at)
			}
			e := ours[i]
			data := !e.Hole && !e.Zero
			if q.Data && !data {
				t.Fatalf("qemu-img map says data at %#x (%+v), we say %+v", at, q, e)
			}
			if exact && !q.Data && data {
				t.Fatalf("qemu-img map says no data at %#x (%+v), we say data %+v", at, q, e)
			}
			at = min(e.End(), q.Start+q.Length)
		}
	}
}

// CheckMapExact compares our extents with qemu's map sector by sector:
// qemu's data is our !Hole, its zero our Zero, exactly.
func CheckMapExact(t *testing.T, ours []alloc.Extent, qemu []QemuExtent, size int64) {
	t.Helper()
	type state struct{ data, zero bool }
	secs := size / 512
	q := make([]state, secs)
	o := make([]state, secs)
	for _, e := range qemu {
		for s := e.Start / 512; s < (e.Start+e.Length)/512 && s < secs; s++ {
			q[s] = state{e.Data, e.Zero}
		}
	}
	for _, e := range ours {
		for s := e.Off / 512; s < e.End()/512 && s < secs; s++ {
			o[s] = state{!e.Hole, e.Zero}
		}
	}
	bad := 0
	for s := range q {
		if q[s] != o[s] {
			if bad < 5 {
				t.Errorf("sector %d (offset %#x): qemu-img map says data=%v zero=%v, we say data=%v zero=%v",
					s, s*512, q[s].data, q[s].zero, o[s].data, o[s].zero)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d sectors differ from qemu-img map", bad)
	}
}

// CheckZeros checks extents against the oracle's bytes: what we call a
// hole or zeros reads as zeros there.
func CheckZeros(t *testing.T, exts []alloc.Extent, want []byte) {
	t.Helper()
	for _, e := range exts {
		if !e.Hole && !e.Zero {
			continue
		}
		if e.End() > int64(len(want)) {
			t.Fatalf("extent %+v ends past the oracle's %d bytes", e, len(want))
		}
		if i := bytes.IndexFunc(want[e.Off:e.End()], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("extent %+v is a hole or zeros, but the oracle reads non-zero bytes at %#x", e, e.Off+int64(i))
		}
	}
}

// Reader is what the checks read: an image's bytes and its size.
type Reader interface {
	io.ReaderAt
	Size() int64
}

// Reads says how CheckRead's random reads are drawn.
type Reads struct {
	Unit       int64 // the format's allocation unit (cluster, grain, block): reads straddle and cover it
	N          int   // reads per goroutine
	Goroutines int   // goroutines reading at once
	Max        int64 // longest read
}

// CheckRead compares everything r gives with want (the oracle's bytes):
// the size, a full read, random reads from concurrent goroutines
// (anywhere, across a Unit boundary, across a 512-byte boundary, whole
// units), reads that reach or pass the end, and a read at -1.
func CheckRead(t *testing.T, r Reader, want []byte, o Reads) {
	t.Helper()
	size := int64(len(want))
	if r.Size() != size {
		t.Fatalf("Size() = %d, the oracle gives %d bytes", r.Size(), size)
	}
	got := make([]byte, size)
	if n, err := r.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("full read: %d bytes, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("full read differs from the oracle at byte %#x", FirstDiff(got, want))
	}
	if size > 0 {
		RandomReads(t, r, want, o)
	}
	EOFReads(t, r, want)
}

// RandomReads does o.N random reads in each of o.Goroutines goroutines
// and compares them with want.
func RandomReads(t *testing.T, r io.ReaderAt, want []byte, o Reads) {
	t.Helper()
	size := int64(len(want))
	unit := max(o.Unit, 512)
	if o.Max <= 0 {
		o.Max = 256 << 10
	}
	var wg sync.WaitGroup
	errs := make(chan error, o.Goroutines)
	for w := range o.Goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(size)))
			buf := make([]byte, o.Max)
			for range o.N {
				var off, ln int64
				switch rng.IntN(4) {
				case 0: // anywhere, any length
					off, ln = rng.Int64N(size), 1+rng.Int64N(o.Max)
				case 1: // across a unit boundary
					b := rng.Int64N(size/unit+1) * unit
					off, ln = max(0, b-1-rng.Int64N(600)), 2+rng.Int64N(1200)
				case 2: // across a sector boundary
					off = max(0, rng.Int64N(size)&^511-rng.Int64N(3))
					ln = 1 + rng.Int64N(1500)
				case 3: // whole units
					off, ln = rng.Int64N(size/unit+1)*unit, unit*(1+rng.Int64N(2))
				}
				off = min(off, size-1)
				ln = min(ln, size-off, o.Max)
				p := buf[:ln]
				m, err := r.ReadAt(p, off)
				if m != len(p) || (err != nil && !(err == io.EOF && off+ln == size)) {
					errs <- fmt.Errorf("ReadAt(%d bytes at %#x) = %d, %v", ln, off, m, err)
					return
				}
				if !bytes.Equal(p, want[off:off+ln]) {
					errs <- fmt.Errorf("ReadAt(%d bytes at %#x) differs from the oracle at %#x", ln, off, off+int64(FirstDiff(p, want[off:off+ln])))
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

// EOFReads checks reads that reach or pass the end of r, and a read at a
// negative offset.
func EOFReads(t *testing.T, r io.ReaderAt, want []byte) {
	t.Helper()
	size := int64(len(want))
	buf := make([]byte, 4096)
	for _, back := range []int64{1, 100, 512, 4096} {
		off := max(0, size-back)
		n, err := r.ReadAt(buf, off)
		if int64(n) != size-off || (int64(len(buf)) > size-off && err != io.EOF) {
			t.Errorf("ReadAt(4096 at size-%d) = %d, %v; want %d, io.EOF", back, n, err, size-off)
		}
		if !bytes.Equal(buf[:n], want[off:]) {
			t.Errorf("ReadAt(4096 at size-%d) differs from the oracle", back)
		}
	}
	for _, off := range []int64{size, size + 1, size + 1<<40} {
		if n, err := r.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at %d (size %d) = %d, %v; want 0, io.EOF", off, size, n, err)
		}
	}
	if _, err := r.ReadAt(buf, -1); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at -1: %v, want an error", err)
	}
}

// FirstDiff is the index of the first byte where a and b differ (the
// shorter length when one is a prefix of the other).
func FirstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// MustRead reads a whole file or fails the test.
func MustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// LibvhdiRead returns the bytes libvhdi reads from the VHD or VHDX at path
// over parent ("" for none), or skips the test when pyvhdi is not
// installed.
func LibvhdiRead(t testing.TB, path, parent string) []byte {
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
	return MustRead(t, out)
}

// Cmp compares the file at path with want using cmp(1), an oracle of its
// own for full reads written to a file.
func Cmp(t testing.TB, path string, got []byte) {
	t.Helper()
	ours := filepath.Join(t.TempDir(), "ours.raw")
	if err := os.WriteFile(ours, got, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cmp", path, ours).CombinedOutput(); err != nil {
		t.Fatalf("cmp %s with our full read: %v\n%s", path, err, strings.TrimSpace(string(out)))
	}
}
