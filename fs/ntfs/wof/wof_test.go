package wof

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// TestAgainstWimlib compresses text, random bytes and machine code with
// wimlib's compressors (testimages/ntfs/mkwof.c) in each WOF format at
// a fast and a thorough level, and checks that our Reader gives the
// original bytes back: empty, one byte, around the chunk size, several
// chunks with a partial last one; whole reads and reads at odd offsets.
func TestAgainstWimlib(t *testing.T) {
	dir := t.TempDir()
	tool := mkwof(t, dir)
	code := codeData(t, 200000)
	for _, fm := range formats {
		cs := fm.f.ChunkSize()
		inputs := []struct {
			name string
			data []byte
		}{
			{"empty", nil},
			{"one", []byte{'x'}},
			{"text-chunk-1", textData(cs-1, 1)},
			{"text-chunk", textData(cs, 2)},
			{"text-chunk+1", textData(cs+1, 3)},
			{"text-multi", textData(7*cs/2+123, 4)},
			{"random-multi", randomData(2*cs+777, 5)},
			{"mixed", append(textData(cs+100, 6), randomData(cs+50, 7)...)},
			{"code", code[:min(len(code), 6*cs+5)]},
			{"zeros", make([]byte, 3*cs+1)},
		}
		for _, level := range []int{10, 100} {
			for _, in := range inputs {
				t.Run(fmt.Sprintf("%s/%d/%s", fm.name, level, in.name), func(t *testing.T) {
					s := stream(t, tool, dir, fm.name, level, in.data)
					checkStream(t, s, in.data, fm.f)
				})
			}
		}
	}
}

// checkStream reads stream s of format f and compares it with want.
func checkStream(t *testing.T, s, want []byte, f Format) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(s), int64(len(s)), int64(len(want)), f)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if n, err := r.ReadAt(got, 0); n != len(want) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(0) = %d, %v; want %d bytes", n, err, len(want))
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("differs from the original at byte %d (chunk %d)", i, i/f.ChunkSize())
	}
	// Reads across chunk boundaries, backwards.
	for off := int64(len(want)) - 1; off >= 0; off -= int64(f.ChunkSize())/2 + 13 {
		buf := make([]byte, 5000)
		n, err := r.ReadAt(buf, off)
		end := min(off+5000, int64(len(want)))
		if n != int(end-off) || !bytes.Equal(buf[:n], want[off:end]) || (n < len(buf)) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
	if n, err := r.ReadAt(make([]byte, 1), int64(len(want))); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(size) = %d, %v; want io.EOF", n, err)
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
