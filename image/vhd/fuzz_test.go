package vhd

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// FuzzNew feeds footers, dynamic headers, BATs, bitmaps and locators to
// New, seeded with small VHDs qemu made (when qemu-img is installed),
// then reads and maps the disk. Only a panic or a hang fails; memory is
// bounded by the input (the BAT must lie in it).
func FuzzNew(f *testing.F) {
	dir := f.TempDir()
	seeds := []struct{ args []string }{
		{[]string{"create", "-f", "vpc", "dyn.vhd", "1M"}},
		{[]string{"create", "-f", "vpc", "-o", "subformat=fixed", "fixed.vhd", "64k"}},
	}
	if _, err := exec.LookPath("qemu-img"); err == nil {
		for _, s := range seeds {
			cmd := exec.Command("qemu-img", s.args...)
			cmd.Dir = dir
			if cmd.Run() != nil {
				continue
			}
			name := filepath.Join(dir, s.args[len(s.args)-2])
			exec.Command("qemu-io", "-f", "vpc", "-c", "write -P 0x5a 4096 4096", name).Run()
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add(bytes.Repeat([]byte("conectix"), 200))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := New(bytes.NewReader(b), int64(len(b)), Config{})
		if err != nil {
			return
		}
		d.Info()
		size := d.Size()
		buf := make([]byte, 64<<10)
		for _, off := range []int64{0, size / 2, size - 1, size - 600} {
			if off < 0 {
				continue
			}
			d.ReadAt(buf, off)
			imagetest.WalkFileRuns(t, d, size, off, int64(len(buf)))
		}
		for off := int64(0); off < size && off < 32<<20; {
			exts, err := d.Extents(off, size-off)
			if err != nil || len(exts) == 0 {
				break
			}
			off = exts[len(exts)-1].End()
		}
		d.ReadAt(buf[:0], size)
		_, _ = io.ReadFull(io.NewSectionReader(d, 0, min(size, 1<<20)), make([]byte, min(size, 1<<20)))
	})
}
