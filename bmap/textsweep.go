package bmap

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"io"
	"math/bits"
	"slices"
	"strconv"
)

// The text writer's sweep. It does what sweep (sweep.go, shared with the
// Index) does, specialised for the text form of maps of millions of
// objects, where the general sweep's sorts dominated:
//
//   - The extents' starts and ends are packed into uint64 keys (disk rank,
//     offset without the trailing zero bits every boundary shares, span
//     number) and sorted by a radix sort on the bits that vary: two or
//     three passes over 8 bytes per extent instead of a comparison sort of
//     32-byte records.
//   - The objects are not ranked by a sort of their texts. A segment's
//     lines are kept in text order as spans enter (a few comparisons of
//     texts per extent), and objects with the same (disk, text), which the
//     original's sets hold once, get one id through a hash table.

// textMap is the text of every object of the map that has extents.
type textMap struct {
	objs   []int32 // the objects with extents, in map order; k indexes this
	sfx    []byte  // the text of every objs[k], back to back
	sfxAt  []int32 // objs[k]'s text is sfx[sfxAt[k]:sfxAt[k+1]]
	id     []int32 // id[k]: the first k' with objs[k']'s disk and text
	spanID []int32 // the id of each span (extent) of the sweep
}

func (t *textMap) text(k int32) []byte { return t.sfx[t.sfxAt[k]:t.sfxAt[k+1]] }

// dedup gives every object the id of the first object with the same disk
// and text, through an open-addressing hash table of (hash bits, k+1).
func (t *textMap) dedup(m *Map) {
	n := len(t.objs)
	t.id = make([]int32, n)
	if n == 0 {
		return
	}
	size := 1 << bits.Len(uint(n+n/2)) // load factor 1/3 to 2/3
	mask := uint64(size - 1)
	table := make([]uint64, size)
	seed := maphash.MakeSeed()
	disk := func(k int32) int { return m.Objects[t.objs[k]].Disk }
	for k := int32(0); k < int32(n); k++ {
		txt := t.text(k)
		d := disk(k)
		h := maphash.Bytes(seed, txt) ^ uint64(d)*0x9E3779B97F4A7C15
		tag := h >> 32
		for i := h & mask; ; i = (i + 1) & mask {
			e := table[i]
			if e == 0 {
				table[i] = tag<<32 | uint64(k+1)
				t.id[k] = k
				break
			}
			if e>>32 == tag {
				if k2 := int32(uint32(e)) - 1; disk(k2) == d && bytes.Equal(t.text(k2), txt) {
					t.id[k] = k2
					break
				}
			}
		}
	}
}

// bounds are the sorted starts and ends of the spans, each a uint64
// key<<idxBits | span. Keys compare as (disk, offset); key decodes them.
type bounds struct {
	start, end []uint64
	idxBits    uint
	// Packed keys: disk rank << offBits | offset >> tz.
	disks   []int // disk numbers by rank
	offBits uint
	tz      uint
	// Ranked keys (the packed ones would not fit in 64 bits): a key is an
	// index into vals.
	vals []diskOff
}

type diskOff struct {
	disk int
	off  int64
}

// decode returns the disk and offset of a key.
func (b *bounds) decode(key uint64) (int, int64) {
	if b.vals != nil {
		v := b.vals[key]
		return v.disk, v.off
	}
	return b.disks[key>>b.offBits], int64(key&(1<<b.offBits-1)) << b.tz
}

// forceRanked makes newBounds take the ranked path (tests).
var forceRanked = false

// newBounds sorts the starts and ends of the extents of t's objects (the
// non-empty ones, nspans of them) and numbers the spans in map order,
// recording each one's id in t.spanID. orBits is the OR of every start
// and end, maxEnd the largest end.
func (t *textMap) newBounds(m *Map, nspans int, orBits uint64, maxEnd int64) *bounds {
	b := &bounds{idxBits: uint(bits.Len(uint(nspans)))}
	t.spanID = make([]int32, 0, nspans)
	var disks []int
	last := -1
	for _, i := range t.objs {
		if d := m.Objects[i].Disk; d != last {
			last = d
			if !slices.Contains(disks, d) {
				disks = append(disks, d)
			}
		}
	}
	slices.Sort(disks)
	b.disks = disks
	diskBits := uint(bits.Len(uint(max(len(disks)-1, 0))))
	b.tz = uint(bits.TrailingZeros64(orBits))
	if orBits == 0 {
		b.tz = 0
	}
	b.offBits = uint(bits.Len64(uint64(maxEnd) >> b.tz))
	packed := !forceRanked && diskBits+b.offBits+b.idxBits <= 64
	rankOf := func(d int) uint64 {
		r, _ := slices.BinarySearch(disks, d)
		return uint64(r)
	}
	if packed {
		b.start = make([]uint64, 0, nspans)
		b.end = make([]uint64, 0, nspans)
	}
	type pair struct {
		key diskOff
		s   int32
	}
	var starts, ends []pair
	if !packed {
		starts = make([]pair, 0, nspans)
		ends = make([]pair, 0, nspans)
	}
	last = -1
	var dr uint64
	for k, i := range t.objs {
		o := &m.Objects[i]
		if o.Disk != last {
			last, dr = o.Disk, rankOf(o.Disk)
		}
		id := t.id[k]
		for _, e := range o.Extents {
			if e.Len == 0 {
				continue
			}
			s := uint64(len(t.spanID))
			t.spanID = append(t.spanID, id)
			if packed {
				base := dr << b.offBits
				b.start = append(b.start, (base|uint64(e.Off)>>b.tz)<<b.idxBits|s)
				b.end = append(b.end, (base|uint64(e.End())>>b.tz)<<b.idxBits|s)
			} else {
				starts = append(starts, pair{diskOff{o.Disk, e.Off}, int32(s)})
				ends = append(ends, pair{diskOff{o.Disk, e.End()}, int32(s)})
			}
		}
	}
	if packed {
		tmp := make([]uint64, len(b.start))
		sorted := radixSort(b.start, tmp, b.idxBits, diskBits+b.offBits)
		if len(tmp) > 0 && &sorted[0] == &tmp[0] { // the scratch for the ends is the other one
			tmp = b.start
		}
		b.start = sorted
		b.end = radixSort(b.end, tmp, b.idxBits, diskBits+b.offBits)
		return b
	}
	// Rank the boundaries: the keys become indices into vals, the
	// distinct (disk, offset) of starts and ends in order.
	cmpDO := func(a, b diskOff) int {
		if c := cmp.Compare(a.disk, b.disk); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	}
	byKey := func(a, b pair) int { return cmpDO(a.key, b.key) }
	slices.SortFunc(starts, byKey)
	slices.SortFunc(ends, byKey)
	b.start = make([]uint64, len(starts))
	b.end = make([]uint64, len(ends))
	for i, j := 0, 0; i < len(starts) || j < len(ends); {
		var v diskOff
		if j >= len(ends) || i < len(starts) && cmpDO(starts[i].key, ends[j].key) <= 0 {
			v = starts[i].key
		} else {
			v = ends[j].key
		}
		r := uint64(len(b.vals))
		b.vals = append(b.vals, v)
		for ; i < len(starts) && starts[i].key == v; i++ {
			b.start[i] = r<<b.idxBits | uint64(starts[i].s)
		}
		for ; j < len(ends) && ends[j].key == v; j++ {
			b.end[j] = r<<b.idxBits | uint64(ends[j].s)
		}
	}
	return b
}

// radixDigit is the width in bits of a radix sort digit.
const radixDigit = 11

// radixSort sorts a by bits [lo, lo+width) of its values (LSD, stable),
// with tmp as scratch (len(tmp) >= len(a)), and returns the sorted slice:
// a or tmp. A pass whose digit is the same for every value is skipped.
func radixSort(a, tmp []uint64, lo, width uint) []uint64 {
	if len(a) < 2 || width == 0 {
		return a
	}
	tmp = tmp[:len(a)]
	passes := (width + radixDigit - 1) / radixDigit
	db := (width + passes - 1) / passes
	var count [1 << radixDigit]int
	for p := uint(0); p < passes; p++ {
		shift := lo + p*db
		mask := uint64(1)<<min(db, lo+width-shift) - 1
		clear(count[:])
		for _, v := range a {
			count[(v>>shift)&mask]++
		}
		if count[(a[0]>>shift)&mask] == len(a) {
			continue
		}
		sum := 0
		for d, c := range count[:mask+1] {
			count[d] = sum
			sum += c
		}
		for _, v := range a {
			d := (v >> shift) & mask
			tmp[count[d]] = v
			count[d]++
		}
		a, tmp = tmp, a
	}
	return a
}

// sweep writes the segments: the maximal intervals over which the set of
// ids covering them does not change, each with one line per id in text
// order.
func (t *textMap) sweep(b *bounds, tw *textWriter) {
	var (
		sh      = b.idxBits
		smask   = uint64(1)<<sh - 1
		nid     = len(t.objs)
		cnt     = make([]int32, nid)  // number of active spans per id
		mark    = make([]uint32, nid) // generation an id was last touched in
		gen     uint32
		touched []int32
		before  []bool
		active  []int32 // active spans, by (text, span)
		prefix  []byte
	)
	less := func(a, b int32) int {
		ia, ib := t.spanID[a], t.spanID[b]
		if ia != ib {
			return bytes.Compare(t.text(ia), t.text(ib))
		}
		return cmp.Compare(a, b)
	}
	touch := func(id int32, d int32) {
		if mark[id] != gen {
			mark[id] = gen
			touched = append(touched, id)
			before = append(before, cnt[id] > 0)
		}
		cnt[id] += d
	}
	starts, ends := b.start, b.end
	var segStart uint64
	for i, j := 0, 0; j < len(ends); {
		x := ends[j] >> sh
		if i < len(starts) && starts[i]>>sh < x {
			x = starts[i] >> sh
		}
		je := j
		for je < len(ends) && ends[je]>>sh == x {
			je++
		}
		ie := i
		for ie < len(starts) && starts[ie]>>sh == x {
			ie++
		}
		gen++
		if gen == 0 { // wrapped: forget every mark
			clear(mark)
			gen = 1
		}
		touched, before = touched[:0], before[:0]
		for _, v := range ends[j:je] {
			touch(t.spanID[v&smask], -1)
		}
		for _, v := range starts[i:ie] {
			touch(t.spanID[v&smask], +1)
		}
		changed := false
		for k, id := range touched {
			if (cnt[id] > 0) != before[k] {
				changed = true
				break
			}
		}
		if len(active) > 0 && changed {
			disk, start := b.decode(segStart)
			_, end := b.decode(x)
			prefix = strconv.AppendInt(prefix[:0], int64(disk), 10)
			prefix = append(prefix, ' ')
			prefix = strconv.AppendInt(prefix, start, 16)
			prefix = append(prefix, ' ')
			prefix = strconv.AppendInt(prefix, end, 16)
			prefix = append(prefix, ' ')
			last := int32(-1)
			for _, s := range active {
				id := t.spanID[s]
				if id == last {
					continue
				}
				last = id
				tw.line(prefix, t.text(id))
			}
			if tw.err != nil {
				return
			}
			segStart = x
		}
		if len(active) == 0 {
			segStart = x
		}
		for _, v := range ends[j:je] {
			s := int32(v & smask)
			if p := slices.Index(active, s); p >= 0 {
				active = slices.Delete(active, p, p+1)
			}
		}
		for _, v := range starts[i:ie] {
			s := int32(v & smask)
			p, _ := slices.BinarySearchFunc(active, s, less)
			active = slices.Insert(active, p, s)
		}
		i, j = ie, je
	}
}

// textBuf is how many bytes of lines the text writer gathers before
// writing them.
const textBuf = 256 << 10

// textWriter gathers lines and writes them in large pieces; after a
// failed write it drops everything and keeps the error.
type textWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (tw *textWriter) line(prefix, text []byte) {
	tw.buf = append(tw.buf, prefix...)
	tw.buf = append(tw.buf, text...)
	tw.buf = append(tw.buf, '\n')
	if len(tw.buf) >= textBuf {
		tw.write()
	}
}

func (tw *textWriter) write() {
	if tw.err == nil && len(tw.buf) > 0 {
		_, tw.err = tw.w.Write(tw.buf)
	}
	tw.buf = tw.buf[:0]
}

func (tw *textWriter) flush() error {
	tw.write()
	return tw.err
}
