package bmap

import (
	"reflect"
	"testing"
)

func TestBuilder(t *testing.T) {
	b := NewBuilder()
	b.AddDisk(Disk{Index: 1, Device: "/dev/sda", Size: 100})
	ext := []Extent{
		{Off: 10, Len: 5, FileOff: 0, Role: RoleData},
		{Off: 20, Len: 0, FileOff: 5, Role: RoleData},         // empty
		{Off: -1, Len: 5, FileOff: 5, Role: RoleData},         // negative
		{Off: maxOff - 1, Len: 2, FileOff: 5, Role: RoleData}, // overflows
		{Off: 30, Len: 5, FileOff: 5, Role: RoleData},
	}
	o := Object{Disk: 1, Kind: KindFile, Device: "/dev/sda", Path: "/a", Inode: 12, Size: 10, Extents: ext}
	b.Add(o)
	// The caller reuses its object and its extents.
	ext[0].Off = 99
	o.Path = "/b"
	o.Extents = ext[:1]
	b.Add(o)
	m := b.Map()
	b.Add(Object{Disk: 1, Kind: KindDir, Device: "/dev/sda", Path: "/later"})

	want := &Map{
		Disks: []Disk{{Index: 1, Device: "/dev/sda", Size: 100}},
		Objects: []Object{
			{Disk: 1, Kind: KindFile, Device: "/dev/sda", Path: "/a", Inode: 12, Size: 10, Extents: []Extent{
				{Off: 10, Len: 5, FileOff: 0, Role: RoleData}, {Off: 30, Len: 5, FileOff: 5, Role: RoleData}}},
			{Disk: 1, Kind: KindFile, Device: "/dev/sda", Path: "/b", Inode: 12, Size: 10, Extents: []Extent{
				{Off: 99, Len: 5, FileOff: 0, Role: RoleData}}},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("map\n%+v\nwant\n%+v", m, want)
	}
	if got := len(b.Map().Objects); got != 3 {
		t.Errorf("%d objects after a third Add", got)
	}
	// Appending to one object's extents cannot reach another's.
	m.Objects[0].Extents = append(m.Objects[0].Extents, Extent{Off: 1, Len: 1})
	if m.Objects[1].Extents[0].Off != 99 {
		t.Error("objects share extent storage")
	}
}

// Many objects, more extents than a chunk: every object keeps its own.
func TestBuilderChunks(t *testing.T) {
	b := NewBuilder()
	for i := int64(0); i < 3*extChunk; i++ {
		n := 1 + i%3
		ext := make([]Extent, n)
		for j := range ext {
			ext[j] = Extent{Off: i*10 + int64(j), Len: 1, FileOff: int64(j)}
		}
		b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda", Extents: ext})
	}
	for i, o := range b.Map().Objects {
		if len(o.Extents) != 1+i%3 {
			t.Fatalf("object %d: %d extents", i, len(o.Extents))
		}
		for j, e := range o.Extents {
			if e.Off != int64(i)*10+int64(j) {
				t.Fatalf("object %d extent %d at %d", i, j, e.Off)
			}
		}
	}
}
