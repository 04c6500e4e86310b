package fat

import (
	"bytes"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
)

// The fuzz targets are seeded from the images testdata/mkfixtures.sh
// builds; only a panic, a hang or an extent outside the volume fails them.

// walkAll opens b and walks it, calling every accessor; errors and
// warnings are expected, panics and hangs are not.
func walkAll(t *testing.T, b []byte) {
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return
	}
	f.SetWarn(func(error) {})
	_ = f.Info()
	_ = f.Variant().String()
	size := int64(len(b))
	_ = f.Walk(func(e fs.Entry) error {
		for _, x := range e.Extents {
			if x.Len <= 0 || x.Off < 0 || x.End() > size {
				t.Fatalf("%s %q: extent %+v outside the %d-byte volume", e.Kind, e.Path, x, size)
			}
		}
		return nil
	})
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
		img := bytes.Clone(base)
		copy(img[:512], sector)
		walkAll(t, img)
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
		img := bytes.Clone(imgs[i])
		copy(img[fatOffs[i]+int64(off):], patch)
		walkAll(t, img)
	})
}

// FuzzDirent decodes directory clusters: the parsers alone, then written
// over a directory of a fixture and walked.
func FuzzDirent(f *testing.F) {
	base := loadFixture(f, "fat16")
	w := walkBytes(f, base)
	var dirs [][2]int64
	for _, e := range w.entries {
		if e.Kind == fs.KindDir {
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
		img := bytes.Clone(base)
		copy(img[d[0]:d[0]+d[1]], b)
		walkAll(t, img)
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
		img := bytes.Clone(base)
		copy(img[int64(off)%int64(len(img)):], patch)
		walkAll(t, img)
	})
}
