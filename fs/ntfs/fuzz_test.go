package ntfs

import (
	"bytes"
	"io"
	iofs "io/fs"
	"slices"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
)

// seedRecords returns every 1 KiB MFT record of the small fixture's
// first records, as fuzz seeds.
func seedRecords(f *testing.F) [][]byte {
	b := fixture(f, "small")
	var rs [][]byte
	for off := 16384; off < 16384+112*1024 && off+1024 <= len(b); off += 1024 {
		if string(b[off:off+4]) == "FILE" {
			rs = append(rs, slices.Clone(b[off:off+1024]))
		}
	}
	return rs
}

func FuzzBoot(f *testing.F) {
	for _, name := range fixtures {
		f.Add(fixture(f, name)[:512])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := parseBoot(b, 0, 1<<40)
		if err != nil {
			return
		}
		_ = bs.volumeSize()
		if bs.clusters() <= 0 || bs.clusterSize <= 0 || bs.recordSize < 512 {
			t.Fatalf("accepted %+v", bs)
		}
	})
}

// FuzzRecord applies the fixup, decodes the header and every attribute,
// and each attribute's run list, attribute list or index root.
func FuzzRecord(f *testing.F) {
	for _, r := range seedRecords(f) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r record
		if parseRecord(b, &r) != nil {
			return
		}
		_, _, _ = r.inUse(), r.isDir(), refRecord(r.baseRef)
		_ = parseAttrs(&r, func(a *attr) error {
			_ = typeName(a.typ)
			if !a.resident {
				_, _ = decodeRuns(a.runBytes(&r), a.startVCN, 1<<20, nil)
				return nil
			}
			v := a.value(&r)
			switch a.typ {
			case atAttributeList:
				_, _ = attrListRecords(v, 0, nil)
			case atIndexRoot:
				if _, _, err := indexRootInfo(v); err == nil {
					_ = parseIndexNode(v, 0x10, func(e *indexEntry) error { return nil })
				}
			}
			return nil
		})
	})
}

// FuzzAttr decodes one attribute header at the start of b.
func FuzzAttr(f *testing.F) {
	for _, rb := range seedRecords(f) {
		var r record
		if parseRecord(rb, &r) == nil {
			_ = parseAttrs(&r, func(a *attr) error {
				f.Add(slices.Clone(r.buf[a.off : a.off+a.length]))
				return nil
			})
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < attrHeaderMinLen {
			return
		}
		var a attr
		if decodeAttr(b, 0, &a) != nil {
			return
		}
		if a.resident {
			_ = b[a.valueOff : a.valueOff+a.valueLen]
		} else {
			_ = b[a.runsOff:a.valueOff]
		}
	})
}

func FuzzRuns(f *testing.F) {
	for _, seed := range [][]byte{{0x11, 0x05, 0x10, 0}, {0x21, 0x10, 0x00, 0x01, 0x01, 0x08, 0}, {0x31, 0x01, 0xff, 0xff, 0xff, 0x11, 0x02, 0x80, 0}} {
		f.Add(seed, int64(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, start int64) {
		if start < 0 || start > maxRunClusters {
			return
		}
		runs, _ := decodeRuns(b, start, 1<<30, nil)
		vcn := start
		for _, r := range runs {
			if r.VCN != vcn || r.Len <= 0 || r.LCN >= 0 && r.LCN+r.Len > 1<<30 {
				t.Fatalf("bad run %+v", r)
			}
			vcn += r.Len
		}
	})
}

// FuzzIndex checks an INDX record's fixup and parses its entries.
func FuzzIndex(f *testing.F) {
	b := fixture(f, "small")
	for off := 0; off+4096 <= len(b); off += 1024 {
		if string(b[off:off+4]) == "INDX" {
			f.Add(slices.Clone(b[off : off+4096]))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if applyFixup(b, "INDX") != nil {
			return
		}
		_ = parseIndexNode(b, 0x18, func(e *indexEntry) error { _ = refRecord(e.ref); return nil })
	})
}

// FuzzWalk patches the small fixture (at an offset inside its metadata:
// the boot sector, the MFT or a directory index) and walks it.
func FuzzWalk(f *testing.F) {
	base := fixture(f, "small")
	f.Add(uint32(0x1e400+0x1f8), []byte{0x81, 0x20})
	f.Add(uint32(0x5400+0x100), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint32(0x30), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		if len(patch) > 64 {
			return
		}
		b := slices.Clone(base)
		o := int(off) % (160 << 10) // boot sector, MFT
		if off&1 != 0 {
			o = 0x140000 + int(off>>1)%(64<<10) // around the directory indexes
		}
		copy(b[o:], patch)
		fsys, err := New(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		fsys.SetWarn(func(error) {})
		_ = fsys.Info()
		_ = fsys.Walk(func(e fs.Entry) error {
			for _, x := range e.Extents {
				if x.Len <= 0 || x.Off < 0 || x.End() > int64(len(b)) {
					t.Fatalf("%s: extent %+v outside the volume", e.Path, x)
				}
			}
			return nil
		})
		_ = fsys.Unreachable()
		readSome(fsys)
	})
}

// readSome reads fixture paths through the io/fs API and a few files of
// the tree, with bounded reads.
func readSome(f *FS) {
	for _, p := range []string{"tiny", "BIG", "sparse", "frag", "dir/file-with-a-long-name-3", "ünï", "c/text", "$MFT"} {
		readLimited(f, p)
		_, _ = f.Stat(p)
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
// the size the record claims).
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

// FuzzLZNT1 decompresses arbitrary input into units of 4 and 64 KiB.
func FuzzLZNT1(f *testing.F) {
	f.Add([]byte{5, 0xB0, 0x08, 'a', 'b', 'c', 0x0C, 0x20})
	f.Add(append([]byte{0xFF, 0x3F}, make([]byte, 4096)...))
	f.Fuzz(func(t *testing.T, src []byte) {
		_ = lznt1Decompress(make([]byte, 4096), src)
		_ = lznt1Decompress(make([]byte, 64<<10), src)
	})
}
