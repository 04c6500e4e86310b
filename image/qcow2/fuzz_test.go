package qcow2

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// fuzzSeeds returns small qcow2 images made by qemu-img and qemu-io (none
// when they are missing) and one made here, to seed the fuzz targets.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{makeHeader(3, 9, 1<<16), makeHeader(2, 12, 1<<20)}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return seeds
	}
	if _, err := exec.LookPath("qemu-io"); err != nil {
		return seeds
	}
	dir := f.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(f, src, 64<<10, 31)
	for i, args := range [][]string{
		{"-o", "cluster_size=512"},
		{"-c", "-o", "cluster_size=512"},
		{"-c", "-o", "cluster_size=4k,compression_type=zstd"},
		{"-o", "cluster_size=4k,compat=0.10"},
	} {
		p := filepath.Join(dir, "c"+string(rune('a'+i))+".qcow2")
		imagetest.QemuImg(f, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), src, p)...)
		seeds = append(seeds, readFile(f, p))
	}
	ext := filepath.Join(dir, "ext.qcow2")
	imagetest.QemuImg(f, "create", "-f", "qcow2", "-b", "src.raw", "-F", "raw", "-o", "extended_l2=on,cluster_size=16k", ext)
	imagetest.QemuIO(f, "qcow2", ext, "write -P 0xab 1k 3k", "write -z 8k 1k")
	seeds = append(seeds, readFile(f, ext))
	return seeds
}

// FuzzHeader parses arbitrary first clusters: the header, its extensions
// and the checks.
func FuzzHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[:min(len(s), 4096)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		_ = h.l2Bits()
		_ = h.l1Needed()
		_ = h.bitNames(0, h.incompatible)
		if h.l1Needed() > uint64(h.l1Size) {
			t.Fatalf("accepted an L1 table of %d entries for %d needed", h.l1Size, h.l1Needed())
		}
	})
}

// FuzzImage opens arbitrary images with New (backing and data files are
// small in-memory raw files) and reads at offsets spread over the disk,
// calling every accessor.
func FuzzImage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		other := bytes.Repeat([]byte{0x5a, 0xa5}, 40000)
		img, err := New(bytes.NewReader(b), int64(len(b)), &memOpener{data: other}, "fuzz.qcow2")
		if err != nil {
			return
		}
		defer img.Close()
		_ = img.Info()
		_ = img.Stats()
		size := img.Size()
		for _, off := range []int64{0, size / 2} {
			exts, _ := img.Extents(off, 1<<30)
			for _, e := range exts {
				if e.Len <= 0 || e.Off < off || e.End() > size {
					t.Fatalf("Extents(%d): bad extent %+v (size %d)", off, e, size)
				}
			}
		}
		buf := make([]byte, 96<<10)
		for _, off := range []int64{0, 1000, 64 << 10, size / 3, size / 2, size - 5000, size - 1, size} {
			if off < 0 {
				continue
			}
			imagetest.WalkFileRuns(t, img, size, off, int64(len(buf)))
			n, err := img.ReadAt(buf, off)
			if n > len(buf) || (err == nil && n != len(buf)) {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
		}
	})
}

// FuzzTables maps and reads arbitrary L2 tables (standard and extended)
// over an in-memory data file.
func FuzzTables(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1}, uint8(14), true, uint32(0), uint32(1<<16))
	f.Add(bytes.Repeat([]byte{0x40, 0, 0, 0, 0, 0, 0x12, 0x00}, 8), uint8(9), false, uint32(100), uint32(4096))
	f.Add(bytes.Repeat([]byte{0, 0, 0, 0, 0, 0, 0x10, 0x01}, 8), uint8(12), false, uint32(5), uint32(1<<20))
	f.Fuzz(func(t *testing.T, entries []byte, cb uint8, extended bool, off, n uint32) {
		bits := minClustBits + uint32(cb)%(maxClustBits-minClustBits+1)
		if extended {
			bits = max(bits, minExtL2Bits)
		}
		bits = min(bits, 16) // keep each run small
		words := make([]uint64, len(entries)/8)
		for i := range words {
			words[i] = be.Uint64(entries[i*8:])
		}
		img := tableImage(bits, extended, words)
		data := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 1<<16)
		img.data, img.r = bytes.NewReader(data), bytes.NewReader(data)
		img.fileSize, img.dataSize = int64(len(data)), int64(len(data))
		img.hdr.compression = uint8(n & 1)
		o := int64(off) % img.size
		buf := make([]byte, min(int64(n)%(1<<20), img.size-o))
		if _, err := img.ReadAt(buf, o); err != nil && err != io.EOF {
			return
		}
	})
}

// FuzzDecompress feeds arbitrary bytes to both decompressors.
func FuzzDecompress(f *testing.F) {
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, false)
	f.Add([]byte{0x01, 0x00, 0x10, 0xff, 0xef}, true)
	f.Fuzz(func(t *testing.T, in []byte, zlib bool) {
		out := make([]byte, 4096)
		typ := uint8(compZstd)
		if zlib {
			typ = compZlib
		}
		_ = decompress(out, in, typ)
	})
}
