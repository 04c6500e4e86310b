package qcow2

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// benchImages makes one 32 MiB source as qcow2, plain and compressed.
func benchImages(b *testing.B) map[string]string {
	b.Helper()
	testutil.NeedTools(b, "qemu-img")
	dir := b.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(b, src, 32<<20, 41)
	imgs := map[string]string{}
	for name, args := range map[string][]string{
		"plain": nil,
		"zlib":  {"-c"},
		"zstd":  {"-c", "-o", "compression_type=zstd"},
	} {
		p := filepath.Join(dir, name+".qcow2")
		imagetest.QemuImg(b, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), src, p)...)
		imgs[name] = p
	}
	return imgs
}

// BenchmarkSequential reads the whole disk in 1 MiB reads.
func BenchmarkSequential(b *testing.B) {
	for _, name := range []string{"plain", "zlib", "zstd"} {
		b.Run(name, func(b *testing.B) {
			path := benchImages(b)[name]
			buf := make([]byte, 1<<20)
			for b.Loop() {
				// A fresh Image each time: cold caches, as a first read.
				img, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(img.Size())
				for off := int64(0); off < img.Size(); off += int64(len(buf)) {
					if _, err := img.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
				img.Close()
			}
		})
	}
}

// BenchmarkRandom4K does 4 KiB reads at random aligned offsets; the
// compressed cases show the decompressed-cluster cache at work.
func BenchmarkRandom4K(b *testing.B) {
	for _, name := range []string{"plain", "zlib", "zstd"} {
		b.Run(name, func(b *testing.B) {
			img, err := Open(benchImages(b)[name])
			if err != nil {
				b.Fatal(err)
			}
			defer img.Close()
			buf := make([]byte, 4096)
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				off := rng.Int64N(img.Size()/4096) * 4096
				if _, err := img.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
			s := img.Stats()
			b.ReportMetric(float64(s.ClusterHits)/float64(max(1, s.ClusterHits+s.ClusterMisses)), "cluster-hit-ratio")
		})
	}
}
