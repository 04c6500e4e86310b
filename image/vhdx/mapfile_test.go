package vhdx

import (
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestMapFile checks MapFile on VHDXs qemu-img made, dynamic and fixed,
// with several block sizes: every run in the file holds the guest's bytes
// (qemu-img convert -O raw), zero runs read as zeros, asked whole and in
// odd steps that cross blocks. qemu's vhdx driver has no block status
// (qemu-img map says all data, without offsets), so the offsets are
// checked by the bytes alone, and the runs against our Extents, which
// TestQemuImages checks against qemu-img map's data and zeros.
func TestMapFile(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 5<<20+3*512, 4)
	for _, c := range []struct{ name, opts string }{
		{"dynamic-1M", "subformat=dynamic,block_size=1M"},
		{"dynamic-8M", "subformat=dynamic,block_size=8M"},
		{"dynamic-no-zero-state", "subformat=dynamic,block_size=1M,block_state_zero=off"},
		{"fixed-1M", "subformat=fixed,block_size=1M"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vhdx")
			imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vhdx", "-o", c.opts, src, p)
			want := imagetest.QemuRaw(t, p, "vhdx")
			d, err := openPath(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			imagetest.CheckMapFiles(t, d, want, nil, true)
			// Data extents are in the file, zero extents are zeros.
			exts := imagetest.AllExtents(t, d, d.Size())
			runs := imagetest.AllFileRuns(t, d, d.Size(), 0)
			for _, r := range runs {
				for _, e := range exts {
					if e.Off < r.Off+r.Len && r.Off < e.End() && (e.Zero != r.Zero || (r.File != nil) == e.Zero) {
						t.Fatalf("run %+v against extent %+v", r, e)
					}
				}
			}
		})
	}
}
