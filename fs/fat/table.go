package fat

import (
	"bytes"
	"fmt"
	"io"
)

// table reads entries of one FAT copy through a small direct-mapped cache
// of pages, so following a chain costs one read per page, not per entry.
// A table belongs to one walk: it is not safe for concurrent use.
type table struct {
	r       io.ReaderAt
	off     int64 // the copy's first byte
	len     int64 // bytes of the copy
	variant Variant
	max     uint32 // last valid cluster number
	pages   [tablePages]tablePage
	// alt is another copy's first byte (-1: none), read where this
	// copy's bytes cannot be; onAlt, if set, hears of it once.
	alt   int64
	onAlt func(err error, altOff int64)
}

const (
	tablePageSize = 32 << 10
	tablePages    = 128 // 4 MiB at most
)

type tablePage struct {
	n   int64 // page number + 1; 0: empty
	len int   // valid bytes
	buf []byte
}

// newTable reads the FAT copy p.useFAT, falling back to another copy
// where its bytes cannot be read.
func newTable(r io.ReaderAt, p *bpb) *table {
	t := &table{r: r, off: p.fatOff + p.useFAT*p.fatLen, len: p.fatLen, variant: p.variant, max: p.maxCluster, alt: -1}
	for i := range p.nfats {
		if i != p.useFAT {
			t.alt = p.fatOff + i*p.fatLen
			break
		}
	}
	return t
}

// byteAt returns byte i of the FAT copy.
func (t *table) byteAt(i int64) (byte, error) {
	if i < 0 || i >= t.len {
		return 0, fmt.Errorf("byte %d beyond the FAT's %d", i, t.len)
	}
	pn := i / tablePageSize
	pg := &t.pages[pn%tablePages]
	if pg.n != pn+1 {
		if pg.buf == nil {
			pg.buf = make([]byte, tablePageSize)
		}
		n := min(tablePageSize, t.len-pn*tablePageSize)
		m, err := t.r.ReadAt(pg.buf[:n], t.off+pn*tablePageSize)
		if int64(m) < n {
			pg.n = 0
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			err = fmt.Errorf("reading the FAT at %#x: %w", t.off+pn*tablePageSize, err)
			if t.alt < 0 {
				return 0, err
			}
			// The same bytes of another copy, as fsck.fat would
			// use the second FAT where the first is unreadable.
			if m, aerr := t.r.ReadAt(pg.buf[:n], t.alt+pn*tablePageSize); int64(m) < n {
				return 0, fmt.Errorf("%w; the other copy at %#x: %v", err, t.alt+pn*tablePageSize, aerr)
			}
			if t.onAlt != nil {
				t.onAlt(err, t.alt+pn*tablePageSize)
				t.onAlt = nil
			}
		}
		pg.n, pg.len = pn+1, int(n)
	}
	return pg.buf[i%tablePageSize], nil
}

// entryOff is the byte offset, inside the FAT copy, of cluster c's entry.
func (t *table) entryOff(c uint32) int64 {
	switch t.variant {
	case FAT12:
		return int64(c) + int64(c)/2
	case FAT16:
		return int64(c) * 2
	}
	return int64(c) * 4
}

// EntryOff is where cluster c's entry lies on the volume.
func (t *table) volumeOff(c uint32) int64 { return t.off + t.entryOff(c) }

// next reads cluster c's FAT entry.
func (t *table) next(c uint32) (uint32, error) {
	o := t.entryOff(c)
	n := 4
	switch t.variant {
	case FAT12, FAT16:
		n = 2
	}
	var v uint32
	for i := range n {
		b, err := t.byteAt(o + int64(i))
		if err != nil {
			return 0, err
		}
		v |= uint32(b) << (8 * i)
	}
	switch t.variant {
	case FAT12:
		if c&1 != 0 {
			v >>= 4
		}
		v &= 0xFFF
	case FAT32:
		v &= 0x0FFFFFFF
	}
	return v, nil
}

// Classes of FAT entry values.
type entryClass int

const (
	entryNext     entryClass = iota // a valid next cluster
	entryEnd                        // end of chain
	entryFree                       // 0: a chain cannot lead here
	entryReserved                   // 1
	entryBad                        // the bad-cluster marker
	entryOutside                    // a cluster number past the volume's last
)

func (t *table) class(v uint32) entryClass {
	var bad uint32
	switch t.variant {
	case FAT12:
		bad = 0xFF7
	case FAT16:
		bad = 0xFFF7
	default:
		bad = 0x0FFFFFF7
	}
	switch {
	case v == 0:
		return entryFree
	case v == 1:
		return entryReserved
	case v > bad:
		return entryEnd
	case v == bad:
		return entryBad
	case v > t.max:
		return entryOutside
	}
	return entryNext
}

// run is a run of consecutive clusters.
type run struct {
	first, n uint32
}

// chainEnd says why a chain walk stopped.
type chainEnd int

const (
	endEOC     chainEnd = iota // an end-of-chain mark: the normal end
	endLimit                   // the clusters wanted were all found
	endBadNext                 // an entry that is not a cluster (see class)
	endLoop                    // a cluster met twice in this chain
	endShared                  // a cluster already owned (directories)
	endRead                    // the FAT could not be read
	endBudget                  // the walk's budget ran out
)

// chainResult describes the end of a chain walk: at is the last cluster
// taken, val its FAT entry.
type chainResult struct {
	end   chainEnd
	at    uint32
	val   uint32
	class entryClass
	err   error
	count uint32 // clusters taken
}

// bitset marks clusters.
type bitset []uint64

func (b bitset) has(c uint32) bool { return b[c/64]&(1<<(c%64)) != 0 }
func (b bitset) set(c uint32)      { b[c/64] |= 1 << (c % 64) }

func newBitset(max uint32) bitset { return make(bitset, max/64+1) }

// follow walks the chain from start (a valid cluster number), appending
// runs to runs, until an end-of-chain mark or limit clusters. Every
// cluster taken is marked in seen; a cluster already marked there ends the
// walk: a loop when it is in this chain (a cluster of runs[from:]),
// otherwise it is shared (owned by a chain marked before). budget is
// charged one per cluster.
func (t *table) follow(start uint32, limit uint32, runs []run, seen bitset, budget *int64) ([]run, chainResult) {
	from := len(runs)
	var res chainResult
	c := start
	for {
		if seen.has(c) {
			res.end = endShared
			for _, r := range runs[from:] {
				if c >= r.first && c-r.first < r.n {
					res.end = endLoop
					break
				}
			}
			res.val = c
			return runs, res
		}
		if *budget--; *budget < 0 {
			res.end = endBudget
			return runs, res
		}
		seen.set(c)
		if n := len(runs); n > from && runs[n-1].first+runs[n-1].n == c {
			runs[n-1].n++
		} else {
			runs = append(runs, run{first: c, n: 1})
		}
		res.count++
		res.at = c
		if res.count >= limit {
			res.end = endLimit
			return runs, res
		}
		v, err := t.next(c)
		if err != nil {
			res.end, res.err = endRead, err
			return runs, res
		}
		res.val = v
		switch res.class = t.class(v); res.class {
		case entryNext:
			c = v
		case entryEnd:
			res.end = endEOC
			return runs, res
		default:
			res.end = endBadNext
			return runs, res
		}
	}
}

// describe explains a chain's end for a warning.
func (t *table) describe(res chainResult) string {
	switch res.end {
	case endBadNext:
		what := map[entryClass]string{
			entryFree:     "a free cluster (0)",
			entryReserved: "reserved cluster 1",
			entryBad:      "the bad-cluster mark",
			entryOutside:  fmt.Sprintf("cluster %d, beyond the last cluster %d", res.val, t.max),
		}[res.class]
		return fmt.Sprintf("the FAT entry of cluster %d (at %#x) points to %s", res.at, t.volumeOff(res.at), what)
	case endLoop:
		return fmt.Sprintf("the chain loops: the FAT entry of cluster %d (at %#x) leads back to cluster %d", res.at, t.volumeOff(res.at), res.val)
	case endShared:
		if res.count == 0 {
			return fmt.Sprintf("its first cluster %d already belongs to another file or directory (crossed chains)", res.val)
		}
		return fmt.Sprintf("the FAT entry of cluster %d (at %#x) leads to cluster %d, which already belongs to another file or directory (crossed chains)", res.at, t.volumeOff(res.at), res.val)
	case endRead:
		return res.err.Error()
	}
	return fmt.Sprintf("chain end %d", res.end)
}

// mediaOK reports whether a FAT copy's first entry holds the media
// descriptor with all the other bits set (0xFF8 on FAT12, 0xFFF8 on FAT16,
// 0x0FFFFFF8 on FAT32, the low byte being the media byte): fsck.fat's test
// of whether a copy is intact (FAT_EXTD: every bit but the low 8 set).
// It reads the entry's bytes alone, not the page around them.
func (t *table) mediaOK() (bool, uint32, error) {
	var b [4]byte
	if err := readFull(t.r, b[:], t.off); err != nil {
		return false, 0, fmt.Errorf("reading the FAT: %w", err)
	}
	v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	var extd uint32
	switch t.variant {
	case FAT12:
		v &= 0xFFF
		extd = 0xF00
	case FAT16:
		v &= 0xFFFF
		extd = 0xFF00
	default:
		v &= 0x0FFFFFFF
		extd = 0x0FFFFF00
	}
	return v&extd == extd, v, nil
}

// diffChunk is the unit in which two FAT copies are compared.
const diffChunk = 256 << 10

// fatDiff counts the entries of clusters 2 and up that differ between
// copies a and b (of one volume), reading both in chunks and decoding
// only the chunks that differ. first is the first such cluster, va and vb
// its entries. A read error ends the comparison (err).
func fatDiff(r io.ReaderAt, a, b *table) (n int64, first, va, vb uint32, err error) {
	chunk := min(diffChunk, a.len)
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for off := int64(0); off < a.len; off += chunk {
		k := min(chunk, a.len-off)
		if err := readFull(r, ba[:k], a.off+off); err != nil {
			return n, first, va, vb, err
		}
		if err := readFull(r, bb[:k], b.off+off); err != nil {
			return n, first, va, vb, err
		}
		if bytes.Equal(ba[:k], bb[:k]) {
			continue
		}
		// The clusters whose entries overlap [off, off+k).
		lo, hi := uint32(0), uint32(0)
		switch a.variant {
		case FAT12:
			lo, hi = uint32(off*2/3), uint32((off+k)*2/3+1)
		case FAT16:
			lo, hi = uint32(off/2), uint32((off+k)/2)
		default:
			lo, hi = uint32(off/4), uint32((off+k)/4)
		}
		for c := max(lo, 2); c <= hi && c <= a.max; c++ {
			x, err := a.next(c)
			if err != nil {
				return n, first, va, vb, err
			}
			y, err := b.next(c)
			if err != nil {
				return n, first, va, vb, err
			}
			if x != y {
				if n == 0 {
					first, va, vb = c, x, y
				}
				n++
			}
		}
	}
	return n, first, va, vb, nil
}

func readFull(r io.ReaderAt, b []byte, off int64) error {
	m, err := r.ReadAt(b, off)
	if m == len(b) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %d bytes at %#x: %w", len(b), off, err)
}
