package vhdx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// BenchmarkReadSequential reads 64 MiB VHDXs qemu made (dynamic with 1
// and 32 MiB blocks, fixed), in 1 MiB reads, from the page cache.
func BenchmarkReadSequential(b *testing.B) {
	testutil.NeedTools(b, "qemu-img")
	dir := b.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(b, src, 64<<20, 3)
	for _, c := range []struct{ name, opts string }{
		{"dynamic-1M", "subformat=dynamic,block_size=1M"},
		{"dynamic-32M", "subformat=dynamic,block_size=32M"},
		{"fixed", "subformat=fixed"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := filepath.Join(dir, c.name+".vhdx")
			imagetest.QemuImg(b, "convert", "-O", "vhdx", "-o", c.opts, src, p)
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			d, err := New(f, st.Size(), Config{})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			b.SetBytes(d.Size())
			for b.Loop() {
				for off := int64(0); off < d.Size(); off += int64(len(buf)) {
					if _, err := d.ReadAt(buf, off); err != nil && off+int64(len(buf)) < d.Size() {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
