package vmdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// makeSource writes a deterministic raw disk of size bytes to path: runs
// of pseudo-random bytes, written zeros, unwritten holes and a text
// pattern, in chunks that do not line up with the grain size.
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
		n := min(size-off, 1+rng.Int64N(200<<10))
		var b []byte
		switch rng.IntN(4) {
		case 0:
			b = make([]byte, n+8)
			for i := 0; i < len(b)-8; i += 8 {
				le.PutUint64(b[i:], rng.Uint64())
			}
			b = b[:n]
		case 1:
			b = make([]byte, n)
		case 2: // hole
		case 3:
			pat := fmt.Sprintf("virt-bmap vmdk test pattern at %#x; ", off)
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

func qemuImg(t testing.TB, args ...string) string {
	t.Helper()
	return testutil.Run(t, "", "qemu-img", args...)
}

// qemuIO runs qemu-io on a VMDK with the given -c commands.
func qemuIO(t testing.TB, path string, cmds ...string) {
	t.Helper()
	args := []string{"-f", "vmdk"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out := testutil.Run(t, "", "qemu-io", append(args, path)...)
	if strings.Contains(out, "error") || strings.Contains(out, "failed") {
		t.Fatalf("qemu-io %s: %s", path, out)
	}
}

// qemuRaw converts path with qemu-img to raw and returns the bytes.
func qemuRaw(t testing.TB, path string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "qemu.raw")
	qemuImg(t, "convert", "-f", "vmdk", "-O", "raw", path, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// qemuMap is one entry of qemu-img map --output=json.
type qemuMap struct {
	Start, Length int64
	Data, Zero    bool
}

func qemuMapOf(t testing.TB, path string) []qemuMap {
	t.Helper()
	var m []qemuMap
	if err := json.Unmarshal([]byte(qemuImg(t, "map", "-f", "vmdk", "--output=json", path)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// testOpener is image's chain.Opener in small: names go through
// chain.Policy, images through chain.Tracker, and an image is opened
// with New.
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
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}

func (o *testOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	d, err := o.open(path)
	if err != nil {
		return nil, "", err
	}
	return d, path, nil
}

// fileDisk is a Disk that closes its file.
type fileDisk struct {
	*Disk
	f chain.File
}

func (d *fileDisk) Close() error { return errors.Join(d.Disk.Close(), d.f.Close()) }

func (o *testOpener) open(path string) (*fileDisk, error) {
	if err := o.tracker.Enter(path); err != nil {
		return nil, err
	}
	f, err := chain.OpenFile(path)
	if err != nil {
		return nil, err
	}
	d, err := New(f, f.Size(), Config{Open: o, Path: path, Warn: o.warn, CacheBytes: 256 << 10})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileDisk{d, f}, nil
}

// openTest opens path as a VMDK with a fresh testOpener.
func openTest(t testing.TB, path string, allow ...string) (*fileDisk, error) {
	t.Helper()
	o := &testOpener{policy: chain.Policy{Allow: allow}, warn: func(s string) { t.Log("warning: " + s) }}
	return o.open(path)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkDisk compares everything d gives with want (qemu-img's raw): the
// size, a full read, random reads from concurrent goroutines, reads at
// the end.
func checkDisk(t *testing.T, d *Disk, want []byte) {
	t.Helper()
	if d.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, qemu-img gives %d bytes", d.Size(), len(want))
	}
	got := make([]byte, d.Size())
	if n, err := d.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("full read: %d bytes, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("full read differs from qemu-img at byte %#x", firstDiff(got, want))
	}
	randomReads(t, d, want, 50, 4)
	size := int64(len(want))
	buf := make([]byte, 4096)
	for _, back := range []int64{1, 100, 512, 4096} {
		off := max(0, size-back)
		n, err := d.ReadAt(buf, off)
		if int64(n) != size-off || (int64(len(buf)) > size-off && err != io.EOF) || !bytes.Equal(buf[:n], want[off:]) {
			t.Errorf("ReadAt(4096 at size-%d) = %d, %v", back, n, err)
		}
	}
	for _, off := range []int64{size, size + 1, size + 1<<40} {
		if n, err := d.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at %d (size %d) = %d, %v; want 0, io.EOF", off, size, n, err)
		}
	}
	if _, err := d.ReadAt(buf, -1); err == nil {
		t.Error("ReadAt at -1 did not fail")
	}
}

func randomReads(t *testing.T, d *Disk, want []byte, n, g int) {
	t.Helper()
	size := int64(len(want))
	const grain = 64 << 10
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for w := range g {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(size)))
			buf := make([]byte, 0, 160<<10)
			for range n {
				var off, ln int64
				switch rng.IntN(3) {
				case 0:
					off, ln = rng.Int64N(size), 1+rng.Int64N(160<<10)
				case 1: // straddling a grain boundary
					b := rng.Int64N(size/grain+1) * grain
					off, ln = max(0, b-1-rng.Int64N(600)), 2+rng.Int64N(1200)
				case 2: // whole grains
					off, ln = rng.Int64N(size/grain+1)*grain, grain*(1+rng.Int64N(2))
				}
				off = min(off, size-1)
				ln = min(ln, size-off, int64(cap(buf)))
				p := buf[:ln]
				m, err := d.ReadAt(p, off)
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

// allExtents walks Extents over the whole disk.
func allExtents(t testing.TB, m alloc.Mapper, size int64) []alloc.Extent {
	t.Helper()
	var out []alloc.Extent
	for off := int64(0); off < size; {
		exts, err := m.Extents(off, size-off)
		if err != nil {
			t.Fatalf("Extents(%#x): %v", off, err)
		}
		if len(exts) == 0 || exts[0].Off != off {
			t.Fatalf("Extents(%#x) = %v: does not start at the offset asked", off, exts)
		}
		for _, e := range exts {
			if e.Off != off || e.Len <= 0 {
				t.Fatalf("Extents: extent %+v not contiguous at %#x", e, off)
			}
			out = alloc.Append(out, e)
			off = e.End()
		}
	}
	return out
}

// checkMap compares our allocation with qemu-img map's, sector by sector:
// qemu's data is our !Hole, its zero our Zero.
func checkMap(t *testing.T, d *Disk, path string) {
	t.Helper()
	qm := qemuMapOf(t, path)
	ours := allExtents(t, d, d.Size())
	type state struct{ data, zero bool }
	secs := d.Size() / 512
	q := make([]state, secs)
	o := make([]state, secs)
	for _, e := range qm {
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
