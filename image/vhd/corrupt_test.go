package vhd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestCorrupt damages a dynamic VHD qemu made, one structure at a time
// (checksums recomputed unless the damage is to a checksum), and checks
// the result: a clear error naming the structure, or, where a copy is
// left, a warning and the same bytes as the undamaged disk.
func TestCorrupt(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "d.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", p, "5M")
	imagetest.QemuIO(t, "vpc", p, "write -P 0x5a 0 64k", "write -P 0x77 3M 5k")
	good := loadVHD(t, p)
	want := imagetest.QemuRaw(t, p, "vpc")
	be := binary.BigEndian
	cases := []struct {
		name  string
		edit  func(v *vhdFile)
		nofix bool   // keep the checksums the edit broke
		err   string // "" : opens, reads as want, warns
	}{
		{"bat entry past EOF", func(v *vhdFile) { be.PutUint32(v.b[v.batAt:], 0x7fffff00) }, false, "past the end"},
		{"bat count overflow", func(v *vhdFile) { be.PutUint32(v.header()[28:], 0xffffffff) }, false, "do not fit"},
		{"bat too small", func(v *vhdFile) { be.PutUint32(v.header()[28:], 1) }, false, "do not cover"},
		{"bat offset past EOF", func(v *vhdFile) { be.PutUint64(v.header()[16:], 1<<62) }, false, "do not fit"},
		{"footer checksum at end", func(v *vhdFile) { v.b[len(v.b)-1] ^= 1 }, true, ""},
		{"footer truncated", func(v *vhdFile) { v.b = v.b[:len(v.b)-100] }, false, ""},
		{"footer checksums both", func(v *vhdFile) { v.b[len(v.b)-1] ^= 1; v.b[511] ^= 1 }, true, "checksum"},
		{"header checksum", func(v *vhdFile) { v.header()[1000] ^= 1 }, true, "checksum"},
		{"header cookie", func(v *vhdFile) { copy(v.header(), "cxspars!") }, false, "cxsparse"},
		{"header offset past EOF", func(v *vhdFile) {
			v.setFooter(func(f []byte) { be.PutUint64(f[16:], uint64(len(v.b))) })
		}, false, "not inside"},
		{"block size 0", func(v *vhdFile) { be.PutUint32(v.header()[32:], 0) }, false, "power of two"},
		{"block size not power of two", func(v *vhdFile) { be.PutUint32(v.header()[32:], 3<<20) }, false, "power of two"},
		{"unknown type", func(v *vhdFile) { v.setFooter(func(f []byte) { be.PutUint32(f[60:], 9) }) }, false, "unknown disk type"},
		{"over 2040 GiB", func(v *vhdFile) {
			v.setFooter(func(f []byte) { copy(f[28:], "qem2"); be.PutUint64(f[48:], 3<<40) })
		}, false, "2040 GiB"},
		{"huge size tiny file", func(v *vhdFile) {
			v.setFooter(func(f []byte) { copy(f[28:], "qem2"); be.PutUint64(f[48:], 2000<<30) })
		}, false, "do not cover"},
		{"locator past EOF", func(v *vhdFile) {
			v.setFooter(func(f []byte) { be.PutUint32(f[60:], TypeDifferencing) })
			e := v.header()[576:]
			copy(e, "W2ru")
			be.PutUint32(e[8:], 100)
			be.PutUint64(e[16:], uint64(len(v.b)))
		}, false, "do not lie in"},
		{"differencing without parent", func(v *vhdFile) {
			v.setFooter(func(f []byte) { be.PutUint32(f[60:], TypeDifferencing) })
		}, false, "names no parent"},
		{"all zeros", func(v *vhdFile) { clear(v.b) }, false, "conectix"},
		{"tiny", func(v *vhdFile) { v.b = v.b[:100] }, false, "too small"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &vhdFile{b: append([]byte(nil), good.b...), hdrAt: good.hdrAt, batAt: good.batAt, bitmapSz: good.bitmapSz}
			c.edit(v)
			if !c.nofix && len(v.b) >= 512 && v.hdrAt+1024 <= int64(len(v.b)) && c.name != "footer truncated" {
				v.fix()
			}
			var warned []string
			d, err := New(bytes.NewReader(v.b), int64(len(v.b)), Config{Warn: func(m string) { warned = append(warned, m) }})
			if c.err != "" {
				var fe *diskerr.FormatError
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &fe) {
					t.Fatalf("New: %v; want a FormatError with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warned) != 1 {
				t.Errorf("warnings %q, want one", warned)
			}
			checkRead(t, d, want)
		})
	}
}

// TestHugeFixed: a fixed disk whose footer claims far more than the file
// holds is read as qemu reads it (the file, then zeros), without memory
// in proportion to the claimed size.
func TestHugeFixed(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	p := filepath.Join(t.TempDir(), "f.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", "-o", "subformat=fixed", p, "1M")
	v := &vhdFile{b: imagetest.MustRead(t, p)}
	f := v.b[len(v.b)-512:]
	copy(f[28:], "qem2")
	binary.BigEndian.PutUint64(f[48:], 1<<40)
	binary.BigEndian.PutUint32(f[64:], vhdChecksum(f, 64))
	d, err := New(bytes.NewReader(v.b), int64(len(v.b)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 1<<40 {
		t.Fatalf("size %d", d.Size())
	}
	buf := make([]byte, 4096)
	if n, err := d.ReadAt(buf, 1<<40-4096); n != 4096 || (err != nil && err != io.EOF) || !bytes.Equal(buf, make([]byte, 4096)) {
		t.Fatalf("read at the end: %d, %v", n, err)
	}
	exts, err := d.Extents(0, 1<<40)
	if err != nil || len(exts) != 2 || !exts[1].Hole || exts[1].End() != 1<<40 {
		t.Fatalf("extents %v, %v", exts, err)
	}
}

// mappedReader is a file that knows its holes, as image's raw file does
// (lseek SEEK_DATA/SEEK_HOLE): data in the first 4 KiB, a hole after.
type mappedReader struct{ *bytes.Reader }

func (m mappedReader) Extents(off, length int64) ([]alloc.Extent, error) {
	var out []alloc.Extent
	if off < 4096 {
		out = append(out, alloc.Extent{Off: off, Len: min(length, 4096-off)})
	}
	if end := off + length; end > 4096 {
		s := max(off, 4096)
		out = append(out, alloc.Extent{Off: s, Len: end - s, Hole: true, Zero: true})
	}
	return out, nil
}

// TestFixedFileHoles: a fixed VHD's allocation comes from the file's
// holes when its reader knows them.
func TestFixedFileHoles(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	p := filepath.Join(t.TempDir(), "f.vhd")
	imagetest.QemuImg(t, "create", "-f", "vpc", "-o", "subformat=fixed", p, "1M")
	b := imagetest.MustRead(t, p)
	d, err := New(mappedReader{bytes.NewReader(b)}, int64(len(b)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	exts := imagetest.AllExtents(t, d, d.Size())
	if len(exts) != 2 || exts[0] != (alloc.Extent{Off: 0, Len: 4096}) || !exts[1].Hole || exts[1].End() != d.Size() {
		t.Fatalf("extents %v", exts)
	}
}
