// Package xz reads xz-compressed disk images with random access, without
// unpacking them: ReadAt decodes only the blocks a read needs, keeps
// decoded blocks in a cache shared by all its callers, decodes different
// blocks in parallel and reads ahead on sequential access.
//
// Everything is ours: the LZMA2 decoding (package lzma2, written for
// speed: github.com/ulikunitz/xz, used before, has no index, seek or block
// API and decodes 2.6 times slower per core than liblzma; it stays in the
// tests as the reference), stream header and footer (stream.go), index
// (index.go), block headers and filter chains (block.go), the delta and
// BCJ filters (filter.go), the checks (check.go), the cache (cache.go),
// and the forward decoding of blocks too big to decode whole
// (forward.go). A block decoded whole is decoded straight into its cache
// buffer, which is the LZMA2 dictionary: no window, no copy; the filters
// other than LZMA2 then run over it in place.
//
// NewReader parses the file from its end: stream padding, footer, index
// and header of every stream (several concatenated streams are fine), and
// every block header, whose sizes must agree with the index. A block is
// decoded whole and its check (CRC32, CRC64, SHA-256 or none) verified
// before any byte of it is returned; a corrupted or truncated block gives
// an error that names the block and its offsets.
//
// A block bigger than a quarter of the cache (at most 64 MiB) — the one
// block of a file compressed by single-threaded xz — is served by
// decoding forward in 1 MiB pages; see forward.go.
package xz

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Options tunes a Reader; the zero value gives the defaults.
type Options struct {
	// CacheSize is the number of bytes of decoded data kept, shared by
	// every reader. 0 means DefaultCacheSize; values below MinCacheSize
	// are raised to it.
	CacheSize int64
	// ReadAhead is the number of blocks (pages, for forward-decoded
	// blocks) decoded ahead of a sequential reader: 0 means
	// DefaultReadAhead, < 0 turns read-ahead off.
	ReadAhead int
	// Workers is the most blocks decoded at once for reads, and the most
	// for reads and read-ahead together when read-ahead starts one (a
	// read never waits for read-ahead: see sched); 0 means GOMAXPROCS.
	Workers int
	// Warn receives one-time notices, such as that the file is one huge
	// block and random access will be slow; nil drops them.
	Warn func(msg string)
}

const (
	// DefaultCacheSize is 256 MiB: a guest's boot reads from tens to a
	// few hundred MiB of its disk (kernel, initramfs, libraries, the
	// registry and DLLs of Windows), clustered in the same regions, so
	// with 1-16 MiB blocks the blocks it touches fit, and every
	// connection of a server shares them.
	DefaultCacheSize = 256 << 20
	// MinCacheSize keeps room for a few blocks and pages.
	MinCacheSize = 16 << 20
	// DefaultReadAhead keeps both cores of a small machine busy on a
	// sequential read while the reader consumes the block before.
	DefaultReadAhead = 4
	// pageSize is the unit of forward decoding.
	pageSize = 1 << 20
	// maxWholeBlock is the largest block decoded whole (capped further
	// to a quarter of the cache).
	maxWholeBlock = 64 << 20
	// maxDict is the largest LZMA2 dictionary accepted for forward
	// decoding, where the whole dictionary is allocated.
	maxDict = 1 << 30
)

// Stats counts what the cache and the decoders did, as nbdkit's xz filter
// reports hits and misses.
type Stats struct {
	Hits          int64 // reads of a unit (block or page) found decoded in the cache
	Misses        int64 // units a read had to decode
	Waits         int64 // reads that waited for a decode another reader had started
	BlocksDecoded int64 // whole blocks decoded (read-ahead included)
	PagesDecoded  int64 // pages of forward-decoded blocks produced
	BytesDecoded  int64 // uncompressed bytes produced by all decoders
	ReadAhead     int64 // units decoded by read-ahead
	ReadAheadUsed int64 // of those, units a read then used
	Restarts      int64 // forward decoders started from a block's start
	CacheBytes    int64 // decoded bytes in the cache now
}

// block is one block of the file, in uncompressed order.
type block struct {
	stream   int
	check    CheckType
	hdrOff   int64 // block header in the file
	dataOff  int64 // compressed data
	csize    int64 // compressed data, without padding and check
	uoff     int64 // first uncompressed byte
	usize    int64
	filters  []filter // the chain as stored, LZMA2 last
	hdrSizes bool     // the header stored both sizes (for messages only)
	fwd      *forward // non-nil: decoded forward in pages
}

func (b *block) where(i int) string {
	return fmt.Sprintf("block %d (header at %#x, uncompressed %#x-%#x)", i, b.hdrOff, b.uoff, b.uoff+b.usize)
}

// Reader gives random access to the uncompressed bytes of an xz file.
type Reader struct {
	r         io.ReaderAt
	size      int64 // uncompressed
	blocks    []block
	streams   int
	opt       Options
	wholeMax  int64
	cache     *cache
	sched     *sched // decodes running: reads first, then read-ahead
	warnOnce  sync.Once
	closeMu   sync.RWMutex // ReadAt holds it shared; Close exclusive
	closed    bool
	bg        sync.WaitGroup // read-ahead goroutines
	bgRunning atomic.Int64
	recent    [16]atomic.Int64 // ends of recent reads, for sequential detection
	recentI   atomic.Uint32

	blocksDecoded, pagesDecoded, bytesDecoded, readAhead, restarts atomic.Int64

	decodeHook func(block int, prefetch bool) // tests: called as a block decode starts
}

var errClosed = errors.New("xz: reader is closed")

func formatError(off int64, what, msg string) error {
	return &diskerr.FormatError{FS: "xz", Off: off, What: what, Msg: msg}
}

// NewReader parses the xz file of size bytes in r: every stream's footer,
// index and header and every block header. It reads no compressed data.
func NewReader(r io.ReaderAt, size int64, opt Options) (*Reader, error) {
	if opt.CacheSize == 0 {
		opt.CacheSize = DefaultCacheSize
	}
	opt.CacheSize = max(opt.CacheSize, MinCacheSize)
	if opt.ReadAhead == 0 {
		opt.ReadAhead = DefaultReadAhead
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	x := &Reader{r: r, opt: opt, cache: newCache(opt.CacheSize), sched: newSched(opt.Workers)}
	x.wholeMax = min(maxWholeBlock, opt.CacheSize/4)
	for i := range x.recent {
		x.recent[i].Store(-1)
	}
	if err := x.parse(size); err != nil {
		return nil, err
	}
	for i := range x.blocks {
		b := &x.blocks[i]
		if b.usize > x.wholeMax || b.csize > x.wholeMax+x.wholeMax/8 {
			f, err := newForward(x, i)
			if err != nil {
				return nil, err
			}
			b.fwd = f
		}
	}
	return x, nil
}

// parse walks the streams from the end of the file to its start.
func (x *Reader) parse(size int64) error {
	if size < streamHeaderSize+streamFooterSize+8 {
		return formatError(0, "file", fmt.Sprintf("%d bytes is too short for an xz stream", size))
	}
	if size%4 != 0 {
		return formatError(size, "file", fmt.Sprintf("size %d is not a multiple of 4: truncated or extended", size))
	}
	var streams [][]block // last stream first
	pos := size
	var buf [streamFooterSize]byte
	for pos > 0 {
		// Stream padding: zero bytes in groups of 4 after a stream.
		var err error
		if pos, err = skipPadding(x.r, pos); err != nil {
			return err
		}
		if pos == 0 {
			return formatError(0, "file", "only zeros before the stream padding: no xz stream")
		}
		if pos < streamHeaderSize+streamFooterSize+8 {
			return formatError(0, "file", fmt.Sprintf("%d bytes before the stream at %#x is too short for a stream", pos, pos))
		}
		footOff := pos - streamFooterSize
		if _, err := x.r.ReadAt(buf[:], footOff); err != nil {
			return fmt.Errorf("xz: reading the stream footer at %#x: %w", footOff, err)
		}
		foot, err := decodeStreamFooter(buf[:], footOff)
		if err != nil {
			return err
		}
		idxOff := footOff - foot.indexSize
		if idxOff < streamHeaderSize {
			return formatError(footOff, "stream footer", fmt.Sprintf("index of %d bytes does not fit before the footer", foot.indexSize))
		}
		recs, err := decodeIndex(x.r, idxOff, foot.indexSize)
		if err != nil {
			return err
		}
		var total int64
		for _, rc := range recs {
			total += (rc.unpadded + 3) &^ 3
			if total > idxOff-streamHeaderSize || total < 0 {
				return formatError(idxOff, "index", fmt.Sprintf("the blocks it lists take more than the %d bytes before it", idxOff-streamHeaderSize))
			}
		}
		start := idxOff - total - streamHeaderSize
		if _, err := x.r.ReadAt(buf[:streamHeaderSize], start); err != nil {
			return fmt.Errorf("xz: reading the stream header at %#x: %w", start, err)
		}
		check, err := decodeStreamHeader(buf[:streamHeaderSize], start)
		if err != nil {
			return fmt.Errorf("%w (the index at %#x puts the stream start there)", err, idxOff)
		}
		if check != foot.check {
			return formatError(footOff, "stream footer", fmt.Sprintf("check type %v, the stream header at %#x says %v", foot.check, start, check))
		}
		bl, err := x.parseBlocks(recs, start+streamHeaderSize, check)
		if err != nil {
			return err
		}
		streams = append(streams, bl)
		pos = start
	}
	var uoff int64
	for i := len(streams) - 1; i >= 0; i-- {
		for _, b := range streams[i] {
			b.stream = len(streams) - 1 - i
			b.uoff = uoff
			if b.usize > vliMax-uoff {
				return formatError(b.hdrOff, "block header", "uncompressed sizes add up past 2^63")
			}
			uoff += b.usize
			x.blocks = append(x.blocks, b)
		}
	}
	x.size = uoff
	x.streams = len(streams)
	return nil
}

// skipPadding returns the offset before the zero bytes that end at pos.
func skipPadding(r io.ReaderAt, pos int64) (int64, error) {
	var buf [4096]byte
	for pos > 0 {
		k := min(int64(len(buf)), pos)
		if _, err := r.ReadAt(buf[:k], pos-k); err != nil {
			return 0, fmt.Errorf("xz: reading at %#x: %w", pos-k, err)
		}
		i := k
		for i >= 4 && buf[i-1] == 0 && buf[i-2] == 0 && buf[i-3] == 0 && buf[i-4] == 0 {
			i -= 4
		}
		pos -= k - i
		if i > 0 {
			break
		}
	}
	return pos, nil
}

// parseBlocks reads the header of every block the index lists, from off.
func (x *Reader) parseBlocks(recs []record, off int64, check CheckType) ([]block, error) {
	bl := make([]block, 0, len(recs))
	var hb [1024]byte
	for i, rc := range recs {
		if _, err := x.r.ReadAt(hb[:1], off); err != nil {
			return nil, fmt.Errorf("xz: block header at %#x: %w", off, err)
		}
		if hb[0] == 0 {
			return nil, formatError(off, "block header", fmt.Sprintf("index indicator where record %d's block should start", i))
		}
		n := blockHeaderLen(hb[0])
		if _, err := x.r.ReadAt(hb[:n], off); err != nil {
			return nil, fmt.Errorf("xz: block header at %#x: %w", off, err)
		}
		h, err := decodeBlockHeader(hb[:n], off)
		if err != nil {
			return nil, err
		}
		csize := rc.unpadded - int64(h.size) - int64(check.Size())
		if csize <= 0 {
			return nil, formatError(off, "block header", fmt.Sprintf("index record %d: unpadded size %d leaves no room for data after a %d-byte header and a %d-byte check", i, rc.unpadded, h.size, check.Size()))
		}
		if h.compressed >= 0 && h.compressed != csize {
			return nil, formatError(off, "block header", fmt.Sprintf("compressed size %d, the index says %d", h.compressed, csize))
		}
		if h.uncompressed >= 0 && h.uncompressed != rc.uncompressed {
			return nil, formatError(off, "block header", fmt.Sprintf("uncompressed size %d, the index says %d", h.uncompressed, rc.uncompressed))
		}
		for _, f := range h.filters[:len(h.filters)-1] {
			if _, err := newUnfilter(f); err != nil {
				return nil, formatError(off, "block header", err.Error())
			}
		}
		bl = append(bl, block{
			check: check, hdrOff: off, dataOff: off + int64(h.size), csize: csize,
			usize: rc.uncompressed, filters: h.filters, hdrSizes: h.compressed >= 0 && h.uncompressed >= 0,
		})
		off += (rc.unpadded + 3) &^ 3
	}
	return bl, nil
}

// Size is the uncompressed size.
func (x *Reader) Size() int64 { return x.size }

// Blocks is the number of blocks of all the streams.
func (x *Reader) Blocks() int { return len(x.blocks) }

// Streams is the number of concatenated streams.
func (x *Reader) Streams() int { return x.streams }

// Stats returns the counters so far.
func (x *Reader) Stats() Stats {
	c := x.cache
	c.mu.Lock()
	s := Stats{Hits: c.hits, Misses: c.misses, Waits: c.waits, ReadAheadUsed: c.raUsed, CacheBytes: c.cached}
	c.mu.Unlock()
	s.BlocksDecoded = x.blocksDecoded.Load()
	s.PagesDecoded = x.pagesDecoded.Load()
	s.BytesDecoded = x.bytesDecoded.Load()
	s.ReadAhead = x.readAhead.Load()
	s.Restarts = x.restarts.Load()
	return s
}

func (x *Reader) warn(msg string) {
	if x.opt.Warn != nil {
		x.warnOnce.Do(func() { x.opt.Warn(msg) })
	}
}

// findBlock returns the block holding uncompressed offset off (< size).
func (x *Reader) findBlock(off int64) int {
	return sort.Search(len(x.blocks), func(i int) bool {
		b := &x.blocks[i]
		return b.uoff+b.usize > off
	})
}

// unit returns the unit of block bi holding off: its key, start and size.
func (x *Reader) unit(bi int, off int64) (unitKey, int64, int) {
	b := &x.blocks[bi]
	if b.fwd == nil {
		return unitKey{bi, 0}, b.uoff, int(b.usize)
	}
	pg := (off - b.uoff) / pageSize
	start := b.uoff + pg*pageSize
	return unitKey{bi, pg}, start, int(min(pageSize, b.uoff+b.usize-start))
}

// fetch returns the pinned entry of a unit, decoding it if needed.
func (x *Reader) fetch(k unitKey, n int, prefetch bool) (*entry, error) {
	b := &x.blocks[k.block]
	if b.fwd != nil {
		return b.fwd.page(k.page, prefetch)
	}
	return x.cache.get(k, n, prefetch, func(buf []byte) error {
		x.sched.acquire(prefetch)
		defer x.sched.release(prefetch)
		if x.decodeHook != nil {
			x.decodeHook(k.block, prefetch)
		}
		if prefetch {
			x.readAhead.Add(1)
		}
		return x.decodeBlock(k.block, buf)
	})
}

type span struct {
	key   unitKey
	start int64 // uncompressed offset of the unit
	n     int   // its size
}

// ReadAt reads len(p) uncompressed bytes at off. It is safe for
// concurrent use. Bytes come only from blocks decoded and checked whole
// (or from forward decoding, see forward.go); any error names the block.
func (x *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("xz: negative offset %d", off)
	}
	x.closeMu.RLock()
	defer x.closeMu.RUnlock()
	if x.closed {
		return 0, errClosed
	}
	if off >= x.size {
		return 0, io.EOF
	}
	want := len(p)
	var eof error
	if int64(want) > x.size-off {
		want = int(x.size - off)
		eof = io.EOF
	}
	if want == 0 {
		return 0, eof
	}
	// The units the read covers.
	var spans []span
	var one [1]span
	for pos := off; pos < off+int64(want); {
		bi := x.findBlock(pos)
		k, start, n := x.unit(bi, pos)
		s := span{k, start, n}
		if spans == nil {
			one[0] = s
			spans = one[:1]
		} else {
			spans = append(spans, s)
		}
		pos = start + int64(n)
	}
	seq := x.sequential(off, off+int64(want))
	var n int
	var err error
	if len(spans) == 1 {
		n, err = x.copyUnit(p[:want], off, spans[0])
	} else {
		n, err = x.readSpans(p[:want], off, spans)
	}
	if seq && x.opt.ReadAhead > 0 {
		x.readAheadFrom(spans[len(spans)-1])
	}
	if err != nil {
		return n, err
	}
	return n, eof
}

// copyUnit copies the part of unit s that p at off covers.
func (x *Reader) copyUnit(p []byte, off int64, s span) (int, error) {
	e, err := x.fetch(s.key, s.n, false)
	if err != nil {
		return 0, err
	}
	var from int64
	if off > s.start {
		from = off - s.start
	}
	to := s.start - off // where in p the unit starts
	if to < 0 {
		to = 0
	}
	n := copy(p[to:], e.data[from:])
	x.cache.release(e)
	return n, nil
}

// readSpans reads several units, decoding them in parallel; it returns
// the bytes read before the first failing unit.
func (x *Reader) readSpans(p []byte, off int64, spans []span) (int, error) {
	errs := make([]error, len(spans))
	var wg sync.WaitGroup
	for i := range spans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = x.copyUnit(p, off, spans[i])
		}()
	}
	wg.Wait()
	n := 0
	for i, s := range spans {
		if errs[i] != nil {
			return n, errs[i]
		}
		n = int(min(s.start+int64(s.n), off+int64(len(p))) - off)
	}
	return n, nil
}

// seqSlack is how far past the end of a recent read a read may start and
// still count as sequential: readers with several requests in flight
// (nbdcopy, qemu) send them slightly out of order.
const seqSlack = 16 << 10

// sequential records a read and says whether it continues one of the
// recent reads.
func (x *Reader) sequential(off, end int64) bool {
	seq := false
	for i := range x.recent {
		if e := x.recent[i].Load(); e >= 0 && off >= e && off < e+seqSlack {
			seq = true
			break
		}
	}
	i := x.recentI.Add(1) % uint32(len(x.recent))
	x.recent[i].Store(end)
	return seq
}

// readAheadFrom starts background decodes of the units after s.
func (x *Reader) readAheadFrom(s span) {
	pos := s.start + int64(s.n)
	for j := 0; j < x.opt.ReadAhead && pos < x.size; j++ {
		bi := x.findBlock(pos)
		k, start, n := x.unit(bi, pos)
		pos = start + int64(n)
		if x.cache.contains(k) {
			continue
		}
		// Keep the queue short: read-ahead beyond what the workers
		// can decode would only wait.
		if x.bgRunning.Load() >= int64(x.opt.Workers+x.opt.ReadAhead) {
			return
		}
		x.bgRunning.Add(1)
		x.bg.Add(1)
		go func() {
			defer x.bg.Done()
			defer x.bgRunning.Add(-1)
			x.closeMu.RLock()
			defer x.closeMu.RUnlock()
			if x.closed {
				return
			}
			x.fetch(k, n, true) // errors show when a read wants the unit
		}()
	}
}

// Close stops the read-ahead, waits for it and for the reads in progress,
// and frees the cache. ReadAt fails after Close.
func (x *Reader) Close() error {
	x.closeMu.Lock()
	x.closed = true
	x.closeMu.Unlock()
	x.bg.Wait()
	x.cache.close()
	for i := range x.blocks {
		if f := x.blocks[i].fwd; f != nil {
			f.close()
		}
	}
	return nil
}
