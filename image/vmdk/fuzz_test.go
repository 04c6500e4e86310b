package vmdk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// fuzzSeeds returns small sparse extents of every layout read (a few KiB:
// 512-byte grains, 4 entries per grain table), uncompressed and
// compressed, with the grain directory in front or at the end.
func fuzzSeeds(f *testing.F) [][]byte {
	src := make([]byte, 6<<10)
	for i := range src[:1500] {
		src[i] = byte(i * 7)
	}
	copy(src[5<<10:], "the end of the source")
	var seeds [][]byte
	for _, l := range []sparseLayout{
		{grain: 512, gtes: 4},
		{grain: 1024, gtes: 4, compressed: true},
		{grain: 512, gtes: 8, compressed: true, atEnd: true},
	} {
		seeds = append(seeds, writeSparse(f, src, 7, l))
	}
	// And what qemu-img writes, from a source of one sector less than a
	// grain (its metadata fills the first 64 KiB).
	for _, sub := range []string{"monolithicSparse", "streamOptimized"} {
		if b := qemuSeed(f, src[:5<<10], "vmdk", "subformat="+sub); b != nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// qemuSeed converts raw with qemu-img (nil when it is missing) and
// returns the file, or its first file for a descriptor.
func qemuSeed(f *testing.F, raw []byte, format, opts string) []byte {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return nil
	}
	dir := f.TempDir()
	src := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(src, raw, 0o644); err != nil {
		f.Fatal(err)
	}
	out := filepath.Join(dir, "seed.vmdk")
	imagetest.QemuImg(f, "convert", "-f", "raw", "-O", format, "-o", opts, src, out)
	b, err := os.ReadFile(out)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzSparse opens arbitrary sparse extents (header, footer, grain
// directory, grain tables, markers, compressed grains, embedded
// descriptor) and reads and maps them at offsets spread over the disk.
func FuzzSparse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := New(bytes.NewReader(b), int64(len(b)), Config{CacheBytes: 64 << 10})
		if err != nil {
			return
		}
		defer d.Close()
		_ = d.Info()
		_ = d.Stats()
		size := d.Size()
		buf := make([]byte, 80<<10)
		for _, off := range []int64{0, 1000, 64 << 10, size / 3, size / 2, size - 5000, size - 1, size} {
			if off < 0 {
				continue
			}
			imagetest.WalkFileRuns(t, d, size, off, int64(len(buf)))
			n, err := d.ReadAt(buf, off)
			if n > len(buf) || (err == nil && n != len(buf)) {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
			exts, err := d.Extents(off, 1<<30)
			if err == nil && off < size && (len(exts) == 0 || exts[0].Off != off) {
				t.Fatalf("Extents(%d) = %v", off, exts)
			}
		}
	})
}

// FuzzDescriptor parses arbitrary descriptors, and opens them as disks
// whose extent files are never found (no Opener): only ZERO extents can
// be read.
func FuzzDescriptor(f *testing.F) {
	f.Add([]byte("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n" +
		"RW 10240 FLAT \"a-flat.vmdk\" 0\nRDONLY 8 ZERO\n#DDB\nddb.adapterType = \"ide\"\n"))
	f.Add([]byte("version=1\nCID=1\nparentFileNameHint=\"p.vmdk\"\nRW 8 ZERO\nNOACCESS 8 ZERO\nRW 4 SPARSE \"x y.vmdk\"\n"))
	f.Add([]byte("version=1\r\nRW 1 ZERO\r\nRW 2 VMFS \"e\"\r\n"))
	for _, sub := range []string{"monolithicFlat", "twoGbMaxExtentSparse"} {
		if b := qemuSeed(f, make([]byte, 4096), "vmdk", "subformat="+sub); b != nil {
			f.Add(bytes.TrimRight(b, " \x00"))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = LooksLikeDescriptor(b)
		d, err := ParseDescriptor(b)
		if err == nil {
			for _, e := range d.Extents {
				if e.Sectors <= 0 || e.Offset < 0 {
					t.Fatalf("accepted extent %+v", e)
				}
			}
		}
		disk, err := New(bytes.NewReader(b), int64(len(b)), Config{})
		if err != nil {
			return
		}
		defer disk.Close()
		buf := make([]byte, 4096)
		disk.ReadAt(buf, 0)
		disk.Extents(0, disk.Size())
	})
}

// FuzzInflate feeds arbitrary compressed grains to the inflater, whole
// and in part: where the whole grain inflates, its first half inflated
// alone (without zlib's reader) must give the same bytes.
func FuzzInflate(f *testing.F) {
	var z bytes.Buffer
	zw := newZlib(&z)
	zw.Write(bytes.Repeat([]byte("grain"), 1000))
	zw.Close()
	f.Add(z.Bytes(), uint16(5000))
	f.Add([]byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}, uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, n uint16) {
		out := make([]byte, n)
		err := inflate(out, in, 8192, false)
		half := make([]byte, n/2)
		perr := inflate(half, in, 8192, true)
		if err == nil && (perr != nil || !bytes.Equal(half, out[:n/2])) {
			t.Fatalf("the whole grain inflates, its first %d bytes alone do not (%v) or differ", n/2, perr)
		}
	})
}
