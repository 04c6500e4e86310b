package bmap

import (
	"cmp"
	"math"
	"slices"
)

// Hit is one object a read touched.
type Hit struct {
	Object *Object
	// Off is the first byte of the read inside the object (a disk offset)
	// and Len the number of bytes of the read inside the object; for an
	// object whose extents leave gaps in the read, Off+Len is not the end.
	Off, Len int64
	// FileOff is the offset inside the object's contents of the byte at
	// Off, -1 when that byte is not contents (metadata, an indirect
	// block, a partition).
	FileOff int64
	// Extent is the object's extent that holds Off.
	Extent *Extent

	rank int32 // the object's place in the priority order, during Lookup
}

// Index answers, for a read at (offset, length) on a disk, which objects
// it touches. It is built once from a Map and is then read-only: any
// number of goroutines may call Lookup at once. The Map must not be
// changed while the Index is in use: Hits point into it.
type Index struct {
	truncated int
	objs      []Object
	rank      []int32 // per object: its place in the priority order
	disks     []diskIndex
	entries   []entry
}

// diskIndex holds the segments of one disk: sorted, not overlapping,
// each with the (object, extent) pairs covering it in priority order.
type diskIndex struct {
	disk int
	// segs are the segments in disk order, and one more, a sentinel
	// whose first ends the last segment's entries. A segment's bounds
	// and entries share a cache line: a lookup's cost is its cache
	// misses.
	segs []segment
	// bucket[k] is the first segment ending after k<<shift: a read at
	// off starts in a segment of bucket[k]..bucket[k+1] for k = off>>shift
	// (the last entry is the number of segments). There is a bucket for
	// every few segments, so the binary search that follows is over a
	// handful of them, on a cache line or two: a lookup costs a few cache
	// misses where a binary search over the whole disk costs one per
	// level.
	shift  uint
	bucket []int32
}

// segment i of a disk is [start, end), covered by the objects of
// entries[segs[i].first:segs[i+1].first].
type segment struct {
	start, end int64
	first      int32
}

// nseg is the number of segments (the sentinel left out).
func (d *diskIndex) nseg() int { return len(d.segs) - 1 }

// maxBuckets bounds a disk's bucket table (4 bytes each);
// segsPerBucket is about how many segments a bucket holds.
const (
	maxBuckets    = 1 << 24
	segsPerBucket = 4
)

// buildBuckets fills d.shift and d.bucket from its segments.
func (d *diskIndex) buildBuckets() {
	n := d.nseg()
	if n == 0 {
		return
	}
	last := d.segs[n-1].end
	// The smallest shift with no more buckets than segments/segsPerBucket
	// (and than maxBuckets).
	want := min(max(n/segsPerBucket, 1), maxBuckets)
	d.shift = 0
	for last>>d.shift > int64(want) {
		d.shift++
	}
	nb := int(last>>d.shift) + 1
	d.bucket = make([]int32, nb+1)
	s := 0
	for k := range nb {
		at := int64(k) << d.shift
		for s < n && d.segs[s].end <= at {
			s++
		}
		d.bucket[k] = int32(s)
	}
	d.bucket[nb] = int32(n)
}

const noFileOff = math.MinInt64

// entry is one (segment, object) pair. It holds what a lookup needs
// without following ext: a lookup of a small read costs a cache miss per
// pointer it follows.
type entry struct {
	ext *Extent
	// fileOff is the offset in the object's contents of the segment's
	// first byte (ext.FileOff + start - ext.Off), noFileOff when ext is
	// not contents.
	fileOff int64
	obj     int32
	rank    int32 // rank[obj]
}

// NewIndex builds the index of m. It costs O(N log N) in the number of
// extents; the segment array is the same as the text writer's, except
// that every extent boundary starts a segment.
//
// A segment covered by more objects than a real disk ever has keeps only
// the highest-priority ones when the whole index would otherwise grow out
// of proportion to the map (see coverLimit and Truncated).
//
// The priority order is f > d > m > l > p > v (Kind.Priority); among
// objects of one priority, the narrowest (smallest total extent length)
// comes first, then the one that starts first on disk, then the one added
// first.
func NewIndex(m *Map) *Index {
	ix := &Index{objs: m.Objects}
	n := len(m.Objects)
	type key struct {
		prio  int
		width int64
		first int64
	}
	keys := make([]key, n)
	var spans []span
	for i := range m.Objects {
		o := &m.Objects[i]
		k := key{prio: o.Kind.Priority(), first: maxOff}
		for j, e := range o.Extents {
			if !validExtent(e) || o.Disk < 1 || o.Disk > MaxDisk {
				continue
			}
			k.width = min(k.width+e.Len, maxOff) // saturate
			k.first = min(k.first, e.Off)
			spans = append(spans, span{off: e.Off, end: e.End(), disk: int32(o.Disk), id: int32(i), obj: int32(i), ext: int32(j)})
		}
		keys[i] = k
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ka, kb := &keys[a], &keys[b]
		if c := cmp.Compare(kb.prio, ka.prio); c != 0 {
			return c
		}
		if c := cmp.Compare(ka.width, kb.width); c != 0 {
			return c
		}
		if c := cmp.Compare(ka.first, kb.first); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	ix.rank = make([]int32, n)
	for r, i := range order {
		ix.rank[i] = int32(r)
	}
	slices.SortFunc(spans, cmpSpan)
	limit := coverLimit(spans)
	// A disk map has about two segments per extent, each covered by a
	// file, its partition and its disk.
	ix.entries = make([]entry, 0, len(spans)*4)
	var d *diskIndex
	sweep(spans, ix.rank, func(disk int32, start, end int64, active []int32) {
		if d == nil || d.disk != int(disk) {
			if d != nil {
				d.segs = append(d.segs, segment{start: maxOff, end: maxOff, first: int32(len(ix.entries))})
			}
			ix.disks = append(ix.disks, diskIndex{disk: int(disk)})
			d = &ix.disks[len(ix.disks)-1]
			if len(ix.disks) == 1 { // most maps have one disk
				d.segs = make([]segment, 0, 2*len(spans)+2)
			}
		}
		d.segs = append(d.segs, segment{start: start, end: end, first: int32(len(ix.entries))})
		last := int32(-1)
		kept := 0
		for _, k := range active {
			s := &spans[k]
			if s.id == last { // an object's own extents overlap: keep the first
				continue
			}
			if kept == limit {
				ix.truncated++
				break
			}
			last = s.id
			kept++
			e := &m.Objects[s.obj].Extents[s.ext]
			fo := int64(noFileOff)
			if e.FileOff >= 0 {
				fo = e.FileOff + (start - e.Off)
			}
			ix.entries = append(ix.entries, entry{ext: e, fileOff: fo, obj: s.obj, rank: ix.rank[s.obj]})
		}
	})
	if d != nil {
		d.segs = append(d.segs, segment{start: maxOff, end: maxOff, first: int32(len(ix.entries))})
	}
	for i := range ix.disks {
		ix.disks[i].buildBuckets()
	}
	return ix
}

// Truncated is the number of segments covered by more objects than the
// index keeps (see coverLimit): zero for any map of a real disk.
func (ix *Index) Truncated() int { return ix.truncated }

// maxEntries bounds the size of an index: every (segment, object) pair
// costs an entry, and a hostile map of N objects nested like parentheses
// has N²/2 of them (20,000 objects in a 2 MB JSON file would need 3 GB).
// A real disk has about two segments per extent, each covered by three or
// four objects (file, partition, disk, some hard links), so the budget is
// generous: 16 entries per extent, and never less than 4M.
func maxEntries(spans int) int { return max(16*spans, 4<<20) }

// coverLimit returns how many objects NewIndex keeps per segment: all of
// them (no limit) when the whole index fits in maxEntries, else the
// largest count that fits, the highest-priority objects kept. spans must
// be sorted by cmpSpan. It costs a sort and a walk, no more.
func coverLimit(spans []span) int {
	var counts []int32 // spans covering each elementary segment
	total := 0
	ends := make([]int64, 0, len(spans))
	for g := 0; g < len(spans); {
		h := g
		for h < len(spans) && spans[h].disk == spans[g].disk {
			h++
		}
		ends = ends[:0]
		for _, s := range spans[g:h] {
			ends = append(ends, s.end)
		}
		slices.Sort(ends)
		active := int32(0)
		for i, j := g, 0; j < len(ends); {
			x := ends[j]
			if i < h && spans[i].off < x {
				x = spans[i].off
			}
			for ; j < len(ends) && ends[j] == x; j++ {
				active--
			}
			for ; i < h && spans[i].off == x; i++ {
				active++
			}
			if active > 0 {
				counts = append(counts, active)
				total += int(active)
			}
		}
		g = h
	}
	budget := maxEntries(len(spans))
	if total <= budget {
		return math.MaxInt
	}
	// The largest c with sum(min(count, c)) <= budget.
	lo, hi := 1, 1<<31-1
	for lo < hi {
		c := lo + (hi-lo+1)/2
		sum := 0
		for _, n := range counts {
			sum += min(int(n), c)
		}
		if sum <= budget {
			lo = c
		} else {
			hi = c - 1
		}
	}
	return lo
}

// Lookup returns every object the read of length bytes at off on disk
// touches, each once, in priority order (see NewIndex). A read outside
// every object, or of no bytes, gives none.
func (ix *Index) Lookup(disk int, off, length int64) []Hit {
	return ix.LookupAppend(nil, disk, off, length)
}

// LookupAppend is Lookup appending to dst: with a dst of enough capacity
// it allocates nothing, for the NBD server's per-request path.
func (ix *Index) LookupAppend(dst []Hit, disk int, off, length int64) []Hit {
	if length <= 0 {
		return dst
	}
	end := off + length
	if end < off { // overflow
		end = maxOff
	}
	off = max(off, 0)
	if end <= off {
		return dst
	}
	// Disks are in increasing order (the sweep goes disk by disk).
	lo, hi := 0, len(ix.disks)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if ix.disks[h].disk < disk {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo == len(ix.disks) || ix.disks[lo].disk != disk {
		return dst
	}
	d := &ix.disks[lo]
	// First segment ending after off.
	if k := uint64(off) >> d.shift; k < uint64(len(d.bucket)-1) {
		lo, hi = int(d.bucket[k]), int(d.bucket[k+1])
	} else {
		lo, hi = d.nseg(), d.nseg()
	}
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if d.segs[h].end <= off {
			lo = h + 1
		} else {
			hi = h
		}
	}
	base := len(dst)
	// The objects of a segment usually cover its neighbours too (the
	// partition and disk around a run of small files cover them all): a
	// segment's entry for an object the previous segment had adds to that
	// object's hit rather than making one more, so that the sort below
	// sees about one hit per object instead of one per (segment, object).
	// Both segments' entries are in rank order, so one merge walk finds
	// them. prev and cur hold the positions in dst of the hits of the
	// previous and the current segment's objects, in rank order, up to
	// maxTrack of them (a segment with more is not tracked: its objects'
	// repeated hits are folded by the sort as any others).
	const maxTrack = 24
	var track [2][maxTrack]int32
	prev, cur := track[0][:0], track[1][:0]
	nseg := 0
	for s := lo; s < d.nseg() && d.segs[s].start < end; s++ {
		sg := &d.segs[s]
		a, b := max(sg.start, off), min(sg.end, end)
		es := ix.entries[sg.first:d.segs[s+1].first]
		tracked := len(es) <= maxTrack
		cur = cur[:0]
		p := 0
		for i := range es {
			e := &es[i]
			for p < len(prev) && dst[base+int(prev[p])].rank < e.rank {
				p++
			}
			if p < len(prev) && dst[base+int(prev[p])].rank == e.rank {
				h := &dst[base+int(prev[p])]
				h.Len += b - a
				if tracked {
					cur = append(cur, prev[p])
				}
				continue
			}
			fo := int64(-1)
			if e.fileOff != noFileOff {
				fo = e.fileOff + (a - sg.start)
			}
			if tracked {
				cur = append(cur, int32(len(dst)-base))
			}
			dst = append(dst, Hit{Object: &ix.objs[e.obj], Off: a, Len: b - a, FileOff: fo, Extent: e.ext, rank: e.rank})
		}
		prev, cur = cur, prev
		nseg++
	}
	hits := dst[base:]
	if nseg > 1 && !ranksIncrease(hits) {
		dst = foldHits(dst, base)
		hits = dst[base:]
	}
	for i := range hits {
		hits[i].rank = 0
	}
	return dst
}

// ranksIncrease reports whether hits are in strictly increasing rank
// order: one hit per object, already in priority order.
func ranksIncrease(hits []Hit) bool {
	for i := 1; i < len(hits); i++ {
		if hits[i].rank <= hits[i-1].rank {
			return false
		}
	}
	return true
}

// foldHits sorts dst[base:], hits in disk order, by rank and folds the
// hits of one object into its first: the result has one hit per object, in
// priority order, with the object's first byte, file offset and extent
// and the sum of its lengths. It sorts (rank, position) keys rather than
// the hits themselves, which is several times faster for the hundreds of
// hits a large read across many files gives; the keys live on the stack
// up to maxStackKeys hits.
func foldHits(dst []Hit, base int) []Hit {
	const maxStackKeys = 1024
	hits := dst[base:]
	var stack [maxStackKeys]uint64
	keys := stack[:0]
	if len(hits) > maxStackKeys {
		keys = make([]uint64, 0, len(hits))
	}
	for i := range hits {
		keys = append(keys, uint64(uint32(hits[i].rank))<<32|uint64(i))
	}
	slices.Sort(keys) // ranks are >= 0: unsigned order is rank order, then position
	// Fold into new hits appended after the old ones, then move them down.
	out := len(dst)
	for _, k := range keys {
		h := hits[uint32(k)]
		if n := len(dst); n > out && dst[n-1].rank == h.rank {
			dst[n-1].Len += h.Len
			continue
		}
		dst = append(dst, h)
		hits = dst[base:out] // append may have moved the array
	}
	n := copy(dst[base:], dst[out:])
	clear(dst[base+n:])
	return dst[:base+n]
}
