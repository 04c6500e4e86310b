package ufs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"
	"testing"
)

// smallImage returns testdata/small.img (see testdata/mkufs.sh).
func smallImage(t testing.TB) []byte {
	t.Helper()
	fh, err := os.Open("testdata/small.img.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	z, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll opens img and reads every file and directory, returning the
// first error.
func readAll(img []byte) error {
	f, err := New(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		return err
	}
	return iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&iofs.ModeSymlink != 0 {
			_, err = f.ReadLink(p)
			return err
		}
		if !d.IsDir() {
			_, err = iofs.ReadFile(f, p)
		}
		return err
	})
}

func TestSmallImage(t *testing.T) {
	img := smallImage(t)
	if err := readAll(img); err != nil {
		t.Fatal(err)
	}
	f, _ := New(bytes.NewReader(img), int64(len(img)))
	b, err := iofs.ReadFile(f, "indirect")
	if err != nil || !bytes.HasPrefix(b, []byte("1\n2\n3\n")) || !bytes.HasSuffix(b, []byte("\n12000\n")) {
		t.Errorf("indirect: %d bytes, %v", len(b), err)
	}
}

func TestCorrupt(t *testing.T) {
	base := smallImage(t)
	f, err := New(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	inoOff := func(name string) int64 {
		info, err := f.Lstat(name)
		if err != nil {
			t.Fatal(err)
		}
		off, err := f.inodeOff(info.Sys().(uint64))
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	root, _ := f.readInode(rootIno)
	rootDir := root.DB[0] * f.fsize
	indirect := inoOff("indirect")
	sb := int64(sbUFS1Off) // makefs' UFS2 superblock
	put32 := func(off int64, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	put64 := func(off int64, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"bad magic", func(b []byte) []byte { put32(sb+1372, 0xdead)(b); return b }, "superblock at 0x2000: bad magic 0xdead"},
		{"big-endian", func(b []byte) []byte { binary.BigEndian.PutUint32(b[sb+1372:], magicUFS2); return b }, "big-endian"},
		{"bad block size", func(b []byte) []byte { put32(sb+48, 3000)(b); return b }, "superblock at 0x2000: bad block size 3000"},
		{"inode table beyond the cg", func(b []byte) []byte { put32(sb+16, 1<<20)(b); return b }, "superblock at 0x2000: inode blocks at fragment 1048576"},
		{"wrong sblockloc", func(b []byte) []byte { put64(sb+1000, 65536)(b); return b }, "says it belongs at 0x10000"},
		{"truncated", func(b []byte) []byte { return b[:128<<10] }, "larger than the device's 131072 bytes"},
		{"all zeros", func(b []byte) []byte { return make([]byte, len(b)) }, "bad magic"},
		{"direct pointer beyond the volume", func(b []byte) []byte { put64(indirect+112, 123456)(b); return b }, "at " + hex(indirect+112) + ": block 123456 beyond the volume"},
		{"indirect pointer beyond the volume", func(b []byte) []byte { put64(indirect+208, 1<<40)(b); return b }, "at " + hex(indirect+208) + ": block 1099511627776 beyond the volume"},
		{"negative pointer", func(b []byte) []byte { put64(indirect+120, 1<<63)(b); return b }, "beyond the volume"},
		{"huge size", func(b []byte) []byte { put64(indirect+16, 1<<62)(b); return b }, "size 4611686018427387904 beyond"},
		{"zero reclen", func(b []byte) []byte { b[rootDir+4], b[rootDir+5] = 0, 0; return b }, "inode 2 directory at " + hex(rootDir) + ": bad record length 0"},
		{"reclen past the chunk", func(b []byte) []byte { b[rootDir+4], b[rootDir+5] = 0, 4; return b }, "bad record length 1024"},
		{"name longer than record", func(b []byte) []byte { b[rootDir+7] = 200; return b }, "name of 200 bytes in a 12-byte record"},
		{"directory size", func(b []byte) []byte { put64(root.Off+16, 100)(b); return b }, "size 100 is not a multiple of 512"},
		{"entry inode out of range", func(b []byte) []byte { put32(rootDir+24, 1<<30)(b); return b }, "inode 1073741824 at 0x0: inode number outside"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := readAll(c.edit(bytes.Clone(base)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "ufs: ") {
				t.Errorf("error %q, want %q", err, c.want)
			}
		})
	}
}

func hex(n int64) string { return fmt.Sprintf("%#x", n) }
