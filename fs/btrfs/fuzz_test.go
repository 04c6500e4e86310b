package btrfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The fuzz targets: the superblock, the superblock's chunk array, and the
// whole reader (open, subvolumes, every file, the walk) over a sparse
// image. Only a panic or a hang fails them.
//
// A btrfs image is at least 64 KiB + 4 KiB before anything but the
// superblock, so the whole-reader target takes a sparse encoding: an
// 8-byte size, then records of an 8-byte offset, a 2-byte length and
// that many bytes; everything else reads as zeros. Its seeds are the
// non-zero runs of small mkfs.btrfs images (4 KiB nodes, single
// metadata), a few KiB each.

func decodeSparse(b []byte) *testutil.Sparse {
	le := binary.LittleEndian
	if len(b) < 8 {
		return nil
	}
	d := &testutil.Sparse{Size: int64(le.Uint64(b) % (1 << 40))}
	b = b[8:]
	for len(b) >= 10 && len(d.Chunks) < 4096 {
		off, n := int64(le.Uint64(b)%(1<<40)), int(le.Uint16(b[8:]))
		b = b[10:]
		n = min(n, len(b))
		d.Chunks = append(d.Chunks, testutil.Chunk{Off: off, Data: b[:n]})
		b = b[n:]
	}
	return d
}

// encodeSparse keeps img's runs of non-zero bytes (zero gaps under 32
// bytes kept inside a run).
func encodeSparse(img []byte) []byte {
	le := binary.LittleEndian
	out := le.AppendUint64(nil, uint64(len(img)))
	for i := 0; i < len(img); {
		if img[i] == 0 {
			i++
			continue
		}
		j, zeros := i, 0
		for j < len(img) && j-i < 65535 && zeros < 32 {
			if img[j] == 0 {
				zeros++
			} else {
				zeros = 0
			}
			j++
		}
		j -= zeros
		out = le.AppendUint64(out, uint64(i))
		out = le.AppendUint16(out, uint16(j-i))
		out = append(out, img[i:j]...)
		i = j
	}
	return out
}

// smallImage builds a tiny image for seeds: a few files, a symbolic link,
// a directory.
func smallImage(t testing.TB, opts ...string) []byte {
	t.Helper()
	testutil.NeedTools(t, "mkfs.btrfs")
	src := filepath.Join(t.TempDir(), "src")
	for p, c := range map[string]string{"etc/os-release": "ID=fedora\n", "a/b": "bb\n", "big": string(bytes.Repeat([]byte("x"), 5000))} {
		os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755)
		os.WriteFile(filepath.Join(src, p), []byte(c), 0o644)
	}
	os.Symlink("a/b", filepath.Join(src, "link"))
	img := filepath.Join(t.TempDir(), "small.img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 120<<20)
	args := append([]string{"-q", "-f", "-U", testUUID, "-n", "4096", "-m", "single", "--rootdir", src}, opts...)
	testutil.Run(t, "", "mkfs.btrfs", append(args, img)...)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSparseSeed(t *testing.T) {
	img := smallImage(t)
	enc := encodeSparse(img)
	if len(enc) > 64<<10 {
		t.Errorf("seed of %d bytes", len(enc))
	}
	d := decodeSparse(enc)
	got := make([]byte, d.Size)
	if _, err := d.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Fatal("sparse round trip differs")
	}
	if err := exercise(d, d.Size); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed: %d bytes", len(enc))
}

// exercise opens r and reads everything it can; it returns the first
// error of New only.
func exercise(r io.ReaderAt, size int64) error {
	f, err := New(r, size)
	if err != nil {
		return err
	}
	f.SetWarn(func(error) {})
	_ = f.Info()
	subs, _ := f.Subvolumes()
	for _, s := range subs {
		sv, err := f.Subvolume(s.ID)
		if err != nil {
			continue
		}
		n := 0
		_ = iofs.WalkDir(sv, ".", func(p string, d iofs.DirEntry, err error) error {
			if n++; err != nil || n > 200 {
				return iofs.SkipAll
			}
			if d.Type().IsRegular() {
				if fh, err := sv.Open(p); err == nil {
					io.Copy(io.Discard, io.LimitReader(fh.(io.Reader), 1<<20))
				}
			}
			if d.Type()&iofs.ModeSymlink != 0 {
				_, _ = sv.(iofs.ReadLinkFS).ReadLink(p)
			}
			return nil
		})
	}
	_, _ = iofs.ReadFile(f, "etc/os-release")
	return f.Walk(func(e fs.Entry) error {
		for _, x := range e.Extents {
			if x.Len <= 0 {
				return errors.New("empty extent")
			}
		}
		return nil
	})
}

func FuzzOpen(f *testing.F) {
	f.Add(encodeSparse(smallImage(f)))
	f.Add(encodeSparse(smallImage(f, "--csum", "xxhash")))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decodeSparse(b)
		if d == nil {
			return
		}
		_ = exercise(d, d.Size)
	})
}

func FuzzSuperblock(f *testing.F) {
	img := smallImage(f)
	f.Add(img[superblockOff : superblockOff+superblockSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= superblockSize {
			// Let the fuzzer reach past the checksum.
			reCsum(b, 0, superblockSize)
		}
		sb, err := parseSuperblock(b, superblockOff)
		if err != nil {
			if len(b) >= superblockSize {
				return
			}
			return
		}
		var m chunkMap
		_ = parseSysChunkArray(sb.sysChunkArray, &m)
	})
}

func FuzzChunkArray(f *testing.F) {
	img := smallImage(f)
	sb, err := parseSuperblock(img[superblockOff:superblockOff+superblockSize], superblockOff)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sb.sysChunkArray)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m chunkMap
		if parseSysChunkArray(b, &m) == nil {
			for _, c := range m.chunks {
				_ = m.find(c.logical + c.length/2)
			}
		}
	})
}

// FuzzLeaf fuzzes one tree block: the image's fs tree root leaf is
// replaced by the input (checksum recomputed), then everything is read.
func FuzzLeaf(f *testing.F) {
	img := smallImage(f)
	fsys, err := New(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	t5, err := fsys.tree(fsTreeID)
	if err != nil {
		f.Fatal(err)
	}
	phys, _, err := fsys.mapLogical(t5.bytenr)
	if err != nil {
		f.Fatal(err)
	}
	ns := fsys.NodeSize()
	f.Add(img[phys : phys+int64(ns)])
	base := encodeSparse(img)
	f.Fuzz(func(t *testing.T, b []byte) {
		blk := make([]byte, ns)
		copy(blk, b)
		reCsum(blk, 0, ns)
		d := decodeSparse(base)
		d.Chunks = append(d.Chunks, testutil.Chunk{Off: phys, Data: blk})
		_ = exercise(d, d.Size)
	})
}
