package vmdk

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// benchImage makes a 32 MiB source as a VMDK of the given subformat.
func benchImage(b *testing.B, sub string) string {
	b.Helper()
	testutil.NeedTools(b, "qemu-img")
	dir := b.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(b, src, 32<<20, 41)
	p := filepath.Join(dir, sub+".vmdk")
	imagetest.QemuImg(b, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, p)
	return p
}

var benchSubformats = []string{"monolithicSparse", "streamOptimized", "monolithicFlat"}

// BenchmarkReadSequential reads the whole disk in 1 MiB reads, from a
// freshly opened disk each time (cold caches, as a first read).
func BenchmarkReadSequential(b *testing.B) {
	for _, sub := range benchSubformats {
		b.Run(sub, func(b *testing.B) {
			p := benchImage(b, sub)
			buf := make([]byte, 1<<20)
			for b.Loop() {
				d, err := openTest(b, p)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(d.Size())
				for off := int64(0); off < d.Size(); off += int64(len(buf)) {
					if _, err := d.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
				d.Close()
			}
		})
	}
}

// BenchmarkRandom4K does 4 KiB reads at random aligned offsets; the
// streamOptimized case shows the inflated-grain cache at work.
func BenchmarkRandom4K(b *testing.B) {
	for _, sub := range benchSubformats {
		b.Run(sub, func(b *testing.B) {
			p := benchImage(b, sub)
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			d, err := openTest(b, p)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			buf := make([]byte, 4096)
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				off := rng.Int64N(d.Size()/4096) * 4096
				if _, err := d.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
			s := d.Stats()
			b.ReportMetric(float64(s.GrainHits)/float64(max(1, s.GrainHits+s.GrainMisses)), "grain-hit-ratio")
		})
	}
}

// BenchmarkExtents maps the whole disk.
func BenchmarkExtents(b *testing.B) {
	p := benchImage(b, "monolithicSparse")
	d, err := openTest(b, p)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for b.Loop() {
		for off := int64(0); off < d.Size(); {
			exts, err := d.Extents(off, d.Size()-off)
			if err != nil || len(exts) == 0 {
				b.Fatal(err)
			}
			off = exts[len(exts)-1].End()
		}
	}
}
