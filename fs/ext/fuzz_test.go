package ext

import (
	"bytes"
	"encoding/binary"
	"io"
	iofs "io/fs"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The fuzz targets are seeded from the images testdata/mkfixtures.sh
// builds; only a panic or a hang fails them.

var fixtures = []string{"small-ext4.img.gz", "small-ext4-inline.img.gz", "small-ext2.img.gz"}

func loadFixture(t testing.TB, name string) []byte {
	t.Helper()
	return testutil.Gunzip(t, filepath.Join("testdata", name))
}

// walkAll opens b and walks it, calling every accessor; errors and
// warnings are expected, panics and hangs are not.
func walkAll(b []byte) {
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return
	}
	f.SetWarn(func(error) {})
	_ = f.Info()
	_ = f.SuperblockChecksumOK()
	_ = f.Damage().Complete()
	_ = f.Walk(func(e fs.Entry) error {
		for _, x := range e.Extents {
			if x.Len <= 0 {
				panic("empty extent in " + e.Path)
			}
		}
		return nil
	})
	for _, n := range []uint32{1, 2, 7, 8, 11, 12, 13, 14} {
		if in, err := f.Inode(n); err == nil {
			_, _ = f.Extents(in)
		}
	}
	readSome(f)
}

// readSome reads a few paths of the fixtures through the io/fs API and
// walks the tree, reading at most a few files.
func readSome(f *FS) {
	for _, p := range []string{"hello.txt", "etc/conf", "dir/sub/file", "fast", "slow", "fifo", "inline100", "big"} {
		readLimited(f, p)
		_, _ = f.Lstat(p)
		_, _ = f.ReadLink(p)
	}
	n := 0
	_ = iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil || n > 64 {
			return iofs.SkipDir
		}
		n++
		if !d.IsDir() {
			readLimited(f, p)
		}
		return nil
	})
}

// readLimited reads up to 1 MiB of a file: fs.ReadFile would allocate
// the size a damaged inode claims.
func readLimited(f iofs.FS, p string) {
	fl, err := f.Open(p)
	if err != nil {
		return
	}
	defer fl.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(fl, 1<<20))
	if ra, ok := fl.(io.ReaderAt); ok {
		_, _ = ra.ReadAt(make([]byte, 4096), 1<<40)
	}
}

// FuzzWalk mutates whole images. Go's fuzzing engine runs inputs of this
// size (256-512 KiB) only a few times a second, so FuzzWalkPatch, which
// patches the same images at any offset, does most of the exploring.
func FuzzWalk(f *testing.F) {
	for _, name := range fixtures {
		f.Add(loadFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) { walkAll(b) })
}

func FuzzSuperblock(f *testing.F) {
	base := loadFixture(f, fixtures[0])
	for _, name := range fixtures {
		img := loadFixture(f, name)
		f.Add(img[superblockOff : superblockOff+superblockSize])
	}
	f.Fuzz(func(t *testing.T, sb []byte) {
		if s, err := parseSuperblock(sb); err == nil {
			_ = s.check(int64(len(base)))
			_ = s.fsType()
			_ = s.label()
			_ = s.uuidString()
		}
		img := bytes.Clone(base)
		copy(img[superblockOff:superblockOff+superblockSize], sb)
		walkAll(img)
	})
}

// inodeSpan returns the offset and size of inode n in a fixture image.
func inodeSpan(t testing.TB, img []byte, n uint32) (int64, int) {
	t.Helper()
	f, err := New(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return f.inodeOff(n), int(f.sb.inodeSize)
}

func FuzzInode(f *testing.F) {
	base := loadFixture(f, fixtures[0])
	for _, name := range fixtures {
		img := loadFixture(f, name)
		for _, n := range []uint32{2, 12, 13, 14, 41, 43, 44} {
			off, size := inodeSpan(f, img, n)
			f.Add(img[off:off+int64(size)], uint8(n))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		img := bytes.Clone(base)
		n := uint32(which)%44 + 1
		off, size := inodeSpan(t, img, n)
		copy(img[off:off+int64(size)], raw)
		in := new(Inode)
		if decodeInode(n, off, raw, in) == nil {
			_ = in.IsDir() || in.IsRegular() || in.IsSymlink() || in.HasExtents() || in.HasInlineData()
		}
		walkAll(img)
	})
}

func FuzzExtentTree(f *testing.F) {
	base := loadFixture(f, fixtures[0])
	off, _ := inodeSpan(f, base, 14) // /fragmented: a depth-1 tree
	root := base[off+iBlockOff : off+iBlockOff+iBlockLen]
	leaf := binary.LittleEndian.Uint32(root[extentHdrLen+4:])
	f.Add(bytes.Clone(root), bytes.Clone(base[int64(leaf)*1024:int64(leaf+1)*1024]))
	f.Fuzz(func(t *testing.T, rootB, node []byte) {
		img := bytes.Clone(base)
		copy(img[off+iBlockOff:off+iBlockOff+iBlockLen], rootB)
		copy(img[int64(leaf)*1024:int64(leaf+1)*1024], node)
		fsys, err := New(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		in, err := fsys.Inode(14)
		if err != nil {
			t.Fatal(err)
		}
		ext, _ := fsys.Extents(in)
		for _, x := range ext {
			if x.Off < 0 || x.End() > int64(len(img)) || x.Len <= 0 {
				t.Fatalf("extent %+v outside the %d-byte image", x, len(img))
			}
		}
	})
}

func FuzzDirBlock(f *testing.F) {
	for _, name := range fixtures {
		img := loadFixture(f, name)
		fsys, err := New(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			f.Fatal(err)
		}
		fsys.SetWarn(func(error) {})
		_ = fsys.Walk(func(e fs.Entry) error {
			if e.Kind == bmap.KindDir {
				for _, x := range e.Extents {
					if x.Role == bmap.RoleData || x.Role == bmap.RoleInline {
						f.Add(img[x.Off:x.End()], true)
					}
				}
			}
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, b []byte, filetype bool) {
		n := 0
		_ = parseDirBlock(b, 0, filetype, 1024, func(d dirent) error {
			if len(d.name) == 0 || d.ino == 0 {
				t.Fatalf("bad entry %+v", d)
			}
			n++
			return nil
		})
		if n > len(b)/direntHdrLen {
			t.Fatalf("%d entries from %d bytes", n, len(b))
		}
	})
}

// FuzzWalkPatch walks the fixture images with a patch written at any
// offset: the fuzzer handles these small inputs much faster than whole
// images, so it reaches deeper into the walk.
func FuzzWalkPatch(f *testing.F) {
	var imgs [][]byte
	for _, name := range fixtures {
		imgs = append(imgs, loadFixture(f, name))
	}
	f.Add(uint8(0), uint32(superblockOff+0x38), []byte{0x53, 0xEF})
	f.Add(uint8(0), uint32(0x1800), []byte{0, 0, 0, 0, 0, 0})
	f.Add(uint8(1), uint32(0xbb28), []byte{1, 2, 3, 4})
	f.Add(uint8(2), uint32(0xc400), []byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, which uint8, off uint32, patch []byte) {
		base := imgs[int(which)%len(imgs)]
		img := bytes.Clone(base)
		if int(off%uint32(len(img))) < len(img) {
			copy(img[off%uint32(len(img)):], patch)
		}
		walkAll(img)
	})
}

// FuzzWalkTruncated walks the fixture images cut short at any length
// and patched at any offset: truncated devices, backup superblock
// probing, damaged descriptors.
func FuzzWalkTruncated(f *testing.F) {
	var imgs [][]byte
	for _, name := range fixtures {
		imgs = append(imgs, loadFixture(f, name))
	}
	f.Add(uint8(0), uint32(200<<10), uint32(superblockOff), []byte{0, 0, 0, 0})
	f.Add(uint8(1), uint32(100<<10), uint32(0x800), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(2), uint32(300<<10), uint32(superblockOff+0x04), []byte{0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, which uint8, cut, off uint32, patch []byte) {
		base := imgs[int(which)%len(imgs)]
		img := bytes.Clone(base[:int(cut)%(len(base)+1)])
		if len(img) > 0 {
			copy(img[int(off)%len(img):], patch)
		}
		walkAll(img)
	})
}
