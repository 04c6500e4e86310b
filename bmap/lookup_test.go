package bmap

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The lookup's fast paths each have a test that compares it with
// bruteLookup, the linear scan written from Lookup's definition: the
// bucket table (maps whose extents spread over large, sparse disks, reads
// at bucket boundaries), the merge of a segment's objects into the
// previous segment's hits (segments covered by more objects than it
// tracks, objects that leave and come back), and the rank order the hits
// come out in without a sort.

// sparseMap makes a map of n objects on up to three disks whose extents
// are spread over up to 2^span bytes, some clustered, some alone, a few
// near the largest offset, with a disk and partitions covering runs of
// them: so that a disk's buckets are of every shape (empty, one segment,
// many segments, segments that cross several buckets).
func sparseMap(r *rand.Rand, n int, span uint) *Map {
	b := NewBuilder()
	top := int64(1) << span
	for d := 1; d <= 3; d++ {
		b.AddDisk(Disk{Index: d, Device: fmt.Sprintf("/dev/sd%c", 'a'+d-1), Size: top})
		b.Add(Object{Disk: d, Kind: KindDisk, Device: fmt.Sprintf("/dev/sd%c", 'a'+d-1),
			Extents: []Extent{{Off: 0, Len: top, FileOff: -1, Role: RoleMeta}}})
	}
	cluster := r.Int64N(top)
	for i := range n {
		o := Object{
			Disk:   1 + r.IntN(3),
			Kind:   allKinds[1+r.IntN(len(allKinds)-1)],
			Device: fmt.Sprintf("/dev/sd%c%d", 'a'+r.IntN(3), r.IntN(3)),
			Path:   fmt.Sprintf("/o%d", i),
		}
		var fo int64
		for k := r.IntN(3); k >= 0; k-- {
			var off, ln int64
			switch r.IntN(6) {
			case 0: // anywhere
				off, ln = r.Int64N(top), 1+r.Int64N(top/64+1)
			case 1: // near the end of the address space
				ln = 1 + r.Int64N(1<<12)
				off = maxOff - ln - r.Int64N(1<<12)
			case 2: // large
				off, ln = r.Int64N(top/2), 1+r.Int64N(top/2)
			default: // in the cluster, small
				off, ln = cluster+r.Int64N(1<<14), 1+r.Int64N(1<<10)
			}
			e := Extent{Off: off, Len: ln, FileOff: fo, Role: RoleData}
			if r.IntN(4) == 0 {
				e.FileOff, e.Role = -1, RoleMeta
			} else {
				fo += ln
			}
			o.Extents = append(o.Extents, e)
		}
		b.Add(o)
	}
	return b.Map()
}

// bruteRead is bruteLookup for a read as Lookup takes it: a negative
// offset cut to 0, a length past the largest offset cut to it.
func bruteRead(m *Map, disk int, off, n int64) []Hit {
	if off < 0 {
		off, n = 0, n+off
	}
	if n > maxOff-off {
		n = maxOff - off
	}
	return bruteLookup(m, disk, off, n)
}

// checkLookups compares the index of m with bruteLookup for reads made by
// read, and returns how many it checked.
func checkLookups(t *testing.T, m *Map, reads int, read func() (disk int, off, n int64)) int {
	t.Helper()
	ix := NewIndex(m)
	if ix.Truncated() != 0 {
		t.Fatalf("map truncated: %d segments", ix.Truncated())
	}
	var dst []Hit
	for range reads {
		disk, off, n := read()
		want := bruteRead(m, disk, off, n)
		dst = ix.LookupAppend(dst[:0], disk, off, n)
		if !slices.Equal(dst, want) {
			t.Fatalf("disk %d, read %#x+%#x:\n--- index\n%s\n--- brute force\n%s",
				disk, off, n, hitsString(dst), hitsString(want))
		}
	}
	return reads
}

func TestLookupSparseMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	reads := 0
	for _, span := range []uint{12, 20, 31, 40, 62} {
		for mi := range 20 {
			m := sparseMap(r, 1+r.IntN(60), span)
			// Read where the extents are: at their edges, inside them,
			// across several, and anywhere.
			var at []int64
			for _, o := range m.Objects {
				for _, e := range o.Extents {
					at = append(at, e.Off, e.End(), e.Off+e.Len/2)
				}
			}
			ix := NewIndex(m)
			for _, d := range ix.disks { // bucket boundaries
				for k := range min(len(d.bucket), 64) {
					at = append(at, int64(k)<<d.shift)
				}
			}
			t.Run(fmt.Sprintf("span%d/%d", span, mi), func(t *testing.T) {
				reads += checkLookups(t, m, 300, func() (int, int64, int64) {
					off := at[r.IntN(len(at))] + r.Int64N(3) - 1
					var n int64
					switch r.IntN(4) {
					case 0:
						n = 1 + r.Int64N(4)
					case 1:
						n = 1 + r.Int64N(1<<16)
					case 2:
						n = 1 + r.Int64N(int64(1)<<span)
					default:
						n = maxOff // to the end, overflowing
					}
					return 1 + r.IntN(3), off, n
				})
			})
		}
	}
	t.Logf("%d reads agree", reads)
}

// Segments covered by more objects than the merge tracks, and objects
// that leave a read and come back (fragmented files around others): the
// hits must still be one per object, in priority order.
func TestLookupCrowdedMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, cover := range []int{1, 23, 24, 25, 60} {
		t.Run(fmt.Sprint(cover), func(t *testing.T) {
			m := &Map{Disks: []Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 20}}}
			// cover objects over the whole disk, in pieces that
			// interleave with each other.
			for i := range cover {
				o := Object{Disk: 1, Kind: allKinds[r.IntN(len(allKinds))], Device: "/dev/sda", Path: fmt.Sprint("/wide", i)}
				for k := int64(0); k < 8; k++ {
					o.Extents = append(o.Extents, Extent{Off: k << 17, Len: 1<<17 - r.Int64N(2)*int64(r.IntN(1<<16)), FileOff: k << 17, Role: RoleData})
				}
				m.Objects = append(m.Objects, o)
			}
			// and small files, fragmented around each other.
			for i := range 300 {
				o := Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: fmt.Sprint("/f", i)}
				for k := range 1 + r.IntN(3) {
					o.Extents = append(o.Extents, Extent{Off: r.Int64N(1 << 20), Len: 1 + r.Int64N(4096), FileOff: int64(k) << 12, Role: RoleData})
				}
				m.Objects = append(m.Objects, o)
			}
			n := checkLookups(t, m, 600, func() (int, int64, int64) {
				return 1, r.Int64N(1 << 20), 1 + r.Int64N(1<<(4+r.IntN(16)))
			})
			t.Logf("%d reads agree", n)
		})
	}
}

// FuzzLookup builds an index from a map the fuzzer makes (each 16-byte
// record an extent: object, kind, offset, length, file offset) and
// compares lookups with the brute-force scan. The map is made directly,
// not read from a file, so that every extent shape reaches the index;
// only a difference, a panic or a hang fails.
func FuzzLookup(f *testing.F) {
	rec := func(obj, kind byte, off, n uint32, fo uint16) []byte {
		b := []byte{obj, kind}
		b = binary.LittleEndian.AppendUint32(b, off)
		b = binary.LittleEndian.AppendUint32(b, n)
		b = binary.LittleEndian.AppendUint16(b, fo)
		return append(b, 0, 0, 0, 0)
	}
	f.Add(slices.Concat(rec(0, 0, 0, 1<<20, 0xffff), rec(1, 1, 4096, 1<<19, 0xffff), rec(2, 5, 8192, 4096, 0), rec(3, 5, 12288, 4096, 0)), uint64(0), uint64(16384))
	f.Add(slices.Concat(rec(0, 5, 0, 10, 0), rec(0, 5, 5, 10, 20), rec(1, 4, 3, 1, 0xffff), rec(2, 3, 0xffffff00, 0xff, 7)), uint64(2), uint64(1<<40))
	f.Fuzz(func(t *testing.T, data []byte, off, n uint64) {
		if len(data) > 16*256 {
			return
		}
		var m Map
		objs := map[byte]int{}
		for len(data) >= 16 {
			r := data[:16]
			data = data[16:]
			i, ok := objs[r[0]]
			if !ok {
				i = len(m.Objects)
				objs[r[0]] = i
				k := allKinds[int(r[1])%len(allKinds)]
				m.Objects = append(m.Objects, Object{Disk: 1 + int(r[1]>>4)%2, Kind: k, Device: "/dev/sda", Path: fmt.Sprint("/", r[0])})
			}
			shift := uint(r[12] % 40)
			e := Extent{
				Off:     int64(binary.LittleEndian.Uint32(r[2:])) << shift,
				Len:     int64(binary.LittleEndian.Uint32(r[6:])),
				FileOff: int64(int16(binary.LittleEndian.Uint16(r[10:]))),
				Role:    RoleData,
			}
			if r[13]&1 == 1 { // near the end of the address space
				e.Off = maxOff - e.Off
			}
			if validExtent(e) { // the index leaves the others out, and says so elsewhere
				m.Objects[i].Extents = append(m.Objects[i].Extents, e)
			}
		}
		ix := NewIndex(&m)
		if ix.Truncated() != 0 {
			return // only the highest-priority objects are kept: not the brute force's answer
		}
		for _, rd := range [][2]int64{{int64(off >> 1), int64(n >> 1)}, {int64(off & 0xfffff), int64(n&0xfffff) + 1}, {0, maxOff}} {
			for disk := 1; disk <= 2; disk++ {
				got := ix.Lookup(disk, rd[0], rd[1])
				want := bruteRead(&m, disk, rd[0], rd[1])
				if !slices.Equal(got, want) {
					t.Fatalf("disk %d, read %#x+%#x:\n--- index\n%s\n--- brute force\n%s", disk, rd[0], rd[1], hitsString(got), hitsString(want))
				}
			}
		}
	})
}
