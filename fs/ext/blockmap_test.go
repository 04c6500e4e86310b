package ext

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

func TestIndirectRole(t *testing.T) {
	for level, want := range map[int]bmap.Role{1: bmap.RoleIndirect, 2: bmap.RoleDIndirect, 3: bmap.RoleTIndirect} {
		if got := indirectRole(level); got != want {
			t.Errorf("level %d: %s, want %s", level, got, want)
		}
	}
}

// TestBlockMapSynthetic maps a hand-made block map on the ext2 fixture:
// direct pointers with holes, a single indirect block and a zero
// double-indirect pointer.
func TestBlockMapSynthetic(t *testing.T) {
	img := loadFixture(t, "small-ext2.img.gz")
	f, err := New(bytes.NewReader(img), int64(len(img)))
	must(t, err)
	img = bytes.Clone(img)
	const k = 1024
	const ind = 440 // a free block of the 512-block image used as indirect block
	le := binary.LittleEndian
	for i := range k / 4 {
		le.PutUint32(img[ind*k+i*4:], 0)
	}
	le.PutUint32(img[ind*k+0:], 450)  // file block 12
	le.PutUint32(img[ind*k+4:], 451)  // file block 13, merges with 12
	le.PutUint32(img[ind*k+40:], 460) // file block 22
	f.r = bytes.NewReader(img)
	var in Inode
	in.Num, in.Off, in.Mode, in.Size = 98, 0x5000, modeReg, 30*k
	ptr := func(i int, v uint32) { le.PutUint32(in.Block[i*4:], v) }
	ptr(0, 500)
	ptr(1, 501)
	ptr(3, 503) // block 2 is a hole
	ptr(indIndex, ind)
	got, err := f.Extents(&in)
	must(t, err)
	want := []bmap.Extent{
		{Off: 500 * k, Len: 2 * k, FileOff: 0, Role: bmap.RoleData},
		{Off: 503 * k, Len: k, FileOff: 3 * k, Role: bmap.RoleData},
		{Off: 450 * k, Len: 2 * k, FileOff: 12 * k, Role: bmap.RoleData},
		{Off: 460 * k, Len: k, FileOff: 22 * k, Role: bmap.RoleData},
		{Off: ind * k, Len: k, FileOff: -1, Role: bmap.RoleIndirect},
	}
	if len(got) != len(want) {
		t.Fatalf("extents %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("extent %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
