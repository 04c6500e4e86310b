package ext

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

func TestCheckExtentHeader(t *testing.T) {
	tests := []struct {
		h    extentHeader
		size int
		want int
		msg  string
	}{
		{extentHeader{extentMagic, 4, 4, 0}, 60, -1, ""},
		{extentHeader{extentMagic, 1, 340, 0}, 4096, 0, ""},
		{extentHeader{0, 1, 4, 0}, 60, -1, "magic"},
		{extentHeader{extentMagic, 5, 4, 0}, 60, -1, "eh_entries"},
		{extentHeader{extentMagic, 1, 5, 0}, 60, -1, "eh_max"},
		{extentHeader{extentMagic, 1, 4, 6}, 60, -1, ""}, // deeper than the format allows: followed, with a warning
		{extentHeader{extentMagic, 1, 4, maxFollowDepth + 1}, 60, -1, "depth 33"},
		{extentHeader{extentMagic, 1, 84, 1}, 1024, 0, "parent expects 0"},
	}
	for _, tc := range tests {
		got := checkExtentHeader(tc.h, tc.size, tc.want)
		if tc.msg == "" && got != "" || tc.msg != "" && !strings.Contains(got, tc.msg) {
			t.Errorf("%+v in %d bytes: %q, want %q", tc.h, tc.size, got, tc.msg)
		}
	}
}

// extentRoot builds an i_block holding a leaf root with the given
// (logical, length, physical) extents.
func extentRoot(ext ...[3]uint32) [iBlockLen]byte {
	var b [iBlockLen]byte
	le := binary.LittleEndian
	le.PutUint16(b[0:], extentMagic)
	le.PutUint16(b[2:], uint16(len(ext)))
	le.PutUint16(b[4:], 4)
	for i, e := range ext {
		p := extentHdrLen + i*extentEntLen
		le.PutUint32(b[p:], e[0])
		le.PutUint16(b[p+4:], uint16(e[1]))
		le.PutUint32(b[p+8:], e[2])
	}
	return b
}

// TestExtentLeaf maps synthetic leaf roots: unwritten lengths, merging,
// sorting, holes and out-of-range extents.
func TestExtentLeaf(t *testing.T) {
	img := loadFixture(t, fixtures[0]) // 384 blocks of 1 KiB
	f, err := New(bytes.NewReader(img), int64(len(img)))
	must(t, err)
	const k = 1024
	tests := []struct {
		name  string
		ext   [][3]uint32
		want  []bmap.Extent
		warns int
	}{
		{"contiguous runs merge", [][3]uint32{{0, 2, 100}, {2, 3, 102}}, []bmap.Extent{{Off: 100 * k, Len: 5 * k, FileOff: 0, Role: bmap.RoleData}}, 0},
		{"hole kept", [][3]uint32{{0, 1, 100}, {5, 1, 101}}, []bmap.Extent{{Off: 100 * k, Len: k, FileOff: 0, Role: bmap.RoleData}, {Off: 101 * k, Len: k, FileOff: 5 * k, Role: bmap.RoleData}}, 0},
		{"unwritten", [][3]uint32{{0, 32768 + 3, 200}}, []bmap.Extent{{Off: 200 * k, Len: 3 * k, FileOff: 0, Role: bmap.RoleData, Unwritten: true}}, 0},
		{"unwritten not merged with written", [][3]uint32{{0, 1, 200}, {1, 32768 + 1, 201}}, []bmap.Extent{{Off: 200 * k, Len: k, FileOff: 0, Role: bmap.RoleData}, {Off: 201 * k, Len: k, FileOff: k, Role: bmap.RoleData, Unwritten: true}}, 0},
		{"out of order sorted", [][3]uint32{{4, 1, 150}, {0, 1, 140}}, []bmap.Extent{{Off: 140 * k, Len: k, FileOff: 0, Role: bmap.RoleData}, {Off: 150 * k, Len: k, FileOff: 4 * k, Role: bmap.RoleData}}, 0},
		{"beyond the filesystem", [][3]uint32{{0, 1, 100}, {1, 10, 380}}, []bmap.Extent{{Off: 100 * k, Len: k, FileOff: 0, Role: bmap.RoleData}}, 1},
		{"zero length skipped", [][3]uint32{{0, 0, 100}}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Inode{Num: 99, Off: 0x5000, Mode: modeReg, Flags: flagExtents, Size: 1 << 20, Block: extentRoot(tc.ext...)}
			got, err := f.Extents(in)
			n := 0
			if err != nil {
				n = strings.Count(err.Error(), "\n") + 1
			}
			if n != tc.warns {
				t.Errorf("%d problems (%v), want %d", n, err, tc.warns)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("extents %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("extent %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
