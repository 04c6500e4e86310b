package fat

import (
	"bytes"
	"io"
	iofs "io/fs"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
)

// The fuzz targets are seeded from the images testdata/mkfixtures.sh
// builds; only a panic, a hang or an extent outside the volume fails them.

// walkAll opens b and walks it, calling every accessor; errors and
// warnings are expected, panics and hangs are not.
func walkAll(t *testing.T, b []byte) { walkReader(t, bytes.NewReader(b), int64(len(b))) }

// patched reads base with patch written over it at off, without copying
// the (up to 33 MiB) image for every input.
type patched struct {
	base  []byte
	off   int64
	patch []byte
}

func (p patched) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(p.base)) {
		return 0, io.EOF
	}
	n := copy(b, p.base[off:])
	// overlay the part of the patch inside [off, off+n)
	lo, hi := max(off, p.off), min(off+int64(n), p.off+int64(len(p.patch)))
	if lo < hi {
		copy(b[lo-off:hi-off], p.patch[lo-p.off:hi-p.off])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// walkPatched walks base with patch at off (clipped to the image).
func walkPatched(t *testing.T, base []byte, off int64, patch []byte) {
	off %= int64(len(base))
	patch = patch[:min(int64(len(patch)), int64(len(base))-off)]
	walkReader(t, patched{base, off, patch}, int64(len(base)))
}

func walkReader(t *testing.T, r io.ReaderAt, size int64) {
	f, err := New(r, size)
	if err != nil {
		return
	}
	f.SetWarn(func(error) {})
	_ = f.Info()
	_ = f.Variant().String()
	_ = f.Walk(func(e fs.Entry) error {
		for _, x := range e.Extents {
			if x.Len <= 0 || x.Off < 0 || x.End() > size {
				t.Fatalf("%s %q: extent %+v outside the %d-byte volume", e.Kind, e.Path, x, size)
			}
		}
		return nil
	})
	readSome(f)
}

// readSome reads fixture paths through the io/fs API (by other cases and
// 8.3 names too) and a few files of the tree, with bounded reads.
func readSome(f *FS) {
	for _, p := range []string{"hello.txt", "ALONGF~1.CON", "DIR/SUB/DEEPER/LARGE.BIN", "frag/big", "many", "case3/readme.txt"} {
		readLimited(f, p)
		_, _ = f.Stat(p)
		_, _ = f.ReadDir(p)
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

// readLimited reads up to 1 MiB of a file (fs.ReadFile would allocate
// the size the entry claims).
func readLimited(f iofs.FS, p string) {
	fl, err := f.Open(p)
	if err != nil {
		return
	}
	defer fl.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(fl, 1<<20))
	if ra, ok := fl.(io.ReaderAt); ok {
		_, _ = ra.ReadAt(make([]byte, 4096), 1<<31)
	}
}

// FuzzWalk mutates whole FAT12 images (1 MiB; the larger fixtures are
// reached by FuzzWalkPatch).
func FuzzWalk(f *testing.F) {
	f.Add(loadFixture(f, "fat12"))
	f.Fuzz(func(t *testing.T, b []byte) { walkAll(t, b) })
}

// FuzzBootSector replaces the boot sector of each fixture.
func FuzzBootSector(f *testing.F) {
	var imgs [][]byte
	for i, name := range fixtures {
		img := loadFixture(f, name)
		imgs = append(imgs, img)
		f.Add(uint8(i), img[:512])
	}
	f.Fuzz(func(t *testing.T, which uint8, sector []byte) {
		base := imgs[int(which)%len(imgs)]
		if p, err := parseBPB(sector, int64(len(base))); err == nil {
			_ = p.uuid()
			_ = p.bpbLabel()
			_ = p.activeFAT()
			if p.maxCluster < 2 || p.clusterOff(p.maxCluster)+p.clusterSize > p.totalSectors*p.bps {
				t.Fatalf("last cluster %d ends past the volume's %d sectors", p.maxCluster, p.totalSectors)
			}
		}
		_, _ = parseFSInfo(sector)
		walkPatched(t, base, 0, sector[:min(len(sector), 512)])
	})
}

// FuzzChain writes bytes into the first FAT copy of a fixture and walks
// it: loops, chains out of the volume, into free and reserved clusters.
func FuzzChain(f *testing.F) {
	var imgs [][]byte
	var fatOffs []int64
	for i, name := range fixtures {
		img := loadFixture(f, name)
		p, err := parseBPB(img[:512], int64(len(img)))
		if err != nil {
			f.Fatal(err)
		}
		imgs = append(imgs, img)
		fatOffs = append(fatOffs, p.fatOff)
		f.Add(uint8(i), uint16(0), img[p.fatOff:p.fatOff+64])
		f.Add(uint8(i), uint16(300), []byte{0x2c, 0x01, 0x2c, 0x01})
		f.Add(uint8(i), uint16(8), []byte{0x03, 0x00, 0x00, 0x00, 0x02, 0x00})
	}
	f.Fuzz(func(t *testing.T, which uint8, off uint16, patch []byte) {
		i := int(which) % len(imgs)
		walkPatched(t, imgs[i], fatOffs[i]+int64(off), patch)
	})
}

// FuzzDirent decodes directory clusters: the parsers alone, then written
// over a directory of a fixture and walked.
func FuzzDirent(f *testing.F) {
	base := loadFixture(f, "fat16")
	w := walkBytes(f, base)
	var dirs [][2]int64
	for _, e := range w.entries {
		if e.Kind == bmap.KindDir {
			for _, x := range e.Extents {
				dirs = append(dirs, [2]int64{x.Off, x.Len})
				f.Add(uint8(len(dirs)-1), base[x.Off:x.Off+min(x.Len, 2048)])
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		var s lfnState
		for i := 0; i+direntSize <= len(b); i += direntSize {
			ent := b[i : i+direntSize]
			if ent[11]&0x3F == attrLFN {
				s.add(decodeLFN(ent), int64(i))
				continue
			}
			e := decodeShort(ent, which&1 != 0)
			_ = e.name()
			_ = e.isDot()
			_ = e.isDir()
			_, _ = s.take(&e)
		}
		d := dirs[int(which)%len(dirs)]
		walkPatched(t, base, d[0], b[:min(int64(len(b)), d[1])])
	})
}

// FuzzWalkPatch walks the fixtures with a patch written at any offset:
// small inputs, so the fuzzer runs them fast and goes deep.
func FuzzWalkPatch(f *testing.F) {
	var imgs [][]byte
	for _, name := range fixtures {
		imgs = append(imgs, loadFixture(f, name))
	}
	f.Add(uint8(0), uint32(510), []byte{0, 0})
	f.Add(uint8(1), uint32(0x200), []byte{0xF8, 0xFF, 0xFF, 0xFF, 0x02, 0x00})
	f.Add(uint8(2), uint32(0x4000), []byte{0x02, 0x00, 0x00, 0x00})
	f.Add(uint8(2), uint32(44), []byte{0x05, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, which uint8, off uint32, patch []byte) {
		base := imgs[int(which)%len(imgs)]
		walkPatched(t, base, int64(off), patch)
	})
}

func TestPatched(t *testing.T) {
	base := []byte("0123456789")
	r := patched{base, 3, []byte("abc")}
	for _, tc := range []struct {
		off  int64
		n    int
		want string
	}{{0, 10, "012abc6789"}, {4, 2, "bc"}, {0, 3, "012"}, {6, 4, "6789"}, {5, 1, "c"}} {
		b := make([]byte, tc.n)
		if _, err := r.ReadAt(b, tc.off); err != nil && tc.off+int64(tc.n) < 10 || string(b) != tc.want {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q", tc.n, tc.off, b, err, tc.want)
		}
	}
}
