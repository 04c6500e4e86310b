package bmap

import (
	"cmp"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// The text writer's sweep. It does what sweep (sweep.go, shared with the
// Index) does, specialised for the text form of maps of millions of
// objects, where the general sweep's sorts dominated:
//
//   - The extents' starts and ends are packed into uint64 keys (disk rank,
//     offset without the trailing zero bits every boundary shares, object
//     number) and sorted as integers, by one pass of a most significant
//     digit radix sort that leaves the nearly sorted boundaries of a walk
//     sorted (sortKeys), instead of a comparison sort of 32-byte records.
//   - The objects are not ranked by a sort of their texts, nor objects of
//     one text (one element of the original's sets) found through a table
//     of them. The active objects are kept in text order as they enter (a
//     few comparisons of texts per extent), so that objects of one text
//     are neighbours, and whether a boundary changes the set of texts is
//     found by looking up the texts of the objects that enter and leave
//     there.

// cmpText compares the texts "TYPE DEVICE[ PATH]" of two objects (PATH
// escaped) bytewise, without making them: the kinds, then the devices (a
// device that is a prefix of the other is followed by a space or by
// nothing), then the escaped paths.
func cmpText(x, y *Object) int {
	if x.Kind != y.Kind {
		return cmp.Compare(x.Kind, y.Kind)
	}
	if dx, dy := x.Device, y.Device; dx != dy {
		n := min(len(dx), len(dy))
		for i := range n {
			if dx[i] != dy[i] {
				return cmp.Compare(dx[i], dy[i])
			}
		}
		if len(dx) < len(dy) { // devices have no spaces: dy[n] != ' '
			if x.Path == "" {
				return -1
			}
			return cmp.Compare(' ', dy[n])
		}
		if y.Path == "" {
			return 1
		}
		return cmp.Compare(dx[n], ' ')
	}
	px, py := x.Path, y.Path
	switch {
	case px == py:
		return 0
	case px == "":
		return -1
	case py == "":
		return 1
	}
	return cmpEscaped(px, py)
}

// cmpEscaped compares appendEscaped(a) and appendEscaped(b), a != b.
func cmpEscaped(a, b string) int {
	if !needsEscape(a) && !needsEscape(b) {
		return strings.Compare(a, b)
	}
	i, n := 0, min(len(a), len(b))
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n { // a prefix of the other, escaped too
		return cmp.Compare(len(a), len(b))
	}
	// The escapes of a[i] and b[i] differ in their first byte, or both
	// start with a backslash: "\\n" for a newline, "\\\\" for a backslash.
	escFirst := func(c byte) byte {
		if c == '\n' {
			return '\\'
		}
		return c
	}
	if ca, cb := escFirst(a[i]), escFirst(b[i]); ca != cb {
		return cmp.Compare(ca, cb)
	}
	escSecond := func(c byte) byte {
		if c == '\n' {
			return 'n'
		}
		return '\\'
	}
	return cmp.Compare(escSecond(a[i]), escSecond(b[i]))
}

// needsEscape reports whether appendEscaped changes s.
func needsEscape(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\\') >= 0
}

// sameText reports whether two objects have the same text (escaping and
// the separating spaces are unambiguous: a device has no spaces).
func sameText(x, y *Object) bool {
	return x.Kind == y.Kind && x.Device == y.Device && x.Path == y.Path
}

// appendText appends the text of o.
func appendText(b []byte, o *Object) []byte {
	b = append(b, byte(o.Kind), ' ')
	b = append(b, o.Device...)
	if o.Path != "" {
		b = append(b, ' ')
		if needsEscape(o.Path) {
			b = appendEscaped(b, o.Path)
		} else {
			b = append(b, o.Path...)
		}
	}
	return b
}

// bounds are the sorted starts and ends of the non-empty extents, each a
// uint64 key<<idxBits | i, i the index of the extent's object in
// Map.Objects. Keys compare as (disk, offset); decode gives them.
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

// newBounds sorts the starts and ends of the nspans non-empty extents of
// m's objects. disks are the objects' disks in order, orBits the OR of
// every start and end, maxEnd the largest end.
func newBounds(m *Map, disks []int, nspans int, orBits uint64, maxEnd int64) *bounds {
	b := &bounds{idxBits: uint(bits.Len(uint(len(m.Objects)))), disks: disks}
	diskBits := uint(bits.Len(uint(max(len(disks)-1, 0))))
	if orBits != 0 {
		b.tz = uint(bits.TrailingZeros64(orBits))
	}
	b.offBits = uint(bits.Len64(uint64(maxEnd) >> b.tz))
	packed := !forceRanked && diskBits+b.offBits+b.idxBits <= 64
	type pair struct {
		key diskOff
		k   int32
	}
	var starts, ends []pair
	if packed {
		b.start = make([]uint64, 0, nspans)
		b.end = make([]uint64, 0, nspans)
	} else {
		starts = make([]pair, 0, nspans)
		ends = make([]pair, 0, nspans)
	}
	last := -1
	var base uint64 // the disk's rank << offBits
	for i := range m.Objects {
		o := &m.Objects[i]
		if len(o.Extents) == 0 {
			continue
		}
		k := int32(i)
		if o.Disk != last {
			r, _ := slices.BinarySearch(disks, o.Disk)
			last, base = o.Disk, uint64(r)<<b.offBits
		}
		for j := range o.Extents {
			switch e := &o.Extents[j]; {
			case e.Len == 0:
			case packed:
				b.start = append(b.start, (base|uint64(e.Off)>>b.tz)<<b.idxBits|uint64(k))
				b.end = append(b.end, (base|uint64(e.End())>>b.tz)<<b.idxBits|uint64(k))
			default:
				starts = append(starts, pair{diskOff{o.Disk, e.Off}, k})
				ends = append(ends, pair{diskOff{o.Disk, e.End()}, k})
			}
		}
	}
	if packed {
		tmp := make([]uint64, len(b.start))
		sorted := sortKeys(b.start, tmp, b.idxBits, diskBits+b.offBits)
		if len(tmp) > 0 && &sorted[0] == &tmp[0] { // the scratch for the ends is the other one
			tmp = b.start
		}
		b.start = sorted
		b.end = sortKeys(b.end, tmp, b.idxBits, diskBits+b.offBits)
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
			b.start[i] = r<<b.idxBits | uint64(starts[i].k)
		}
		for ; j < len(ends) && ends[j].key == v; j++ {
			b.end[j] = r<<b.idxBits | uint64(ends[j].k)
		}
	}
	return b
}

// sortDigit is the width in bits of the digit sortKeys distributes by.
const sortDigit = 12

// sortKeys sorts a, whose values are key<<lo | k with keys of width bits,
// using tmp (len(tmp) >= len(a)) as scratch, and returns the sorted slice:
// a or tmp. One pass distributes the values by the top sortDigit bits of
// their keys (most significant digit first); a bucket left unsorted is
// then sorted by comparisons. The boundaries of a walk's extents come
// nearly in order, so that most buckets are sorted after the pass: 13 ms
// for the million extents of ext1m, where an LSD radix sort took 30-60
// ms (four passes: offsets in bytes, 34 bits) and pdqsort 28-38 ms. If
// the keys crowd into one bucket, it is pdqsort's time.
func sortKeys(a, tmp []uint64, lo, width uint) []uint64 {
	if len(a) < 2 || width == 0 || slices.IsSorted(a) {
		return a
	}
	d := min(width, sortDigit)
	shift := lo + width - d
	mask := uint64(1)<<d - 1
	var count [1<<sortDigit + 1]int
	for _, v := range a {
		count[(v>>shift)&mask+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	pos := count
	tmp = tmp[:len(a)]
	for _, v := range a {
		x := (v >> shift) & mask
		tmp[pos[x]] = v
		pos[x]++
	}
	if width > d { // the buckets hold several keys each
		for i := range 1 << d {
			if b := tmp[count[i]:count[i+1]]; !slices.IsSorted(b) {
				slices.Sort(b)
			}
		}
	}
	return tmp
}

// sweepText writes the segments: the maximal intervals over which the set of
// texts of the objects covering them does not change, each with one line
// per text, in text order.
func sweepText(objs []Object, b *bounds, tw *textWriter) {
	var (
		sh     = b.idxBits
		imask  = uint64(1)<<sh - 1
		active []int32 // objects of the extents covering the current segment, by (text, index)
		old    []int32 // active before the boundary
		prefix []byte
		// The parts of prefix: the disk (diskNum) in decimal, and the
		// segment's ends in hex; startHex is the offset of key hexKey.
		diskNum          = -1
		diskDec          []byte
		hexKey           = ^uint64(0)
		startHex, endHex []byte
	)
	// search returns where object i is or would be in set, sorted by
	// (text, index), and whether it is there.
	search := func(set []int32, i int32) (int, bool) {
		o := &objs[i]
		lo, hi := 0, len(set)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			c := 0
			if s := set[m]; s != i {
				if c = cmpText(&objs[s], o); c == 0 {
					c = cmp.Compare(s, i)
				}
			}
			switch {
			case c < 0:
				lo = m + 1
			case c > 0:
				hi = m
			default:
				return m, true
			}
		}
		return lo, false
	}
	// has reports whether set holds an object with i's text.
	has := func(set []int32, i int32) bool {
		p, _ := search(set, i)
		return p > 0 && sameText(&objs[set[p-1]], &objs[i]) ||
			p < len(set) && sameText(&objs[set[p]], &objs[i])
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
		// The set of texts changes if a text enters that was not there
		// before, or one leaves that is not there after. The entering
		// spans are looked up once the leaving ones are out of the active
		// set (and compared with them for equality): a file that ends
		// where the next begins is then not compared with it for order.
		old = append(old[:0], active...)
		for _, v := range ends[j:je] {
			k := int32(v & imask)
			if p, ok := search(active, k); ok {
				active = slices.Delete(active, p, p+1)
			}
		}
		changed := false
	starts:
		for _, v := range starts[i:ie] {
			k := int32(v & imask)
			if has(active, k) {
				continue
			}
			for _, e := range ends[j:je] {
				if sameText(&objs[e&imask], &objs[k]) {
					continue starts
				}
			}
			changed = true
			break
		}
		for _, v := range starts[i:ie] {
			k := int32(v & imask)
			p, _ := search(active, k)
			active = slices.Insert(active, p, k)
		}
		for q := j; q < je && !changed; q++ {
			changed = !has(active, int32(ends[q]&imask))
		}
		if len(old) > 0 && changed {
			// A segment mostly starts where the one before ended: its
			// start is written as that end was.
			disk, start := b.decode(segStart)
			_, end := b.decode(x)
			if disk != diskNum {
				diskNum, diskDec = disk, strconv.AppendInt(diskDec[:0], int64(disk), 10)
			}
			if segStart != hexKey {
				startHex = strconv.AppendInt(startHex[:0], start, 16)
			}
			endHex = strconv.AppendInt(endHex[:0], end, 16)
			prefix = append(prefix[:0], diskDec...)
			prefix = append(prefix, ' ')
			prefix = append(prefix, startHex...)
			prefix = append(prefix, ' ')
			prefix = append(prefix, endHex...)
			prefix = append(prefix, ' ')
			startHex, endHex, hexKey = endHex, startHex, x
			for q, i := range old {
				if q > 0 && sameText(&objs[i], &objs[old[q-1]]) {
					continue
				}
				tw.line(prefix, &objs[i])
			}
			if tw.err != nil {
				return
			}
			segStart = x
		}
		if len(old) == 0 {
			segStart = x
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

func (tw *textWriter) line(prefix []byte, o *Object) {
	tw.buf = append(tw.buf, prefix...)
	tw.buf = appendText(tw.buf, o)
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
