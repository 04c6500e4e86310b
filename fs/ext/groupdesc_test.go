package ext

import (
	"encoding/binary"
	"testing"
)

func TestParseGroupDesc(t *testing.T) {
	b := make([]byte, 64)
	le := binary.LittleEndian
	le.PutUint32(b[0x00:], 0x11)
	le.PutUint32(b[0x04:], 0x22)
	le.PutUint32(b[0x08:], 0x33)
	le.PutUint16(b[0x12:], bgInodeUninit|bgBlockUninit)
	le.PutUint16(b[0x1C:], 7)
	le.PutUint32(b[0x20:], 1)
	le.PutUint32(b[0x24:], 2)
	le.PutUint32(b[0x28:], 3)
	le.PutUint16(b[0x32:], 1)
	if g := parseGroupDesc(b[:32]); g.blockBitmap != 0x11 || g.inodeBitmap != 0x22 || g.inodeTable != 0x33 || g.itableUnused != 7 || g.flags != 3 {
		t.Errorf("32-byte descriptor: %+v", g)
	}
	if g := parseGroupDesc(b); g.blockBitmap != 1<<32|0x11 || g.inodeBitmap != 2<<32|0x22 || g.inodeTable != 3<<32|0x33 || g.itableUnused != 1<<16|7 {
		t.Errorf("64-byte descriptor: %+v", g)
	}
}

func TestHasSuper(t *testing.T) {
	sparse := map[uint64]bool{0: true, 1: true, 3: true, 5: true, 7: true, 9: true, 25: true, 27: true, 49: true, 81: true, 125: true, 243: true, 343: true}
	f := &FS{sb: &superblock{featureROCompat: roCompatSparseSuper}}
	for g := uint64(0); g < 400; g++ {
		if f.hasSuper(g) != sparse[g] {
			t.Errorf("sparse_super group %d: %v", g, f.hasSuper(g))
		}
	}
	f.sb = &superblock{}
	for g := uint64(0); g < 10; g++ {
		if !f.hasSuper(g) {
			t.Errorf("no sparse_super: group %d has no superblock", g)
		}
	}
	f.sb = &superblock{featureCompat: compatSparseSuper2, backupBGs: [2]uint32{1, 37}}
	for g := uint64(0); g < 40; g++ {
		if want := g == 0 || g == 1 || g == 37; f.hasSuper(g) != want {
			t.Errorf("sparse_super2 group %d: %v", g, f.hasSuper(g))
		}
	}
}
