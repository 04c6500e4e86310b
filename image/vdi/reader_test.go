package vdi

import (
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestQemuImages converts raw disks with holes to VDI with qemu-img
// (dynamic and static, sizes on and off block boundaries) and checks that
// our reads equal qemu-img's conversion back to raw and that our data
// runs equal qemu-img map's.
func TestQemuImages(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		size int64
		opts []string
	}{
		{"dynamic", 5 << 20, nil},
		{"dynamic-odd-size", 3<<20 + 512, nil},
		{"static", 4 << 20, []string{"-o", "static=on"}},
		{"static-odd-size", 2<<20 + 7*512, []string{"-o", "static=on"}},
		{"empty", 2 << 20, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(dir, c.name+".raw")
			if c.name == "empty" {
				imagetest.QemuImg(t, "create", "-q", "-f", "raw", src, "2M")
			} else {
				makeSource(t, src, c.size, uint64(c.size))
			}
			p := filepath.Join(dir, c.name+".vdi")
			imagetest.QemuImg(t, append(append([]string{"convert", "-f", "raw", "-O", "vdi"}, c.opts...), src, p)...)
			img, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			checkRead(t, img, qemuRaw(t, p))
			want, got := qemuMap(t, p), ourMap(t, img)
			// Open's file is not an alloc.Mapper: a static image's
			// file holes are not seen (image.Open sees them), so only
			// data against holes is compared here.
			for i := range want {
				want[i].zero = false
			}
			for i := range got {
				got[i].zero = false
			}
			want, got = merge(want), merge(got)
			if len(got) != len(want) {
				t.Fatalf("map:\nours %v\nqemu %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("map run %d: ours %+v, qemu %+v", i, got[i], want[i])
				}
			}
			info := img.Info()
			wantType := TypeDynamic
			if len(c.opts) > 0 {
				wantType = TypeStatic
			}
			if info.Type != wantType || info.BlockSize != 1<<20 || info.UUID.IsZero() || info.Parent != "" {
				t.Errorf("Info = %+v", info)
			}
		})
	}
}

// TestKnownData: KnownData is true only where every block is allocated,
// and then Extents agrees that the range is data.
func TestKnownData(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "k.raw")
	makeSource(t, src, 6<<20, 5)
	p := filepath.Join(dir, "k.vdi")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vdi", src, p)
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	known, unknown := 0, 0
	for off := int64(0); off < img.Size(); off += 256 << 10 {
		n := min(int64(700<<10), img.Size()-off)
		if !img.KnownData(off, n) {
			unknown++
			continue
		}
		known++
		exts, err := img.Extents(off, n)
		if err != nil || len(exts) != 1 || exts[0].Hole || exts[0].Zero || exts[0].Len != n {
			t.Errorf("KnownData(%#x, %d) but Extents = %+v, %v", off, n, exts, err)
		}
	}
	if known == 0 || unknown == 0 {
		t.Errorf("KnownData true %d times, false %d times: the image should give both", known, unknown)
	}
	if img.KnownData(img.Size()-1, 2) || img.KnownData(-1, 1) {
		t.Error("KnownData outside the disk")
	}
}
