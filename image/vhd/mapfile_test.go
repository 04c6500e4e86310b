package vhd

import (
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestMapFile checks MapFile on VHDs qemu-img made, fixed and dynamic:
// every run in the file holds the guest's bytes (qemu-img convert -O raw)
// at the offset qemu-img map gives, zero runs read as zeros, asked whole
// and in odd steps that cross blocks.
func TestMapFile(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, srcSize, 3)
	for _, c := range []struct{ name, opts string }{
		{"dynamic", "subformat=dynamic"},
		{"fixed", "subformat=fixed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vhd")
			imagetest.QemuImg(t, "convert", "-O", "vpc", "-o", c.opts, src, p)
			want := imagetest.QemuRaw(t, p, "vpc")
			qm := imagetest.QemuMap(t, p, "vpc")
			d, err := openPath(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			imagetest.CheckMapFiles(t, d, want, qm, true)
		})
	}
}
