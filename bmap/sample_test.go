package bmap

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleMap is a small hand-built map with every shape the writers must
// handle: two disks, two partitions, metadata, a fragmented file whose
// blocks are not in file order on disk (with an extent-index block), a
// two-block directory, a name with a newline and a backslash, two hard
// links to the same blocks, partly overlapping objects, adjacent extents
// of one file, a file without blocks and a dropped empty extent.
func sampleMap() *Map {
	b := NewBuilder()
	data := func(off, n, fo int64) Extent {
		return Extent{Off: off, Len: n, FileOff: fo, Role: RoleData}
	}
	meta := func(off, n int64) []Extent {
		return []Extent{{Off: off, Len: n, FileOff: -1, Role: RoleMeta}}
	}
	b.AddDisk(Disk{Index: 1, Device: "/dev/sda", Image: "sda.img", Size: 0x100000})
	b.AddDisk(Disk{Index: 2, Device: "/dev/sdb", Image: "sdb.img", Size: 0x10000})
	b.Add(Object{Disk: 1, Kind: KindDisk, Device: "/dev/sda", Extents: meta(0, 0x100000)})
	b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda", Path: "MBR", Extents: meta(0, 0x200)})
	b.Add(Object{Disk: 1, Kind: KindPartition, Device: "/dev/sda1", Extents: meta(0x1000, 0x80000)})
	b.Add(Object{Disk: 1, Kind: KindPartition, Device: "/dev/sda2", Extents: meta(0x81000, 0x7f000)})
	b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda1", Path: "superblock", Extents: meta(0x1400, 0x400)})
	b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda1", Path: "group 0 inode table", Extents: meta(0x3000, 0x2000)})
	b.Add(Object{Disk: 1, Kind: KindDir, Device: "/dev/sda1", Path: "/", Inode: 2, Size: 0x400,
		Extents: []Extent{data(0x5000, 0x400, 0)}})
	b.Add(Object{Disk: 1, Kind: KindDir, Device: "/dev/sda1", Path: "/etc", Inode: 12, Size: 0x800,
		Extents: []Extent{data(0x5400, 0x400, 0), data(0x9000, 0x400, 0x400)}})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/etc/fragmented", Inode: 13, Size: 0x2800,
		Extents: []Extent{
			data(0x8000, 0x1000, 0),
			data(0x6000, 0x1000, 0x1000),
			{Off: 0x7000, Len: 0x400, FileOff: -1, Role: RoleExtentIndex},
			data(0xa000, 0x800, 0x2000),
			{Off: 0xa800, Len: 0, FileOff: 0x2800, Role: RoleData}, // dropped
		}})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/etc/odd\nname\\x", Inode: 14, Size: 3,
		Extents: []Extent{data(0xb000, 0x400, 0)}})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/etc/passwd", Inode: 15, Size: 0x300,
		Extents: []Extent{data(0xc000, 0x400, 0)}})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/etc/passwd.link", Inode: 15, Size: 0x300,
		Extents: []Extent{data(0xc000, 0x400, 0)}})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/big", Inode: 16, Size: 0x4000,
		Extents: []Extent{data(0xd000, 0x4000, 0)}})
	b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda1", Path: "journal", Extents: meta(0x10000, 0x2000)})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/adjacent", Inode: 17, Size: 0x2000,
		Extents: []Extent{data(0x12000, 0x1000, 0), data(0x13000, 0x1000, 0x1000)}})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: "/empty", Inode: 18})
	b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda2", Path: "/x y", Inode: 12, Size: 0x1000,
		Extents: []Extent{data(0x90000, 0x1000, 0)}})
	b.Add(Object{Disk: 2, Kind: KindDisk, Device: "/dev/sdb", Extents: meta(0, 0x10000)})
	b.Add(Object{Disk: 2, Kind: KindFile, Device: "/dev/sdb", Path: "/bare", Inode: 12, Size: 0x1000, Symlink: true,
		Extents: []Extent{data(0x2000, 0x1000, 0)}})
	return b.Map()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleMap()); err != nil {
		t.Fatal(err)
	}
	golden(t, "sample.txt.golden", buf.Bytes())
}

func TestWriteJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleMap()); err != nil {
		t.Fatal(err)
	}
	golden(t, "sample.json.golden", buf.Bytes())
}
