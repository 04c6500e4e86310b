package ufs

import (
	"bytes"
	"io"
	iofs "io/fs"
	"strings"
	"testing"
)

// The fuzz targets are seeded from testdata/small.img; only a panic, a
// hang or a runaway allocation fails them.

func FuzzSuperblock(f *testing.F) {
	img := smallImage(f)
	f.Add(img[sbUFS1Off : sbUFS1Off+sbSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < sbSize {
			return
		}
		sb, err := parseSuperblock(b[:sbSize], sbUFS1Off, 1<<30)
		if err == nil {
			sb.inodeFrag(uint64(sb.ipg) * uint64(sb.ncg-1))
			sb.cgStart(sb.ncg - 1)
		}
	})
}

func FuzzInode(f *testing.F) {
	img := smallImage(f)
	fsys, err := New(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{".", "indirect", "frag", "short", "long"} {
		info, err := fsys.Lstat(name)
		if err != nil {
			f.Fatal(err)
		}
		off, _ := fsys.inodeOff(info.Sys().(uint64))
		f.Add(img[off : off+256])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 256 {
			return
		}
		in := &Inode{Num: 3, Off: 0}
		if fsys.parseInode(b[:256], in) != nil {
			return
		}
		if in.IsSymlink() {
			fsys.linkTarget(in)
		}
		if in.IsDir() {
			fsys.scanDir(in, func(dirent) error { return nil })
		}
		if c, err := fsys.contents(in); err == nil {
			c.ReadAt(make([]byte, 4096), max(in.Size-4096, 0))
		}
		fsys.mapInode(in, true)
	})
}

func FuzzDirChunk(f *testing.F) {
	img := smallImage(f)
	fsys, _ := New(bytes.NewReader(img), int64(len(img)))
	root, err := fsys.readInode(rootIno)
	if err != nil {
		f.Fatal(err)
	}
	off := root.DB[0] * fsys.fsize
	f.Add(img[off : off+dirBlkSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		parseDirChunk(b, rootIno, 0, func(dirent) error { return nil })
	})
}

// FuzzImage overlays the fuzzer's bytes on the first 64 KiB of the image
// (superblock, cylinder group, inodes, directories) and reads the whole
// tree (at most 100 entries, 8 levels deep: a directory loop makes
// WalkDir resolve ever longer paths).
func FuzzImage(f *testing.F) {
	img := smallImage(f)
	f.Add(img[:48<<10])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		m := bytes.Clone(img)
		copy(m, b)
		fsys, err := New(bytes.NewReader(m), int64(len(m)))
		if err != nil {
			return
		}
		n := 0
		iofs.WalkDir(fsys, ".", func(p string, d iofs.DirEntry, err error) error {
			if n++; err != nil || n > 100 || strings.Count(p, "/") > 8 {
				return iofs.SkipDir
			}
			fsys.ReadLink(p)
			if fh, err := fsys.Open(p); err == nil {
				io.Copy(io.Discard, io.LimitReader(fh.(io.Reader), 1<<20))
				fh.Close()
			}
			return nil
		})
	})
}
