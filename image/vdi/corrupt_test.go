package vdi

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// sample makes a small dynamic VDI with qemu-img: 3 MiB, blocks 0 and 2
// allocated, block 1 free.
func sample(t testing.TB) []byte {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "s.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(3 << 20)
	f.WriteAt(bytes.Repeat([]byte("vdi!"), 1000), 100)
	f.WriteAt(bytes.Repeat([]byte("two!"), 1000), 2<<20+5000)
	f.Close()
	p := filepath.Join(dir, "s.vdi")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vdi", src, p)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll opens b with New and reads the whole disk, returning the first
// error; more than 20 s is a hang.
func readAll(t *testing.T, b []byte) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		img, err := New(bytes.NewReader(b), int64(len(b)), nil, "")
		if err != nil {
			done <- err
			return
		}
		defer img.Close()
		buf := make([]byte, 1<<20)
		for off := int64(0); off < min(img.Size(), 64<<20); off += int64(len(buf)) {
			if _, err := img.ReadAt(buf, off); err != nil && err != io.EOF {
				done <- err
				return
			}
			if _, err := img.Extents(off, int64(len(buf))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("hang")
		return nil
	}
}

func TestCorrupt(t *testing.T) {
	good := sample(t)
	if err := readAll(t, good); err != nil {
		t.Fatalf("the sample itself: %v", err)
	}
	le := binary.LittleEndian
	bmap := int(le.Uint32(good[offBlocksMap:]))
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[off:], v); return b }
	}
	for _, c := range []struct {
		name   string
		mangle func([]byte) []byte
		want   string // in the error; "" for no error
	}{
		{"all zeros", func(b []byte) []byte { return make([]byte, len(b)) }, "signature"},
		{"truncated header", func(b []byte) []byte { return b[:0x100] }, "shorter than a VDI header"},
		{"empty", func(b []byte) []byte { return nil }, "shorter than a VDI header"},
		{"bad signature", put32(sigOffset, 0xbeda1070), "signature"},
		{"version 0.0", put32(versionOff, 0), "0.0 not supported"},
		{"version 1.2", put32(versionOff, 0x00010002), "1.2 not supported"},
		{"header size small", put32(offSize, 0x100), "header size"},
		{"header size huge", put32(offSize, 0xffffffff), "header size"},
		{"undo image", put32(offType, TypeUndo), "undo images are not supported"},
		{"unknown type", put32(offType, 9), "image type"},
		{"sector size 4096", put32(offSector, 4096), "sector size"},
		{"block size zero", put32(offBlockSize, 0), "block size"},
		{"block size not power of two", put32(offBlockSize, 3<<19), "block size"},
		{"block size 2 GiB", put32(offBlockSize, 1<<31), "block size"},
		{"block extra odd", put32(offExtra, 100), "extra data"},
		{"disk size past blocks", func(b []byte) []byte { le.PutUint64(b[offDiskSize:], 3<<20+1); return b }, "disk size"},
		{"disk size negative", func(b []byte) []byte { le.PutUint64(b[offDiskSize:], 1<<63); return b }, "disk size"},
		{"huge block count", put32(offBlocks, 0xffffffff), "past the end of the file"},
		{"allocated over blocks", put32(offAllocated, 4), "allocated blocks"},
		{"block map in the header", put32(offBlocksMap, 0x100), "block map offset"},
		{"block map unaligned", put32(offBlocksMap, 0x201), "block map offset"},
		{"block map past the end", put32(offBlocksMap, 0x7ffffe00), "past the end of the file"},
		{"data over the block map", put32(offData, 0x200), "data offset"},
		{"entry past the block count", put32(bmap+4, 3), "block map entry 1"},
		{"entry huge", put32(bmap, 0xfffffff0), "block map entry 0"},
		{"block past the end of the file", func(b []byte) []byte { return b[:len(b)-(1<<20)-512] }, "past the end of the file"},
		{"diff without parent UUID", put32(offType, TypeDiff), "no parent UUID"},
		{"diff its own parent", func(b []byte) []byte {
			le.PutUint32(b[offType:], TypeDiff)
			copy(b[offLink:offLink+16], b[offUUID:offUUID+16])
			return b
		}, "its own parent"},
		{"diff without opener", func(b []byte) []byte {
			le.PutUint32(b[offType:], TypeDiff)
			b[offLink] = 1
			return b
		}, "no opener"},
		{"zero block", put32(bmap, blockZero), ""},
		{"free block", put32(bmap+8, blockFree), ""},
		{"last block short", func(b []byte) []byte { return b[:len(b)-4096] }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.mangle(bytes.Clone(good))
			err := readAll(t, b)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case c.want != "" && err == nil:
				t.Fatalf("no error, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "vdi: ") {
				t.Errorf("error %q does not say vdi", err)
			}
		})
	}
}
