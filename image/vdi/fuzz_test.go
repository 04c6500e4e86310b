package vdi

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// fuzzOpener serves every parent from one in-memory VDI-looking file, so
// that differencing images are fuzzed too; OpenImage parses it with New
// (no opener: a second level is refused).
type fuzzOpener struct{ parent []byte }

type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

func (o fuzzOpener) OpenFile(from, name string) (chain.File, string, error) {
	return memFile{bytes.NewReader(o.parent)}, name, nil
}

func (o fuzzOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	img, err := New(bytes.NewReader(o.parent), int64(len(o.parent)), nil, "")
	return img, name, err
}

// FuzzImage opens arbitrary bytes as a VDI (with its parent, for a
// differencing image, being the same bytes as a plain image) and reads
// and maps it at offsets spread over the disk.
func FuzzImage(f *testing.F) {
	s := sample(f)
	// Cut the seed down to its header, block map and first block.
	seed := s[:min(len(s), int(binary.LittleEndian.Uint32(s[offData:]))+4096)]
	f.Add(seed)
	d := bytes.Clone(seed)
	binary.LittleEndian.PutUint32(d[offType:], TypeDiff)
	copy(d[offLink:offLink+16], bytes.Repeat([]byte{7}, 16))
	f.Add(d)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := bytes.Clone(b)
		if len(p) >= headerEnd {
			binary.LittleEndian.PutUint32(p[offType:], TypeDynamic)
			copy(p[offUUID:offUUID+16], b[offLink:offLink+16])
		}
		img, err := NewConfig(bytes.NewReader(b), int64(len(b)), Config{Opener: fuzzOpener{p}, Path: "", Parents: []string{"p.vdi"}})
		if err != nil {
			return
		}
		defer img.Close()
		_ = img.Info()
		size := img.Size()
		buf := make([]byte, 64<<10)
		for _, off := range []int64{0, 1000, size / 3, size / 2, size - 5000, size - 1, size} {
			if off < 0 {
				continue
			}
			imagetest.WalkFileRuns(t, img, size, off, int64(len(buf)))
			n, err := img.ReadAt(buf, off)
			if n > len(buf) || (err == nil && n != len(buf)) {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
			exts, _ := img.Extents(off, 1<<30)
			for _, e := range exts {
				if e.Len <= 0 || e.Off < off || e.End() > size {
					t.Fatalf("Extents(%d): bad extent %+v (size %d)", off, e, size)
				}
			}
		}
	})
}
