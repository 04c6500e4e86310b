package qcow2

import (
	"bytes"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/lru"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// tableImage is an Image with one in-memory L2 table (at host offset
// 1<<cb) and a data file of 64 clusters, for white-box tests of the
// mapping.
func tableImage(cb uint32, extended bool, entries []uint64) *Image {
	cs := int64(1) << cb
	img := &Image{
		clusterBits: cb, clusterSize: cs, extendedL2: extended,
		fileSize: 64 * cs, dataSize: 64 * cs, size: 2 << (2*cb - 3),
		l1:      []uint64{uint64(cs), 0},
		l2Cache: lru.New[int64, []uint64](int64(4)), clusterCache: lru.New[int64, []byte](4 * cs),
		hdr: &header{},
	}
	img.l2Bits = cb - 3
	if extended {
		img.l2Bits = cb - 4
	}
	img.l1Shift = cb + img.l2Bits
	t := make([]uint64, cs/8)
	copy(t, entries)
	img.l2Cache.Add(cs, t, 1)
	return img
}

func TestExtentAt(t *testing.T) {
	const cb = 14 // 16 KiB clusters, 512-byte subclusters
	const cs = 1 << cb
	const sc = cs / 32
	plain := []uint64{
		2 * cs, 3 * cs, 5*cs | flagCopied, // contiguous 2,3 then a jump
		0, 0, // unallocated
		flagZero, 7*cs | flagZero, // zero, zero with preallocation
		flagCompress | 100, // compressed
		8 * cs,
	}
	ext := []uint64{
		2 * cs, 0b1111 | 0b110000<<32, // subclusters 0-3 data, 4-5 zero, rest unallocated
		3 * cs, 0xffffffff, // all allocated
		4 * cs, 0xffffffff, // all allocated, contiguous with the previous
		0, 0xffffffff << 32, // all zero
		0, 0, // unallocated
	}
	for _, c := range []struct {
		name     string
		extended bool
		entries  []uint64
		off, n   int64
		want     extent
	}{
		{"data merged over contiguous clusters", false, plain, 100, 10 * cs, extent{kind: kindData, n: 2*cs - 100, host: 2*cs + 100}},
		{"data stops at a host jump", false, plain, 2 * cs, 10 * cs, extent{kind: kindData, n: cs, host: 5 * cs}},
		{"data limited by n", false, plain, 0, 10, extent{kind: kindData, n: 10, host: 2 * cs}},
		{"unallocated", false, plain, 3*cs + 1, 10 * cs, extent{kind: kindBacking, n: 2*cs - 1}},
		{"zero and preallocated zero merge", false, plain, 5 * cs, 10 * cs, extent{kind: kindZero, n: 2 * cs}},
		{"compressed is one cluster", false, plain, 7*cs + 5, 10 * cs, extent{kind: kindCompressed, n: cs - 5, entry: flagCompress | 100}},
		{"past the table's entries", false, plain, 9 * cs, 3 * cs, extent{kind: kindBacking, n: 3 * cs}},
		{"unallocated L2 table", false, plain, 1 << (cb + cb - 3), 5, extent{kind: kindBacking, n: 5}},
		{"subclusters data", true, ext, sc + 3, cs, extent{kind: kindData, n: 3*sc - 3, host: 2*cs + sc + 3}},
		{"subclusters zero", true, ext, 4 * sc, cs, extent{kind: kindZero, n: 2 * sc}},
		{"subclusters unallocated to the cluster end", true, ext, 6 * sc, 10 * cs, extent{kind: kindBacking, n: cs - 6*sc}},
		{"full subcluster clusters merge", true, ext, cs + 10, 10 * cs, extent{kind: kindData, n: 2*cs - 10, host: 3*cs + 10}},
		{"all-zero bitmap without offset", true, ext, 3 * cs, 10 * cs, extent{kind: kindZero, n: cs}},
		{"unallocated extended entries", true, ext, 4 * cs, 2 * cs, extent{kind: kindBacking, n: 2 * cs}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := tableImage(cb, c.extended, c.entries)
			got, err := img.extentAt(c.off, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("extentAt(%#x, %#x) = %+v, want %+v", c.off, c.n, got, c.want)
			}
		})
	}
}

// TestReadAtWhiteBox reads through tableImage's data file and checks each
// kind lands where it should.
func TestReadAtWhiteBox(t *testing.T) {
	const cb = 14
	const cs = 1 << cb
	img := tableImage(cb, true, []uint64{2 * cs, 0b1 | 0b10<<32})
	data := make([]byte, 64*cs)
	for i := range data {
		data[i] = byte(i>>9) | 1
	}
	img.data = bytes.NewReader(data)
	backing := bytes.Repeat([]byte{0xbb}, cs/2+100)
	img.backing, img.backingSize = memFile{bytes.NewReader(backing)}, int64(len(backing))
	got := make([]byte, cs)
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, cs)
	copy(want, data[2*cs:2*cs+512])   // subcluster 0: data
	copy(want[1024:], backing[1024:]) // 2..: backing, zeros past its end
	if !bytes.Equal(got, want) {
		t.Errorf("read differs at %#x", imagetest.FirstDiff(got, want))
	}
}
