package xfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
)

// benchImage builds a version 5 image with dirs*perDir small files.
func benchImage(b *testing.B, dirs, perDir int) string {
	b.Helper()
	src := b.TempDir()
	for d := range dirs {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		must(b, os.MkdirAll(dir, 0o755))
		for i := range perDir {
			must(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%04d", i)), make([]byte, (i%5)*3000), 0o644))
		}
	}
	return mkxfs(b, src, 512<<20, "-d", "agcount=4")
}

// BenchmarkWalk walks a 20,000-file XFS image read through an *os.File
// (page-cached) and reports files per second. It also times, once,
// xfs_db's blockget -n, which reads the same metadata (every inode, every
// directory, every extent map) to build its own block map with names,
// and reports the ratio of xfs_db's time to ours as "xfs_db/walk".
func BenchmarkWalk(b *testing.B) {
	img := benchImage(b, 100, 200)
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
			if e.Kind == bmap.KindFile {
				files++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if files != 20000+3 { // and the FIFO and two device nodes protofile adds
		b.Fatalf("walked %d files, want 20,003", files)
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	b.StopTimer()
	start := time.Now()
	if out, err := exec.Command("xfs_db", "-r", "-c", "blockget -n", img).CombinedOutput(); err != nil {
		b.Fatalf("xfs_db blockget: %v\n%s", err, out)
	}
	b.ReportMetric(float64(time.Since(start))/float64(per), "xfs_db/walk")
}
