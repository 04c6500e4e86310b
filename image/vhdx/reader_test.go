package vhdx

import (
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
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
			qemuImg(t, "convert", "-O", "vhdx", "-o", c.opts, src, p)
			want := qemuRaw(t, p, "vhdx")
			d, err := openPath(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info := d.Info()
			if info.BlockSize != c.bs || info.LogicalSector != 512 || info.HasParent || info.LogReplayed {
				t.Fatalf("info %+v", info)
			}
			checkRead(t, d, want)
			checkHolesZero(t, allExtents(t, d, d.Size()), want)
		})
	}
}

// TestQemuIOWrites: qemu-io writes into an empty dynamic disk, and the
// disk is compared with qemu-img after each write; the blocks no write
// touched must be holes, those written with data must be data.
func TestQemuIOWrites(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "w.vhdx")
	qemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", p, "9M")
	written := map[int64]bool{}
	for _, w := range []struct {
		cmd    string
		blocks []int64
	}{{"write -P 0x5a 0 512", []int64{0}}, {"write -P 0xa5 4607k 3k", []int64{4}}, {"write -z 6M 1M", nil}, {"write -P 0x11 8M 700k", []int64{8}}} {
		qemuIO(t, "vhdx", p, w.cmd)
		for _, b := range w.blocks {
			written[b] = true
		}
		want := qemuRaw(t, p, "vhdx")
		d, err := openPath(t, p)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, d, want)
		exts := allExtents(t, d, d.Size())
		checkHolesZero(t, exts, want)
		for _, e := range exts {
			for b := e.Off >> 20; b < (e.End()+(1<<20)-1)>>20; b++ {
				if data := !e.Hole && !e.Zero; data != written[b] && b != 6 {
					t.Fatalf("after %q: block %d data %v, written %v (%+v)", w.cmd, b, data, written[b], e)
				}
			}
		}
		d.Close()
	}
}
