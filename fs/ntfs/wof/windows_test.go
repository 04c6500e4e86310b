package wof

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWindowsVectors decompresses XPRESS Huffman streams that Windows
// made (its Compression API, the MS-XCA code): Samba's test vectors,
// testdata/compression/ of github.com/samba-team/samba, compressed-huffman
// and compressed-more-huffman, with their originals in decompressed/.
// They are not copied here: set WOF_MSXCA_DIR to that directory. A
// stream of at most 64 KiB of data is one block, as a WOF chunk is
// (WOF's are 4-16 KiB); larger ones (a new code every 64 KiB) are left
// out.
func TestWindowsVectors(t *testing.T) {
	dir := os.Getenv("WOF_MSXCA_DIR")
	if dir == "" {
		t.Skip("WOF_MSXCA_DIR not set (Samba's testdata/compression)")
	}
	var d XpressDecoder
	n := 0
	for _, sub := range []string{"compressed-huffman", "compressed-more-huffman"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.lzhuff"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range files {
			name := strings.TrimSuffix(filepath.Base(p), ".lzhuff")
			want, err := os.ReadFile(filepath.Join(dir, "decompressed", name+".decomp"))
			if err != nil || len(want) > 65536 || len(want) == 0 {
				continue
			}
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if err := d.Decompress(got, src); err != nil {
				t.Errorf("%s/%s: %v", sub, name, err)
				continue
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s/%s: differs from the original at byte %d of %d", sub, name, i, len(want))
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no vector of at most 64 KiB in %s", dir)
	}
	t.Logf("%d Windows-made streams decompressed", n)
}
