package xz

import (
	"bufio"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/virt-bmap/virt-bmap/image/xz/lzma2"
)

// Forward decoding serves a block too big to decode whole — typically
// the single block of an image compressed by plain, single-threaded xz.
// LZMA2 can only be decoded from the start of the block, so:
//
//   - The block is cut into 1 MiB pages, cached in the same LRU cache as
//     whole blocks (key: block, page).
//   - Up to maxCursors live decoders ("cursors") are kept, each parked
//     at a page boundary after the last page it made. A read of a page
//     that is not cached advances the nearest cursor at or before it,
//     caching the pages it passes (those within a quarter of the cache
//     before the target, so a long skip does not flush the cache), and
//     the page wanted. A read behind every cursor starts a new cursor
//     from the block start (Stats.Restarts), replacing the least recently
//     used cursor when all slots are taken.
//
// A "checkpoint" here is such a parked cursor: a position from which
// decoding continues without starting over. It costs the LZMA2
// LZMA2 reader's buffer (the dictionary size of the block's properties,
// 8 MiB for xz -6, 64 MiB for -9, plus half of it or at least 4 MiB, so
// that it slides rarely; see lzma2.Reader), a 256 KiB input buffer and a
// 1 MiB page buffer;
// maxCursors is chosen so that all of them take at most about 48 MiB
// (always at least one). More checkpoints would cost as much each: a
// decoder's state is small, but resuming needs the whole dictionary
// before the position, and LZMA2 can only restart without it where a
// chunk resets the dictionary, which xz writes only at the start of a
// block. So reads behind all cursors cost decoding from the block start
// up to them (at about xz's speed, 60-70 MB/s a core on disk data).
//
// Integrity: the check of a block covers all of it, so it can only be
// verified when a cursor reaches the block's end. Pages are returned
// before that; an LZMA2 error on the way is an error naming the block and
// offset, and a check mismatch at the end makes every later read of the
// block fail, but bytes served before it cannot be recalled. This is the
// price of not decoding a whole multi-GiB block before the first read.
type forward struct {
	x          *Reader
	bi         int
	mu         sync.Mutex // one decoder runs at a time per block
	cursors    []*cursor
	maxCursors int
	dict       int
	tick       int64
	err        error // sticky: the block failed its end checks
}

type cursor struct {
	pos     int64 // uncompressed offset in the block of the next page
	br      *bufio.Reader
	rd      io.Reader
	lz      *lzma2.Reader
	h       hash.Hash
	used    int64
	scratch []byte
}

func newForward(x *Reader, bi int) (*forward, error) {
	b := &x.blocks[bi]
	d := dictCap(b)
	if lim := min(maxDict, x.opt.CacheSize); int64(d) > lim {
		return nil, x.errDecode(bi, fmt.Errorf("LZMA2 dictionary of %d MiB is over the %d MiB this reader allocates (the cache size, at most %d MiB)", d>>20, lim>>20, maxDict>>20))
	}
	per := d + max(d/2, 2*lzma2.MaxChunk) + 256<<10 + pageSize
	f := &forward{x: x, bi: bi, dict: d, maxCursors: max(1, min(4, (48<<20)/per))}
	x.warn(fmt.Sprintf("xz: block %d holds %d MiB of the %d MiB image in one piece (compressed by single-threaded xz?): "+
		"random access to it decodes forward from the block start and will be slow; for fast random access recompress with: xz -T0 --block-size=16MiB",
		bi, b.usize>>20, x.size>>20))
	return f, nil
}

// page returns the pinned entry of page pg, decoding forward as needed.
// With prefetch it returns nil, nil once the page is cached.
func (f *forward) page(pg int64, prefetch bool) (*entry, error) {
	x, c := f.x, f.x.cache
	k := unitKey{f.bi, pg}
	if prefetch {
		if c.contains(k) {
			return nil, nil
		}
	} else if e := c.lookup(k, true); e != nil {
		return e, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if e := c.lookup(k, false); e != nil { // made while this waited
		if prefetch {
			c.release(e)
			return nil, nil
		}
		c.mu.Lock()
		c.waits++
		c.mu.Unlock()
		return e, nil
	}
	b := &x.blocks[f.bi]
	target := pg * pageSize
	if target >= b.usize {
		return nil, x.errDecode(f.bi, fmt.Errorf("page %d past the block end", pg))
	}
	cur, err := f.cursorFor(target)
	if err != nil {
		return nil, err
	}
	if !prefetch {
		c.mu.Lock()
		c.misses++
		c.mu.Unlock()
	} else {
		x.readAhead.Add(1)
	}
	window := c.max / 4
	var got *entry
	for got == nil {
		n := int(min(pageSize, b.usize-cur.pos))
		buf := cur.scratch[:n]
		k, err := io.ReadFull(cur.rd, buf)
		x.bytesDecoded.Add(int64(k))
		if err != nil {
			f.drop(cur)
			return nil, x.errDecode(f.bi, fmt.Errorf("%w: at uncompressed offset %#x: %w",
				ErrCorrupt, b.uoff+cur.pos+int64(k), lzmaError(b, err)))
		}
		if cur.h != nil {
			cur.h.Write(buf)
		}
		x.pagesDecoded.Add(1)
		p := cur.pos / pageSize
		cur.pos += int64(n)
		if cur.pos == b.usize {
			if err := f.finish(cur); err != nil {
				f.err = err
				return nil, err
			}
		}
		switch {
		case p == pg:
			got = c.insert(unitKey{f.bi, p}, buf, !prefetch)
			if prefetch {
				return nil, nil
			}
		case target-cur.pos < window:
			c.insert(unitKey{f.bi, p}, buf, false)
		}
	}
	return got, nil
}

// cursorFor returns the cursor to advance to target: the furthest one at
// or before it, or a new one from the block start.
func (f *forward) cursorFor(target int64) (*cursor, error) {
	f.tick++
	var best *cursor
	for _, cu := range f.cursors {
		if cu.pos <= target && (best == nil || cu.pos > best.pos) {
			best = cu
		}
	}
	if best != nil {
		best.used = f.tick
		return best, nil
	}
	if len(f.cursors) == f.maxCursors {
		lru := f.cursors[0]
		for _, cu := range f.cursors {
			if cu.used < lru.used {
				lru = cu
			}
		}
		f.drop(lru)
	}
	b := &f.x.blocks[f.bi]
	br := bufio.NewReaderSize(io.NewSectionReader(f.x.r, b.dataOff, b.csize), 256<<10)
	rd, lz, err := newChain(b, br, f.dict)
	if err != nil {
		return nil, f.x.errDecode(f.bi, fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	cu := &cursor{br: br, rd: rd, lz: lz, h: newCheck(b.check), used: f.tick, scratch: make([]byte, pageSize)}
	f.cursors = append(f.cursors, cu)
	f.x.restarts.Add(1)
	return cu, nil
}

func (f *forward) drop(cu *cursor) {
	for i, c := range f.cursors {
		if c == cu {
			f.cursors = append(f.cursors[:i], f.cursors[i+1:]...)
			return
		}
	}
}

// finish checks the end of the block once a cursor has made all of it:
// the end marker, the compressed size, padding and check.
func (f *forward) finish(cu *cursor) error {
	x, b := f.x, &f.x.blocks[f.bi]
	defer f.drop(cu)
	if err := endOfBlock(cu.rd, cu.lz); err != nil {
		return x.errDecode(f.bi, fmt.Errorf("%w: after %d uncompressed bytes: %v", ErrCorrupt, b.usize, err))
	}
	if used := cu.lz.Consumed(); used != b.csize {
		return x.errDecode(f.bi, fmt.Errorf("%w: LZMA2 data ends after %d bytes, the index says %d", ErrCorrupt, used, b.csize))
	}
	pad := (4 - b.csize%4) % 4
	tail := make([]byte, pad+int64(b.check.Size()))
	if n, err := x.r.ReadAt(tail, b.dataOff+b.csize); n < len(tail) {
		return x.errDecode(f.bi, fmt.Errorf("reading the check at %#x: %w", b.dataOff+b.csize, err))
	}
	for i := int64(0); i < pad; i++ {
		if tail[i] != 0 {
			return x.errDecode(f.bi, fmt.Errorf("%w: non-zero block padding at %#x", ErrCorrupt, b.dataOff+b.csize+i))
		}
	}
	if cu.h != nil {
		if got, want := checkSum(b.check, cu.h), tail[pad:]; string(got) != string(want) {
			return x.errDecode(f.bi, fmt.Errorf("%w: %v mismatch: computed %x, stored %x at %#x", ErrCorrupt, b.check, got, want, b.dataOff+b.csize+pad))
		}
	}
	x.blocksDecoded.Add(1)
	return nil
}

func (f *forward) close() {
	f.mu.Lock()
	f.cursors = nil
	f.mu.Unlock()
}
