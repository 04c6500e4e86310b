package vdi

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// benchImage makes a 32 MiB source disk as a dynamic VDI.
func benchImage(b *testing.B) string {
	b.Helper()
	testutil.NeedTools(b, "qemu-img")
	dir := b.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(b, src, 32<<20, 41)
	p := filepath.Join(dir, "b.vdi")
	imagetest.QemuImg(b, "convert", "-f", "raw", "-O", "vdi", src, p)
	return p
}

// BenchmarkSequential reads the whole disk in 1 MiB reads.
func BenchmarkSequential(b *testing.B) {
	img, err := Open(benchImage(b))
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(img.Size())
	for b.Loop() {
		for off := int64(0); off < img.Size(); off += int64(len(buf)) {
			if _, err := img.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRandom4K reads 4 KiB at random aligned offsets.
func BenchmarkRandom4K(b *testing.B) {
	img, err := Open(benchImage(b))
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	buf := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := img.ReadAt(buf, rng.Int64N(img.Size()/4096)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtents maps the whole disk.
func BenchmarkExtents(b *testing.B) {
	img, err := Open(benchImage(b))
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	for b.Loop() {
		for pos := int64(0); pos < img.Size(); {
			exts, err := img.Extents(pos, img.Size()-pos)
			if err != nil || len(exts) == 0 {
				b.Fatal(err)
			}
			pos = exts[len(exts)-1].End()
		}
	}
}
