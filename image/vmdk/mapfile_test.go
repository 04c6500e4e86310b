package vmdk

import (
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestMapFile checks MapFile on VMDKs qemu-img made in each subformat:
// every run in a file holds the guest's bytes (qemu-img convert -O raw) at
// the offset qemu-img map gives, zero runs read as zeros, asked whole and
// in odd steps that cross grains and extents. streamOptimized grains are
// compressed: nothing of it is in a file.
func TestMapFile(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 5<<20+7*512, 8)
	for _, c := range []struct {
		name, opts string
		mapped     bool
	}{
		{"monolithicSparse", "subformat=monolithicSparse", true},
		{"monolithicSparse-zeroed", "subformat=monolithicSparse,zeroed_grain=on", true},
		{"monolithicFlat", "subformat=monolithicFlat", true},
		{"twoGbMaxExtentSparse", "subformat=twoGbMaxExtentSparse", true},
		{"twoGbMaxExtentFlat", "subformat=twoGbMaxExtentFlat", true},
		{"streamOptimized", "subformat=streamOptimized", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), c.name+".vmdk")
			imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", c.opts, src, p)
			want := qemuRaw(t, p)
			qm := imagetest.QemuMap(t, p, "vmdk")
			d, err := openTest(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			imagetest.CheckMapFiles(t, d, want, qm, c.mapped)
		})
	}
}
