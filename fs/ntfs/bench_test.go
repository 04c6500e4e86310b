package ntfs

import (
	"bytes"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
)

// BenchmarkWalk walks the small fixture (about 60 objects, a
// 260-fragment file, a 40-entry non-resident index).
func BenchmarkWalk(b *testing.B) {
	img := fixture(b, "small")
	n := 0
	for b.Loop() {
		f, err := New(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		if err := f.Walk(func(fs.Entry) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "objects/walk")
}
