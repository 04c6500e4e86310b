package ext

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// benchImage builds an ext4 image with dirs*perDir small files.
func benchImage(b *testing.B, dirs, perDir int) string {
	b.Helper()
	testutil.NeedTools(b, "mkfs.ext4")
	src := b.TempDir()
	for d := range dirs {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		must(b, os.MkdirAll(dir, 0o755))
		for i := range perDir {
			must(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%04d", i)), make([]byte, (i%5)*3000), 0o644))
		}
	}
	return mkfs(b, "ext4", src, "256M", "-b", "4096")
}

// BenchmarkWalk walks a 5,000-file ext4 image read through an *os.File
// (page-cached) and reports files per second.
func BenchmarkWalk(b *testing.B) {
	img := benchImage(b, 50, 100)
	fh, err := os.Open(img)
	must(b, err)
	defer fh.Close()
	st, err := fh.Stat()
	must(b, err)
	var files int
	b.ResetTimer()
	for b.Loop() {
		f, err := New(fh, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		files = 0
		if err := f.Walk(func(e fs.Entry) error {
			if e.Kind != bmap.KindMeta {
				files++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if files < 5000 {
		b.Fatalf("walked %d objects, want 5,000 files and more", files)
	}
	b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkNew opens a 4 KiB-block ext4 image through its primary
// superblock, and with the primary zeroed, through the backup found by
// probing (the cost of the search: a 1 KiB read per candidate).
func BenchmarkNew(b *testing.B) {
	img := benchImage(b, 2, 10)
	good, err := os.ReadFile(img)
	must(b, err)
	zeroed := bytes.Clone(good)
	clear(zeroed[superblockOff : superblockOff+superblockSize])
	for _, c := range []struct {
		name string
		img  []byte
	}{{"primary", good}, {"backup", zeroed}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				f, err := New(bytes.NewReader(c.img), int64(len(c.img)))
				if err != nil {
					b.Fatal(err)
				}
				if (f.Damage().PrimarySuperblock != nil) != (c.name == "backup") {
					b.Fatalf("%s: Damage() = %+v", c.name, f.Damage())
				}
			}
		})
	}
}
