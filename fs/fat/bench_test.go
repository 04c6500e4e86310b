package fat

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// benchImage builds a FAT32 volume with dirs*perDir small files, with
// mkfs.fat and one mcopy -s.
func benchImage(b *testing.B, dirs, perDir int) string {
	b.Helper()
	testutil.NeedTools(b, "mkfs.fat", "mcopy")
	src := b.TempDir()
	for d := range dirs {
		dir := filepath.Join(src, fmt.Sprintf("directory-%03d", d))
		must(b, os.MkdirAll(dir, 0o755))
		for i := range perDir {
			must(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("a-long-file-name-%04d.txt", i)), make([]byte, (i%5)*3000), 0o644))
		}
	}
	img := filepath.Join(b.TempDir(), "bench.img")
	testutil.Run(b, "", "mkfs.fat", "-C", "--invariant", "-F", "32", "-s", "4", "-i", "BE7C0001", img, "262144")
	entries, err := os.ReadDir(src)
	must(b, err)
	args := []string{"-s", "-i", img}
	for _, e := range entries {
		args = append(args, filepath.Join(src, e.Name()))
	}
	mtools(b, "mcopy", append(args, "::/")...)
	return img
}

// BenchmarkWalk walks a 5,000-file FAT32 volume read through an *os.File
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
