package vdi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestMapFile checks MapFile on VDIs qemu-img made, dynamic and static:
// every run in the file holds the guest's bytes (qemu-img convert -O raw)
// at the offset qemu-img map gives, zero runs read as zeros, asked whole
// and in odd steps that cross blocks.
func TestMapFile(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 5<<20+3*512, 5)
	for _, c := range []struct {
		name string
		opts []string
	}{
		{"dynamic", nil},
		{"static", []string{"-o", "static=on"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vdi")
			imagetest.QemuImg(t, append(append([]string{"convert", "-f", "raw", "-O", "vdi"}, c.opts...), src, p)...)
			want := imagetest.QemuRaw(t, p, "vdi")
			qm := imagetest.QemuMap(t, p, "vdi")
			img, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			imagetest.CheckMapFiles(t, img, want, qm, true)
		})
	}
}

// TestMapFileTruncated: a dynamic VDI cut short so that its last
// allocated block starts past the end of the file: MapFile of that block
// fails with a FormatError, as ReadAt does, and the blocks before it still
// map.
func TestMapFileTruncated(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 5<<20, 9)
	p := filepath.Join(dir, "cut.vdi")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vdi", src, p)
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	last, guest := uint32(0), int64(-1)
	for i, e := range img.bmap {
		if e != blockFree && e != blockZero && e >= last {
			last, guest = e, int64(i)*img.h.blockSize
		}
	}
	img.Close()
	if guest < 0 {
		t.Fatal("no allocated block")
	}
	start := img.h.blockOffset(last)
	if err := os.Truncate(p, start); err != nil {
		t.Fatal(err)
	}
	img, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	_, rerr := img.ReadAt(make([]byte, 4096), guest)
	_, merr := img.MapFile(guest, 4096)
	var fe *diskerr.FormatError
	if rerr == nil || !errors.As(merr, &fe) {
		t.Fatalf("block past the end: ReadAt %v, MapFile %v", rerr, merr)
	}
	for i, e := range img.bmap {
		if e != blockFree && e != blockZero && e != last {
			r, err := img.MapFile(int64(i)*img.h.blockSize, 4096)
			if err != nil || r.File == nil {
				t.Fatalf("block %d: MapFile %+v, %v", i, r, err)
			}
			break
		}
	}
}
