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

// TestBuilderGrow adds objects around Grow and Map calls (a guess too
// small, too big, after a Map, with chunks pending) and checks that every
// Map holds the objects added before it, in order, and that a Map is not
// changed by what is added later.
func TestBuilderGrow(t *testing.T) {
	b := NewBuilder()
	next := 0
	add := func(n int) {
		for range n {
			b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda", Inode: uint64(next), Extents: []Extent{{Off: int64(next), Len: 1}}})
			next++
		}
	}
	check := func(m *Map, n int) {
		t.Helper()
		if len(m.Objects) != n {
			t.Fatalf("map of %d objects, want %d", len(m.Objects), n)
		}
		for i, o := range m.Objects {
			if o.Inode != uint64(i) || len(o.Extents) != 1 || o.Extents[0].Off != int64(i) {
				t.Fatalf("object %d is %+v", i, o)
			}
		}
	}
	add(3)               // in a chunk
	b.Grow(10)           // joined, with room for 10
	add(5)               // in the room
	m1 := b.Map()        // no copy
	add(objChunk + 7)    // the rest of the room, then chunks
	b.Grow(-1)           // ignored
	m2 := b.Map()        // joined
	b.Grow(2 * objChunk) // room again
	add(objChunk)        //
	b.Grow(1)            // enough room: nothing to do
	add(objChunk + 1)    // past the room: a chunk
	m3 := b.Map()
	check(m1, 8)
	check(m2, 8+objChunk+7)
	check(m3, next)
}
