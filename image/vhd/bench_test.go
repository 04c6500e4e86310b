package vhd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// BenchmarkReadSequential reads a 64 MiB dynamic and a fixed VHD qemu
// made, in 1 MiB reads, from the page cache.
func BenchmarkReadSequential(b *testing.B) {
	testutil.NeedTools(b, "qemu-img")
	dir := b.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(b, src, 64<<20, 3)
	for _, sub := range []string{"dynamic", "fixed"} {
		b.Run(sub, func(b *testing.B) {
			p := filepath.Join(dir, sub+".vhd")
			imagetest.QemuImg(b, "convert", "-O", "vpc", "-o", "subformat="+sub, src, p)
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
