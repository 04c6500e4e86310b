package fs

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The fuzz input is a list of chunks: 8-byte offset, 2-byte length, data.
// compact turns a real image into that form, keeping its non-zero 4 KiB
// blocks (at most max bytes of them).
func compact(img []byte, max int) []byte {
	var out []byte
	for off := 0; off < len(img) && len(out) < max; off += 4096 {
		blk := img[off:min(off+4096, len(img))]
		if bytes.Count(blk, []byte{0}) == len(blk) {
			continue
		}
		out = binary.LittleEndian.AppendUint64(out, uint64(off))
		out = binary.LittleEndian.AppendUint16(out, uint16(len(blk)))
		out = append(out, blk...)
	}
	return out
}

func expand(b []byte, size int64) *testutil.Sparse {
	v := &testutil.Sparse{Size: size}
	for len(b) >= 10 && len(v.Chunks) < 256 {
		off := int64(binary.LittleEndian.Uint64(b) &^ (1 << 63))
		n := min(int(binary.LittleEndian.Uint16(b[8:])), len(b)-10)
		v.Chunks = append(v.Chunks, testutil.Chunk{Off: off, Data: b[10 : 10+n]})
		b = b[10+n:]
	}
	return v
}

// FuzzDetect runs Detect on sparse volumes seeded from images made by each
// mkfs that is installed, and from the committed LVM2 physical volume.
func FuzzDetect(f *testing.F) {
	for _, tc := range []struct {
		size int64
		tool string
		args []string
	}{
		{8 << 20, "mkfs.ext2", []string{"-q", "-F", "-L", "l"}},
		{8 << 20, "mkfs.ext4", []string{"-q", "-F"}},
		{4 << 20, "mkfs.vfat", []string{"-F", "12", "-n", "LBL"}},
		{20 << 20, "mkfs.vfat", []string{"-F", "16", "-n", "LBL"}},
		{40 << 20, "mkfs.vfat", []string{"-F", "32", "-s", "1", "-n", "LBL"}},
		{16 << 20, "mkntfs", []string{"-q", "-f", "-F", "-L", "lbl"}},
		{4 << 20, "mkswap", []string{"-L", "l"}},
		{8 << 20, "mkfs.exfat", []string{"-L", "l"}},
		{300 << 20, "mkfs.xfs", []string{"-q", "-L", "l"}},
		{128 << 20, "mkfs.btrfs", []string{"-q", "-L", "l"}},
	} {
		if _, err := exec.LookPath(tc.tool); err != nil {
			continue
		}
		p := testutil.SparseFile(f, tc.size)
		testutil.Run(f, "", tc.tool, append(tc.args, p)...)
		img, err := readHead(p, 40<<20) // Detect reads little past the first MiB
		if err != nil {
			f.Fatal(err)
		}
		f.Add(compact(img, 256<<10), tc.size)
		os.Remove(p)
	}
	if lvm := testutil.Gunzip(f, "testdata/lvm2-pv.img.gz"); lvm != nil {
		f.Add(compact(lvm, 64<<10), int64(len(lvm)))
	}
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		size &= 1<<44 - 1
		got := Detect(expand(data, size), size)
		_ = got.Name + got.Note + got.Label + got.UUID
	})
}

func readHead(path string, n int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, n))
}
