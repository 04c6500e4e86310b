package vhdx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestDifferencing reads a differencing disk over a parent qemu made: a
// fully present block of the child, a partially present one (its sector
// bitmap says which sectors are the child's), and absent blocks that come
// from the parent. The expected bytes are put together from qemu-img's
// reads of the parent and of the child (as the dynamic disk it was).
func TestDifferencing(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, srcSize, 6)
	base := filepath.Join(dir, "base.vhdx")
	imagetest.QemuImg(t, "convert", "-O", "vhdx", "-o", "subformat=dynamic,block_size=1M", src, base)
	baseRaw := imagetest.QemuRaw(t, base, "vhdx")
	child := filepath.Join(dir, "child.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", child, strconv.Itoa(len(baseRaw)))
	imagetest.QemuIO(t, "vhdx", child, "write -P 0x5a 8192 4096", "write -P 0x33 2M 1M", "write -P 0x77 3M 20k")
	childRaw := imagetest.QemuRaw(t, child, "vhdx")

	v := loadVHDX(t, child)
	v.makeDifferencing(loadVHDX(t, base), [][2]string{{"relative_path", `.\base.vhdx`}, {"absolute_win32_path", `C:\nowhere\base.vhdx`}})
	// qemu-img create marks unwritten blocks ZERO (block_state_zero): in a
	// differencing disk they are NOT_PRESENT, read from the parent.
	for i := 0; i < len(baseRaw)>>20+1; i++ {
		if entryState(v.batEntry(i)) == stateZero {
			v.setBATEntry(i, stateNotPresent)
		}
	}
	// Block 0 becomes partially present: only sectors 16..23 are the child's.
	bmAt := (int64(len(v.b)) + mib - 1) &^ (mib - 1)
	v.b = append(v.b, make([]byte, bmAt+mib-int64(len(v.b)))...)
	v.b[bmAt+2] = 0xff
	cr := sectorsPerChunk * 512 / (1 << 20)
	v.setBATEntry(cr, uint64(bmAt)|bitmapPresent)
	v.setBATEntry(0, v.batEntry(0)&^7|statePartiallyPresent)
	v.write(t, child)

	want := append([]byte(nil), baseRaw...)
	copy(want[2<<20:4<<20], childRaw[2<<20:])
	copy(want[16*512:24*512], childRaw[16*512:])
	d, err := openPath(t, child)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Info().HasParent || d.Info().ParentPath != base {
		t.Fatalf("info %+v", d.Info())
	}
	checkRead(t, d, want)
	if lib := imagetest.LibvhdiRead(t, child, base); !bytes.Equal(lib, want) {
		t.Errorf("libvhdi reads the differencing disk differently (%d bytes, first difference at %#x)", len(lib), imagetest.FirstDiff(lib, want))
	}
	exts := imagetest.AllExtents(t, d, d.Size())
	imagetest.CheckZeros(t, exts, want)
	for _, e := range exts {
		if e.Off < 24*512 && e.End() > 16*512 && (e.Hole || e.Zero) {
			t.Fatalf("extent %+v: the child's sectors are not data", e)
		}
	}
}

// TestParentPolicy: locators naming files outside the image's directory
// are refused with chain.ErrOutside (and opened when the user allows
// them); a parent with another DataWriteGuid is refused; a disk that is
// its own parent is a loop.
func TestParentPolicy(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	root := t.TempDir()
	dir := filepath.Join(root, "images")
	os.Mkdir(dir, 0o755)
	outside := filepath.Join(root, "x.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", outside, "1M")
	mk := func(name, parent string, kv [][2]string) string {
		p := filepath.Join(dir, name)
		imagetest.QemuImg(t, "create", "-f", "vhdx", p, "1M")
		v := loadVHDX(t, p)
		v.makeDifferencing(loadVHDX(t, parent), kv)
		v.write(t, p)
		return p
	}
	for _, c := range []struct {
		name string
		kv   [][2]string
	}{
		{"hostname", [][2]string{{"absolute_win32_path", `C:\etc\hostname`}}},
		{"dotdot", [][2]string{{"relative_path", `..\x.vhdx`}}},
		{"unc", [][2]string{{"absolute_win32_path", `\\?\C:\etc\passwd`}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mk(c.name+".vhdx", outside, c.kv)
			if _, err := openPath(t, p); !errors.Is(err, chain.ErrOutside) {
				t.Fatalf("open: %v, want ErrOutside", err)
			}
			if c.name == "dotdot" {
				o := &testOpener{Policy: chain.Policy{Allow: []string{outside}}}
				d, err := o.Open(p)
				if err != nil {
					t.Fatalf("with the parent allowed: %v", err)
				}
				d.Close()
			}
		})
	}
	t.Run("linkage", func(t *testing.T) {
		other := filepath.Join(dir, "other.vhdx")
		imagetest.QemuImg(t, "create", "-f", "vhdx", other, "1M")
		p := mk("linkage.vhdx", outside, [][2]string{{"relative_path", "other.vhdx"}})
		if _, err := openPath(t, p); !errors.Is(err, ErrParentMismatch) {
			t.Fatalf("open: %v, want ErrParentMismatch", err)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		p := filepath.Join(dir, "self.vhdx")
		imagetest.QemuImg(t, "create", "-f", "vhdx", p, "1M")
		v := loadVHDX(t, p)
		v.makeDifferencing(v.clone(), [][2]string{{"relative_path", "self.vhdx"}})
		v.write(t, p)
		if _, err := openPath(t, p); !errors.Is(err, chain.ErrLoop) {
			t.Fatalf("open: %v, want ErrLoop", err)
		}
	})
}
