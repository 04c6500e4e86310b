package vhdx

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// srcSize is not a multiple of any block size.
const srcSize = 6<<20 + 3*512 + 7*4096

// TestQemuImages reads VHDXs qemu-img made from one raw disk, dynamic and
// fixed, with several block and log sizes, and compares every byte with
// qemu-img convert -O raw of the same file and the allocation with
// qemu-img map.
func TestQemuImages(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, srcSize, 1)
	for _, c := range []struct {
		name, opts string
		bs         int64
	}{
		{"dynamic-1M", "subformat=dynamic,block_size=1M", 1 << 20},
		{"dynamic-8M", "subformat=dynamic,block_size=8M", 8 << 20},
		{"dynamic-32M-log2M", "subformat=dynamic,block_size=32M,log_size=2M", 32 << 20},
		{"dynamic-no-zero-state", "subformat=dynamic,block_size=1M,block_state_zero=off", 1 << 20},
		{"fixed-1M", "subformat=fixed,block_size=1M", 1 << 20},
		{"fixed-8M-log4M", "subformat=fixed,block_size=8M,log_size=4M", 8 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vhdx")
			imagetest.QemuImg(t, "convert", "-O", "vhdx", "-o", c.opts, src, p)
			want := imagetest.QemuRaw(t, p, "vhdx")
			d, err := openPath(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info := d.Info()
			fixed := strings.HasPrefix(c.opts, "subformat=fixed")
			if info.BlockSize != c.bs || info.LogicalSector != 512 || info.HasParent || info.LogReplayed ||
				info.LeaveAllocated != fixed || info.Page83 == (guid{}).String() {
				t.Fatalf("info %+v", info)
			}
			checkRead(t, d, want)
			imagetest.CheckZeros(t, imagetest.AllExtents(t, d, d.Size()), want)
		})
	}
}

// TestQemuIOWrites: qemu-io writes into an empty dynamic disk, and the
// disk is compared with qemu-img after each write; the blocks no write
// touched must be holes, those written with data must be data.
func TestQemuIOWrites(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "w.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", p, "9M")
	written := map[int64]bool{}
	for _, w := range []struct {
		cmd    string
		blocks []int64
	}{{"write -P 0x5a 0 512", []int64{0}}, {"write -P 0xa5 4607k 3k", []int64{4}}, {"write -z 6M 1M", nil}, {"write -P 0x11 8M 700k", []int64{8}}} {
		imagetest.QemuIO(t, "vhdx", p, w.cmd)
		for _, b := range w.blocks {
			written[b] = true
		}
		want := imagetest.QemuRaw(t, p, "vhdx")
		d, err := openPath(t, p)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, d, want)
		exts := imagetest.AllExtents(t, d, d.Size())
		imagetest.CheckZeros(t, exts, want)
		for _, e := range exts {
			for b := e.Off >> 20; b < (e.End()+(1<<20)-1)>>20; b++ {
				// Block 6 (write -z) may be either: qemu's vhdx driver
				// writes the zeros into an allocated block.
				if data := !e.Hole && !e.Zero; data != written[b] && b != 6 {
					t.Fatalf("after %q: block %d data %v, written %v (%+v)", w.cmd, b, data, written[b], e)
				}
			}
		}
		d.Close()
	}
}

// TestChunkBoundary: a 5 GiB disk of 1 MiB blocks has two chunks (4096
// payload blocks each, then a sector bitmap entry): qemu-io writes on
// both sides of the boundary, and what we read there is what it wrote,
// the blocks around it holes. (The disk is not compared whole with
// qemu-img: 5 GiB is too much for a unit test.)
func TestChunkBoundary(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "big.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", p, "5G")
	writes := []struct {
		off, n int64
		pat    byte
	}{{4095 << 20, 1 << 20, 0x11}, {4096 << 20, 1 << 20, 0x22}, {5119<<20 + 512<<10, 4096, 0x33}}
	for _, w := range writes {
		imagetest.QemuIO(t, "vhdx", p, fmt.Sprintf("write -P %#x %d %d", w.pat, w.off, w.n))
	}
	d, err := openPath(t, p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Info().ChunkRatio != 4096 {
		t.Fatalf("chunk ratio %d", d.Info().ChunkRatio)
	}
	for _, w := range writes {
		got := make([]byte, w.n+2*4096)
		if _, err := d.ReadAt(got, w.off-4096); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		for i, c := range got {
			at := w.off - 4096 + int64(i)
			exp := byte(0)
			for _, x := range writes {
				if at >= x.off && at < x.off+x.n {
					exp = x.pat
				}
			}
			if c != exp {
				t.Fatalf("byte at %#x is %#x, qemu-io wrote %#x", at, c, exp)
			}
		}
	}
	exts, err := d.Extents(4094<<20, 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []alloc.Extent{{Off: 4094 << 20, Len: 1 << 20, Hole: true, Zero: true}, {Off: 4095 << 20, Len: 2 << 20}}
	if !slices.Equal(exts, want) {
		t.Fatalf("extents %v, want %v", exts, want)
	}
}

// TestLogicalSector4096: qemu makes only 512-byte logical sectors (and
// refuses to open others: "Operation not supported"); the test changes the
// metadata of a disk qemu made to 4096-byte logical and physical sectors
// (the chunk ratio changes with it) and compares with what qemu-img read
// before the change: the sector size moves no byte of a block that is
// fully present or absent.
func TestLogicalSector4096(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "4k.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", p, "4M")
	imagetest.QemuIO(t, "vhdx", p, "write -P 0x5a 4096 8192", "write -P 0x33 2M 1M")
	want := imagetest.QemuRaw(t, p, "vhdx")
	v := loadVHDX(t, p)
	for _, id := range []guid{metaLogicalSector, metaPhysicalSector} {
		at, _ := v.metaItem(id)
		le.PutUint32(v.b[at:], 4096)
	}
	v.write(t, p)
	d, err := openPath(t, p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if i := d.Info(); i.LogicalSector != 4096 || i.PhysicalSector != 4096 || i.ChunkRatio != 1<<15 {
		t.Fatalf("info %+v", i)
	}
	checkRead(t, d, want)
}
