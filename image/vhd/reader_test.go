package vhd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// srcSize is not a multiple of any CHS geometry qemu picks, nor of a
// block: the geometry rule shows in the sizes.
const srcSize = 6<<20 + 3*512 + 7*4096

// TestQemuImages reads VHDs qemu-img made from one raw disk, fixed and
// dynamic, sized by geometry and by force_size, and compares every byte
// with qemu-img convert -O raw of the same file and the allocation with
// qemu-img map.
func TestQemuImages(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, srcSize, 1)
	for _, c := range []struct {
		name, opts string
		typ        int
		app        string
	}{
		{"dynamic", "subformat=dynamic", TypeDynamic, "qemu"},
		{"dynamic-force-size", "subformat=dynamic,force_size=on", TypeDynamic, "qem2"},
		{"fixed", "subformat=fixed", TypeFixed, "qemu"},
		{"fixed-force-size", "subformat=fixed,force_size=on", TypeFixed, "qem2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vhd")
			imagetest.QemuImg(t, "convert", "-O", "vpc", "-o", c.opts, src, p)
			want := imagetest.QemuRaw(t, p, "vpc")
			d, err := openPath(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info := d.Info()
			if info.Type != c.typ || info.CreatorApp != c.app {
				t.Fatalf("type %d creator %q, want %d %q", info.Type, info.CreatorApp, c.typ, c.app)
			}
			if c.app == "qem2" && info.Size != srcSize {
				t.Errorf("force_size image is %d bytes, want %d", info.Size, srcSize)
			}
			checkRead(t, d, want)
			imagetest.CheckMapData(t, imagetest.AllExtents(t, d, d.Size()), imagetest.QemuMap(t, p, "vpc"), c.typ != TypeFixed)
		})
	}
}

// TestBlockSizes: qemu's dynamic VHDs have 2 MiB blocks; write
// other sizes by hand? No: the block size comes from the file, and the
// corruption table covers bad ones. Here, qemu-io writes into an empty
// dynamic disk at odd offsets so blocks are allocated one by one, and the
// disk is compared with qemu-img again after each step.
func TestQemuIOWrites(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "w.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", p, "9M")
	for _, w := range []string{"write -P 0x5a 0 512", "write -P 0xa5 4607k 3k", "write -P 0x11 8M 700k"} {
		imagetest.QemuIO(t, "vpc", p, w)
		want := imagetest.QemuRaw(t, p, "vpc")
		d, err := openPath(t, p)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, d, want)
		imagetest.CheckMapData(t, imagetest.AllExtents(t, d, d.Size()), imagetest.QemuMap(t, p, "vpc"), true)
		d.Close()
	}
}

// vhdFile is a VHD's bytes with the offsets of its structures, for
// crafting differencing disks and corruptions from qemu's images.
type vhdFile struct {
	b        []byte
	hdrAt    int64
	batAt    int64
	bitmapSz int64
}

func loadVHD(t testing.TB, path string) *vhdFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := &vhdFile{b: b}
	f := b[len(b)-512:]
	v.hdrAt = int64(binary.BigEndian.Uint64(f[16:]))
	h := b[v.hdrAt:]
	v.batAt = int64(binary.BigEndian.Uint64(h[16:]))
	v.bitmapSz = (int64(binary.BigEndian.Uint32(h[32:]))/(8*512) + 511) &^ 511
	return v
}

// fix recomputes the footer checksums (both copies) and the header's.
func (v *vhdFile) fix() {
	for _, at := range []int{0, len(v.b) - 512} {
		f := v.b[at : at+512]
		binary.BigEndian.PutUint32(f[64:], vhdChecksum(f, 64))
	}
	h := v.b[v.hdrAt : v.hdrAt+1024]
	binary.BigEndian.PutUint32(h[36:], vhdChecksum(h, 36))
}

func (v *vhdFile) setFooter(fn func(f []byte)) {
	fn(v.b[:512])
	fn(v.b[len(v.b)-512:])
}

func (v *vhdFile) header() []byte { return v.b[v.hdrAt : v.hdrAt+1024] }

func (v *vhdFile) batEntry(i int) uint32 {
	return binary.BigEndian.Uint32(v.b[v.batAt+4*int64(i):])
}

// addLocator stores name (UTF-16LE, or UTF-8 for MacX) before the footer
// and points locator slot i at it.
func (v *vhdFile) addLocator(i int, code, name string) {
	var data []byte
	if code == "MacX" {
		data = []byte(name)
	} else {
		for _, u := range utf16.Encode([]rune(name)) {
			data = binary.LittleEndian.AppendUint16(data, u)
		}
	}
	space := (len(data) + 511) &^ 511
	foot := append([]byte(nil), v.b[len(v.b)-512:]...)
	at := len(v.b) - 512
	v.b = append(v.b[:at], make([]byte, space)...)
	copy(v.b[at:], data)
	v.b = append(v.b, foot...)
	e := v.header()[576+24*i:]
	copy(e, code)
	binary.BigEndian.PutUint32(e[4:], uint32(space))
	binary.BigEndian.PutUint32(e[8:], uint32(len(data)))
	binary.BigEndian.PutUint64(e[16:], uint64(at))
}

// makeDifferencing turns the dynamic disk at child into a differencing
// disk of the VHD at parent, named by the locators (code -> name), and
// writes it back. qemu cannot make differencing VHDs (qemu-img create -f
// vpc -b says "Backing file not supported for file format 'vpc'"), so
// the test crafts them, from qemu's images, as the specification lays
// them out.
func makeDifferencing(t testing.TB, child, parent string, locs [][2]string) *vhdFile {
	t.Helper()
	pb, err := os.ReadFile(parent)
	if err != nil {
		t.Fatal(err)
	}
	v := loadVHD(t, child)
	v.setFooter(func(f []byte) { binary.BigEndian.PutUint32(f[60:], TypeDifferencing) })
	h := v.header()
	copy(h[40:56], pb[len(pb)-512+68:len(pb)-512+84])
	for i, l := range locs {
		v.addLocator(i, l[0], l[1])
	}
	v.fix()
	if err := os.WriteFile(child, v.b, 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDifferencing reads a differencing disk over a parent qemu made: the
// child's written sectors from the child, the rest from the parent,
// including sectors whose bitmap bits the test clears in an allocated
// block. The expected bytes are put together from qemu-img's reads of
// the parent and of the child (as the dynamic disk it was, which qemu
// reads whole blocks of), and qemu-img map of the child.
func TestDifferencing(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, srcSize, 2)
	base := filepath.Join(dir, "base.vhd")
	imagetest.QemuImg(t, "convert", "-O", "vpc", src, base)
	baseRaw := imagetest.QemuRaw(t, base, "vpc")
	child := filepath.Join(dir, "child.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", child, strconv.Itoa(len(baseRaw)))
	imagetest.QemuIO(t, "vpc", child, "write -P 0x5a 4096 8192", "write -P 0x33 3M 1M", "write -P 0x77 6M 20k")
	childRaw := imagetest.QemuRaw(t, child, "vpc")
	childMap := imagetest.QemuMap(t, child, "vpc")
	if len(childRaw) != len(baseRaw) {
		t.Fatalf("child %d bytes, parent %d: the test wants the same geometry", len(childRaw), len(baseRaw))
	}
	v := makeDifferencing(t, child, base, [][2]string{{"W2ru", `.\base.vhd`}, {"W2ku", `C:\nowhere\base.vhd`}})
	// Clear the bits of sectors 8..15 of block 0: they come from the parent.
	bm := int64(v.batEntry(0)) * 512
	v.b[bm+1] = 0
	v.fix()
	os.WriteFile(child, v.b, 0o644)

	want := append([]byte(nil), baseRaw...)
	for _, e := range childMap {
		if e.Data {
			copy(want[e.Start:e.Start+e.Length], childRaw[e.Start:])
		}
	}
	copy(want[8*512:16*512], baseRaw[8*512:])
	d, err := openPath(t, child)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Info().Type != TypeDifferencing || d.Info().ParentPath != base {
		t.Fatalf("info %+v", d.Info())
	}
	checkRead(t, d, want)
	if lib := imagetest.LibvhdiRead(t, child, base); !bytes.Equal(lib, want) {
		t.Errorf("libvhdi reads the differencing disk differently (%d bytes, first difference at %#x)", len(lib), imagetest.FirstDiff(lib, want))
	}
	// The allocation: the child's data, the parent's elsewhere (the test
	// opener's parent is a *Disk, an alloc.Mapper).
	exts := imagetest.AllExtents(t, d, d.Size())
	sectors := len(want) / 512
	wantData := make([]bool, sectors)
	mark := func(m []imagetest.QemuExtent, keep func(s int) bool) {
		for _, e := range m {
			for s := e.Start / 512; s < (e.Start+e.Length)/512; s++ {
				if keep(int(s)) {
					wantData[s] = e.Data
				}
			}
		}
	}
	childData := make([]bool, sectors)
	for _, e := range childMap {
		for s := e.Start / 512; s < (e.Start+e.Length)/512; s++ {
			childData[s] = e.Data
		}
	}
	mark(imagetest.QemuMap(t, base, "vpc"), func(s int) bool { return !childData[s] || (s >= 8 && s < 16) })
	mark(childMap, func(s int) bool { return childData[s] && !(s >= 8 && s < 16) })
	for _, e := range exts {
		for s := e.Off / 512; s < e.End()/512; s++ {
			if got := !e.Hole && !e.Zero; got != wantData[s] {
				t.Fatalf("sector %d: data %v, the qemu maps of child and parent give %v", s, got, wantData[s])
			}
		}
	}
}

// TestParentPolicy: locators naming a file outside the image's
// directory (absolute, or with ..) are refused with chain.ErrOutside, and
// allowed when the user names the file; a parent whose UUID differs is
// refused; a disk that is its own parent is a loop.
func TestParentPolicy(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	root := t.TempDir()
	dir := filepath.Join(root, "images")
	os.Mkdir(dir, 0o755)
	outside := filepath.Join(root, "x.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", outside, "1M")
	mk := func(name string, parent string, locs [][2]string) string {
		p := filepath.Join(dir, name)
		imagetest.QemuImg(t, "create", "-f", "vpc", p, "1M")
		imagetest.QemuIO(t, "vpc", p, "write -P 1 0 512")
		makeDifferencing(t, p, parent, locs)
		return p
	}
	cases := []struct {
		name string
		locs [][2]string
		want error
	}{
		{"hostname", [][2]string{{"W2ku", `C:\etc\hostname`}}, chain.ErrOutside},
		{"dotdot", [][2]string{{"W2ru", `..\x.vhd`}}, chain.ErrOutside},
		{"macx", [][2]string{{"MacX", "file://localhost/etc/hostname"}}, chain.ErrOutside},
		{"unc", [][2]string{{"W2ku", `\\?\C:\etc\passwd`}}, chain.ErrOutside},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mk(c.name+".vhd", outside, c.locs)
			_, err := openPath(t, p)
			if !errors.Is(err, c.want) {
				t.Fatalf("open: %v, want %v", err, c.want)
			}
			if strings.Contains(c.name, "dotdot") {
				o := &testOpener{Policy: chain.Policy{Allow: []string{outside}}}
				d, err := o.Open(p)
				if err != nil {
					t.Fatalf("with the parent allowed: %v", err)
				}
				d.Close()
			}
		})
	}
	t.Run("uuid", func(t *testing.T) {
		other := filepath.Join(dir, "other.vhd")
		imagetest.QemuImg(t, "create", "-f", "vpc", other, "1M")
		p := mk("uuid.vhd", outside, [][2]string{{"W2ru", "other.vhd"}})
		if _, err := openPath(t, p); !errors.Is(err, ErrParentMismatch) {
			t.Fatalf("open: %v, want ErrParentMismatch", err)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		p := filepath.Join(dir, "self.vhd")
		imagetest.QemuImg(t, "create", "-f", "vpc", p, "1M")
		makeDifferencing(t, p, p, [][2]string{{"W2ru", "self.vhd"}})
		// The UUID was copied from the file before it changed: its own.
		if _, err := openPath(t, p); !errors.Is(err, chain.ErrLoop) {
			t.Fatalf("open: %v, want ErrLoop", err)
		}
	})
}

// TestNewRefusesParentWithoutOpener: New with no opener says why.
func TestNewRefusesParentWithoutOpener(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", base, "1M")
	child := filepath.Join(dir, "child.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", child, "1M")
	v := makeDifferencing(t, child, base, [][2]string{{"W2ru", "base.vhd"}})
	if _, err := New(bytes.NewReader(v.b), int64(len(v.b)), Config{}); err == nil || !strings.Contains(err.Error(), "no opener") {
		t.Fatalf("New: %v", err)
	}
}
