package xz

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ulxz "github.com/ulikunitz/xz"
)

// TestULikunitz: github.com/ulikunitz/xz, the library image/xz decoded
// with before it had its own LZMA2 decoder, is the differential
// reference: on the committed sample image, on the small files of
// TestFiles it can read (it has no BCJ or delta filters), on files made
// with each preset of xz and on one of 1 MiB blocks, ReadAt gives the
// bytes it gives.
func TestULikunitz(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join("..", "..", "testimages", "sample.img.xz")}
	for i, tc := range fileCases {
		if slices.ContainsFunc(tc.args, func(a string) bool {
			return a == "--lzma2" || strings.HasPrefix(a, "--x86") || strings.HasPrefix(a, "--delta") || strings.HasPrefix(a, "--arm") ||
				strings.HasPrefix(a, "--powerpc") || strings.HasPrefix(a, "--sparc") || strings.HasPrefix(a, "--ia64")
		}) || tc.forward || tc.size > 300<<10 {
			continue
		}
		paths = append(paths, xzFile(t, dir, tc.name+".xz", testData(tc.size, uint64(i)), tc.args...))
	}
	data := testData(200<<10, 77)
	for _, p := range []string{"-0", "-1", "-2", "-3", "-4", "-5", "-6", "-7", "-8", "-9", "-0e", "-6e", "-9e"} {
		paths = append(paths, xzFile(t, dir, "preset"+p+".xz", data, "-T1", p))
	}
	paths = append(paths, xzFile(t, dir, "blocks-1m.xz", testData(2<<20+5000, 78), "-T2", "-6", "--block-size=1MiB"))
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ulxz.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("ulikunitz: %v", err)
			}
			want, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("ulikunitz: %v", err)
			}
			x := openFile(t, path, Options{})
			got := make([]byte, x.Size())
			if n, err := x.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt = %d of %d, %v", n, len(got), err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("differs from ulikunitz/xz at %d (sizes %d, %d)", i, len(got), len(want))
			}
		})
	}
}
