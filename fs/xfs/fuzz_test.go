package xfs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The fuzz targets are seeded from testdata/*.seed.gz, which TestSeeds
// -update makes from small images mkfs.xfs builds from a protofile: only
// the 1 KiB pieces that a walk and a few reads through io/fs touch, in a
// compact form ("XFZ1", the device's size, the pieces' count and numbers,
// then their bytes), so that a seed stays far under 64 KiB and the fuzzer
// mutates metadata, not megabytes of zeros. A device is read as zeros
// where no piece is given. Only a panic or a hang fails.

var update = flag.Bool("update", false, "rebuild the fuzz seeds in testdata (needs mkfs.xfs)")

const (
	seedMagic     = "XFZ1"
	seedPiece     = 1024
	maxFuzzDevice = 64 << 20
)

// pieces is a sparse device: 1 KiB pieces by number, zeros elsewhere.
type pieces struct {
	m    map[int64][]byte
	size int64
}

func (d *pieces) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), d.size-off))
	for i := 0; i < n; {
		o := off + int64(i)
		k := min(n-i, int(seedPiece-o%seedPiece))
		if b, ok := d.m[o/seedPiece]; ok {
			copy(p[i:i+k], b[o%seedPiece:])
		} else {
			clear(p[i : i+k])
		}
		i += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// device decodes a fuzz input: the compact form, or else raw bytes.
func device(b []byte) *pieces {
	d := &pieces{m: map[int64][]byte{}}
	if len(b) >= 10 && string(b[:4]) == seedMagic {
		d.size = min(int64(binary.BigEndian.Uint32(b[4:])), maxFuzzDevice)
		n := int(binary.BigEndian.Uint16(b[8:]))
		b = b[10:]
		if n*4 > len(b) {
			n = len(b) / 4
		}
		data := b[n*4:]
		for i := range n {
			if len(data) < seedPiece {
				break
			}
			d.m[int64(binary.BigEndian.Uint32(b[i*4:]))] = data[:seedPiece]
			data = data[seedPiece:]
		}
		return d
	}
	for i := 0; i < len(b); i += seedPiece {
		piece := make([]byte, seedPiece)
		copy(piece, b[i:])
		d.m[int64(i/seedPiece)] = piece
	}
	d.size = int64(len(b))
	return d
}

// recorder notes the pieces read from r.
type recorder struct {
	r    io.ReaderAt
	seen map[int64]bool
}

func (c *recorder) ReadAt(p []byte, off int64) (int, error) {
	for o := off / seedPiece * seedPiece; o < off+int64(len(p)); o += seedPiece {
		c.seen[o/seedPiece] = true
	}
	return c.r.ReadAt(p, off)
}

// makeSeed builds an image with mkfs.xfs and keeps what a walk reads.
func makeSeed(t *testing.T, name string, opts ...string) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello, xfs\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "etc/os-release"), []byte("ID=rocky\nVERSION_ID=\"9.3\"\n"), 0o644))
	for i := range 60 {
		p := filepath.Join(src, "small", fmt.Sprintf("file-with-a-long-name-%02d", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, bytes.Repeat([]byte{'x'}, i*37), 0o644))
	}
	must(t, os.Symlink("hello.txt", filepath.Join(src, "short-link")))
	must(t, os.Symlink(longLink, filepath.Join(src, "long-link")))
	img := mkxfs(t, src, 20<<20, append([]string{"-b", "size=1024", "-d", "agcount=1", "-L", name}, opts...)...)
	raw, err := os.ReadFile(img)
	must(t, err)
	rec := &recorder{r: bytes.NewReader(raw), seen: map[int64]bool{}}
	f, err := New(rec, int64(len(raw)))
	must(t, err)
	// Read structures piece by piece, not in the cache's 64 KiB chunks.
	f.cache = chunkcache.New(rec, int64(len(raw)), seedPiece, 1<<16)
	must(t, f.Walk(func(fs.Entry) error { return nil }))
	readSome(f)
	nums := slices.Sorted(maps.Keys(rec.seen))
	var out bytes.Buffer
	out.WriteString(seedMagic)
	binary.Write(&out, binary.BigEndian, uint32(len(raw)))
	binary.Write(&out, binary.BigEndian, uint16(len(nums)))
	for _, n := range nums {
		binary.Write(&out, binary.BigEndian, uint32(n))
	}
	for _, n := range nums {
		out.Write(raw[n*seedPiece : (n+1)*seedPiece])
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(out.Bytes())
	must(t, zw.Close())
	must(t, os.WriteFile(filepath.Join("testdata", name+".seed.gz"), gz.Bytes(), 0o644))
	t.Logf("%s: %d pieces, %d bytes, %d gzipped", name, len(nums), out.Len(), gz.Len())
}

func seeds(t testing.TB) [][]byte {
	t.Helper()
	ms, err := filepath.Glob("testdata/*.seed.gz")
	must(t, err)
	if len(ms) == 0 {
		t.Fatal("no fuzz seeds in testdata (go test -run TestSeeds -update)")
	}
	var out [][]byte
	for _, m := range ms {
		out = append(out, testutil.Gunzip(t, m))
	}
	return out
}

// readSome reads a few paths through the io/fs API and walks the tree,
// reading at most a few files, bounded.
func readSome(f *FS) {
	for _, p := range []string{"hello.txt", "etc/os-release", "dir/sub/up-link", "short-link", "dir/long-link", "fifo", "small/f03", "bigdir"} {
		if fh, err := f.Open(p); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(fh.(io.Reader), 1<<20))
			fh.Close()
		}
		_, _ = f.Lstat(p)
		_, _ = f.ReadLink(p)
	}
	n := 0
	_ = iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if n++; n > 200 {
			return iofs.SkipAll
		}
		return nil
	})
}

// walkAll opens b and calls every accessor.
func walkAll(b []byte) {
	d := device(b)
	f, err := New(d, d.size)
	if err != nil {
		return
	}
	f.SetWarn(func(error) {})
	_ = f.Info()
	_ = f.SuperblockChecksumOK()
	_ = f.Walk(func(e fs.Entry) error {
		for _, x := range e.Extents {
			if x.Len <= 0 {
				panic("empty extent in " + e.Path)
			}
		}
		return nil
	})
	readSome(f)
}

func FuzzWalk(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		walkAll(b)
	})
}

func FuzzSuperblock(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s[:512])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := parseSuperblock(b, 1<<40)
		if err == nil {
			_ = sb.label() + sb.uuidString()
			_ = sb.hasFtype()
		}
	})
}

// seedFS opens the first seed, for the targets that fuzz one structure
// read from it.
// seedFS opens the version 5 seed.
func seedFS(t testing.TB) (*FS, *pieces) {
	for _, s := range seeds(t) {
		d := device(s)
		fsys, err := New(d, d.size)
		must(t, err)
		if fsys.Version() == 5 {
			return fsys, d
		}
	}
	t.Fatal("no version 5 seed")
	return nil, nil
}

// bytesAt reads n bytes of d at off.
func bytesAt(d *pieces, off int64, n int) []byte {
	b := make([]byte, n)
	_, _ = d.ReadAt(b, off)
	return b
}

// FuzzInode decodes a fuzzed inode as the root inode's, then maps it
// (extent list or bmbt read from the seed image) and lists it.
func FuzzInode(f *testing.F) {
	fsys, d := seedFS(f)
	off, err := fsys.inodeOff(fsys.sb.rootIno)
	must(f, err)
	isz := int64(fsys.sb.inodeSize)
	for i := int64(0); i < 8; i++ {
		f.Add(bytesAt(d, off+i*isz, int(isz)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < int(isz) {
			return
		}
		var in Inode
		// Fuzz the fields behind the checksum too: mend it.
		b = bytes.Clone(b[:isz])
		fixInodeCRC(b, 0, int(isz))
		if err := fsys.parseInode(fsys.sb.rootIno, off, b[:isz], &in); err != nil {
			return
		}
		_ = fsys.forkFuzz(&in)
	})
}

// forkFuzz maps and lists in, ignoring errors.
func (f *FS) forkFuzz(in *Inode) error {
	m := f.newMapper()
	_ = m.mapInode(in)
	if in.IsDir() {
		_ = f.scanDir(in, f.newMapper(), func(dirent) error { return nil })
	}
	if in.IsSymlink() {
		_, _ = f.linkTarget(in)
	}
	return nil
}

// FuzzDirBlock parses fuzzed directory blocks and shortform forks.
func FuzzDirBlock(f *testing.F) {
	fsys, d := seedFS(f)
	bs := int(fsys.dirBS)
	for n, p := range d.m {
		switch binary.BigEndian.Uint32(p) {
		case xdb3Magic, xdd3Magic, xd2bMagic, xd2dMagic:
			f.Add(bytesAt(d, n*seedPiece, bs))
		}
	}
	f.Add(bytes.Repeat([]byte{0xff}, bs))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= bs {
			// Mend the CRC and take the owner the block names, to reach
			// the entries behind those checks.
			blk := bytes.Clone(b[:bs])
			clear(blk[dirCRCOff : dirCRCOff+4])
			binary.LittleEndian.PutUint32(blk[dirCRCOff:], crc32.Checksum(blk, castagnoli))
			_ = fsys.parseDataBlock(blk, 0, binary.BigEndian.Uint64(blk[40:]), 0, func(dirent) error { return nil })
		}
		_, _ = parseShortform(b, 0, 128, true, func(dirent) error { return nil })
		_, _ = parseShortform(b, 0, 128, false, func(dirent) error { return nil })
	})
}

// FuzzBmbt maps a fuzzed data fork in btree format (and as an extent
// list), whose blocks are read from the seed image.
func FuzzBmbt(f *testing.F) {
	fsys, _ := seedFS(f)
	forkLen := int(fsys.sb.inodeSize) - coreSizeV3
	if !fsys.sb.v5() {
		forkLen = int(fsys.sb.inodeSize) - coreSizeV2
	}
	root := make([]byte, forkLen)
	binary.BigEndian.PutUint16(root, 1)
	binary.BigEndian.PutUint16(root[2:], 1)
	binary.BigEndian.PutUint64(root[4+(forkLen-4)/16*8:], 20)
	f.Add(root)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []uint8{fmtBtree, fmtExtents} {
			in := &Inode{Num: 131, Mode: modeReg | 0o644, Format: format, Size: 1 << 30, Nextents: uint64(len(b) / 16), fork: b, forkOff: 0}
			m := fsys.newMapper()
			_ = m.mapInode(in)
		}
	})
}

// TestSeeds keeps the checked-in seeds in step with the reader: each opens
// and walks without a warning, with the shapes the fuzzers need. With
// -update it rebuilds them first.
func TestSeeds(t *testing.T) {
	if *update {
		makeSeed(t, "v5", "-m", "uuid=11111111-2222-3333-4444-555555555555")
		makeSeed(t, "v4", "-m", "crc=0,uuid=11111111-2222-3333-4444-555555555555", "-n", "ftype=0")
	}
	for _, s := range seeds(t) {
		if len(s) > 64<<10 {
			t.Errorf("seed of %d bytes: keep seeds under 64 KiB", len(s))
		}
		d := device(s)
		f, err := New(d, d.size)
		must(t, err)
		var warns []error
		f.SetWarn(func(err error) { warns = append(warns, err) })
		files := 0
		must(t, f.Walk(func(e fs.Entry) error {
			if e.Kind == bmap.KindFile {
				files++
			}
			return nil
		}))
		if files < 3 {
			t.Errorf("seed walks %d files, want 3 and more", files)
		}
		for _, err := range warns {
			t.Errorf("v%d seed: %v", f.Version(), err)
		}
	}
}
