package nbd

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"sync"
	"time"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// budget bounds the requests (count and READ bytes) one connection has in
// flight. Only the connection's reader acquires; workers release.
type budget struct {
	mu       sync.Mutex
	cond     sync.Cond
	n, max   int
	bytes    int64
	maxBytes int64
}

func (b *budget) init(max int, maxBytes int64) {
	b.cond.L = &b.mu
	b.max, b.maxBytes = max, maxBytes
}

func (b *budget) acquire(bytes int64) {
	b.mu.Lock()
	for b.n >= b.max || b.n > 0 && b.bytes+bytes > b.maxBytes {
		b.cond.Wait()
	}
	b.n++
	b.bytes += bytes
	b.mu.Unlock()
}

func (b *budget) tryAcquire(bytes int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n >= b.max || b.n > 0 && b.bytes+bytes > b.maxBytes {
		return false
	}
	b.n++
	b.bytes += bytes
	return true
}

func (b *budget) release(bytes int64) {
	b.mu.Lock()
	b.n--
	b.bytes -= bytes
	b.mu.Unlock()
	b.cond.Signal()
}

// Buffer pool: power-of-two classes from 4 KiB to MaxRequest.
const minBufShift = 12

var bufPools [25 - minBufShift + 1]sync.Pool // up to 1<<25 = MaxRequest

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

func getBuf(n int) *[]byte {
	c := bufClass(n)
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 1<<(c+minBufShift))
	return &b
}

func putBuf(p *[]byte) { bufPools[bufClass(cap(*p))].Put(p) }

// idle reports whether nothing is in flight.
func (b *budget) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n == 0
}

// transmit serves requests until the client disconnects, a socket or
// protocol error, or Shutdown.
//
// A READ of a FileBacked source is served by the reader itself, without
// a hand-off to another goroutine: over a plain socket with structured
// replies, data of sendfileMin bytes or more is queued (traced or not)
// as a range of the file that the writer sends with sendfile(2); smaller
// reads (up to inlineMax over TLS or with simple replies)
// are read with preadv2(RWF_NOWAIT), which copies from the page cache or
// fails at once when the data is not there; only then (or for a larger
// READ) is the READ handed to a goroutine, which waits for the disk
// while the reader goes on. A READ of sendfileMin bytes or more of a
// source mapped to files (alloc.FileMapper) is queued the same way when
// some of it sits in a file (mapRead). Any
// other READ, CACHE or BLOCK_STATUS request is served in its own
// goroutine, except when nothing else is in flight and no further request
// is already buffered (a client waiting for each reply, such as fio at QD
// 1): then the reader serves it inline, which saves the hand-off to
// another goroutine and back.
//
// While further requests are buffered, the replies queued are held back
// (hold) and written together when the reader runs out of requests or
// of budget, in one writev for many small replies.
func (c *conn) transmit() {
	c.budget.init(c.s.maxInFlight(), maxInFlightBytes)
	c.initFile()
	defer c.wg.Wait() // answer what was received before closing
	defer c.flush()
	tracing := c.s.OnRead != nil
	for {
		hdr := c.hdr[:]
		// A traced request's start: when the reader takes its header.
		// A header already buffered right after a READ the reader served
		// itself is taken when that READ ended, a time the reader has:
		// one clock read per request instead of two at a queue depth
		// above one (65 ns each on the test machine).
		prevEnd := c.lastEnd
		c.lastEnd = time.Time{}
		if c.br.Buffered() < len(hdr) {
			c.flush() // before blocking on the socket
			prevEnd = time.Time{}
		} else {
			c.holdReplies()
		}
		if _, err := io.ReadFull(c.br, hdr); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				c.s.logf("nbd: connection %d: reading request: %v", c.id, err)
			}
			return
		}
		if m := be.Uint32(hdr); m != requestMagic {
			c.s.logf("nbd: connection %d: bad request magic %#x", c.id, m)
			return
		}
		req := request{
			flags:  be.Uint16(hdr[4:]),
			cmd:    Cmd(be.Uint16(hdr[6:])),
			handle: be.Uint64(hdr[8:]),
			off:    be.Uint64(hdr[16:]),
			len:    be.Uint32(hdr[24:]),
		}
		start := prevEnd
		if tracing && start.IsZero() {
			start = now()
		}
		switch req.cmd {
		case CmdDisc:
			return
		case CmdWrite:
			// Read-only: skip the payload without storing it, then refuse.
			c.flush()
			if _, err := io.CopyN(io.Discard, c.br, int64(req.len)); err != nil {
				c.s.logf("nbd: connection %d: %s: skipping payload: %v", c.id, req.String(), err)
				return
			}
			c.replyError(&req, EPERM, "the export is read-only")
			continue
		case CmdTrim, CmdWriteZeroes:
			c.replyError(&req, EPERM, "the export is read-only")
			continue
		}
		if errno, msg := c.validate(&req); errno != 0 {
			c.s.logf("nbd: connection %d: %s: %v: %s", c.id, req.String(), errno, msg)
			c.replyError(&req, errno, msg)
			continue
		}
		var budget int64
		switch req.cmd {
		case CmdFlush:
			c.replyOK(&req)
			continue
		case CmdRead:
			budget = int64(req.len)
		case CmdCache:
			budget = cacheChunk
		}
		inline := c.br.Buffered() == 0 && c.budget.idle()
		c.acquire(budget)
		c.wg.Add(1)
		t := newTask(c, req, start, budget)
		switch {
		case req.cmd == CmdRead && c.fd >= 0:
			if !c.readNow(t) {
				go t.run()
			}
		case req.cmd == CmdRead && c.fm != nil && c.rc != nil && req.len >= sendfileMin && c.mapRead(t):
		case req.cmd == CmdBlockStatus && c.fd >= 0:
			t.run() // lseek SEEK_DATA/SEEK_HOLE: no waiting for data
		case inline:
			t.run()
		default:
			go t.run()
		}
		if c.isBroken() {
			return
		}
	}
}

// acquire takes budget for a request from the reader, writing the
// replies it holds back first if it has to wait for budget (they are
// what would release it).
func (c *conn) acquire(bytes int64) {
	if !c.budget.tryAcquire(bytes) {
		c.flush()
		c.budget.acquire(bytes)
	}
}

// holdReplies makes send queue replies without writing them until flush
// (the reader has further requests buffered).
func (c *conn) holdReplies() {
	if !c.held {
		c.wmu.Lock()
		c.hold = true
		c.wmu.Unlock()
		c.held = true
	}
}

// flush writes the replies held back by the reader, unless another
// goroutine is writing (it takes them).
func (c *conn) flush() {
	if !c.held {
		return
	}
	c.held = false
	c.wmu.Lock()
	c.hold = false
	if c.writing || len(c.pending) == 0 {
		c.wmu.Unlock()
		return
	}
	c.writeLocked()
}

// task is one READ, CACHE or BLOCK_STATUS request from its arrival to the
// end of the write of its reply. Tasks, their header space and their data
// buffers are pooled: a request served from a Source that does not
// allocate costs no allocation but the goroutine's closure.
type task struct {
	c      *conn
	req    request
	start  time.Time
	budget int64

	hdr   [32]byte        // the first (or only) reply header
	extra []byte          // further headers, error messages, block status descriptors
	bp    *[]byte         // pooled data buffer, returned after the write
	bufs  [][]byte        // the reply, in order
	files []fileSeg       // ranges of the source's files sent with sendfile, among bufs
	runs  []alloc.FileRun // a mapped READ's runs (mapRead)
	errb  []byte          // an error chunk the writer ends the reply with
	spans []span

	// With an OnRead hook: the READ or CACHE is reported by finish, once
	// its reply is written, with the time spent reading the source (for
	// a READ sent with sendfile, the time in sendfile(2) and in copyRest's
	// reads) and the source's error.
	traced bool
	dur    time.Duration
	rerr   error
}

// zeroes pads a data chunk whose file failed, and stands for zero runs
// of a mapped READ under DF.
var zeroes [64 << 10]byte

// fileSeg is a range of a file (fd, from off), the source's bytes at
// guest, sent by the writer just before bufs[at] (or at the end when at
// == len(bufs)), followed by pad more bytes of its data chunk (a mapped
// READ's chunk may hold several runs): if the file fails, the writer
// sends that many zeroes before the error chunk, to end the chunk.
type fileSeg struct {
	at                   int
	fd                   int
	off, guest, len, pad int64
}

var taskPool = sync.Pool{New: func() any { return new(task) }}

func newTask(c *conn, req request, start time.Time, budget int64) *task {
	t := taskPool.Get().(*task)
	t.c, t.req, t.start, t.budget = c, req, start, budget
	return t
}

// run serves the task and queues its reply.
func (t *task) run() {
	switch t.req.cmd {
	case CmdRead:
		t.c.read(t)
	case CmdCache:
		t.c.cache(t)
	case CmdBlockStatus:
		t.c.blockStatus(t)
	}
}

// finish releases what the task held once its reply is written (or
// dropped on a broken connection), first reporting a traced READ or
// CACHE to the OnRead hook. finish runs on the goroutine that wrote the
// reply, for the replies of one connection in the order they were
// written: the hook sees each connection's READs in the order of their
// replies on the wire.
func (t *task) finish() {
	c := t.c
	if t.traced {
		c.s.OnRead(Read{Conn: c.id, Export: c.exp.Name, Off: int64(t.req.off), Len: t.req.len, Start: t.start, Dur: t.dur, Err: t.rerr, Cache: t.req.cmd == CmdCache})
		t.traced, t.dur, t.rerr = false, 0, nil
	}
	if t.bp != nil {
		putBuf(t.bp)
		t.bp = nil
	}
	clear(t.bufs)
	t.bufs = t.bufs[:0]
	t.files = t.files[:0]
	clear(t.runs)
	t.runs = t.runs[:0]
	if cap(t.extra) > 64<<10 {
		t.extra = nil
	}
	t.spans = t.spans[:0]
	budget := t.budget
	t.c = nil
	taskPool.Put(t)
	c.budget.release(budget)
	c.wg.Done()
}

// validate checks a request as nbdkit's validate_request does. It returns
// 0 for a good request.
func (c *conn) validate(r *request) (Errno, string) {
	var allowed uint16
	switch r.cmd {
	case CmdRead:
		if c.structured {
			allowed = cmdFlagDF
		}
	case CmdBlockStatus:
		allowed = cmdFlagReqOne
	case CmdFlush, CmdCache:
	default:
		return EINVAL, fmt.Sprintf("unknown command %v", r.cmd)
	}
	if r.flags&^allowed != 0 {
		return EINVAL, fmt.Sprintf("flags %#x not valid for %v", r.flags, r.cmd)
	}
	if r.cmd == CmdFlush {
		if r.off != 0 || r.len != 0 {
			return EINVAL, "NBD_CMD_FLUSH with a nonzero offset or length"
		}
		return 0, ""
	}
	if r.len == 0 {
		return EINVAL, "zero length"
	}
	if r.off > uint64(c.size) || uint64(r.len) > uint64(c.size)-r.off {
		return EINVAL, fmt.Sprintf("offset %d + length %d is beyond the end of the export (%d bytes)", r.off, r.len, c.size)
	}
	if r.cmd == CmdRead && r.len > MaxRequest {
		if r.flags&cmdFlagDF != 0 {
			return EOVERFLOW, fmt.Sprintf("length %d is over the maximum block size %d", r.len, MaxRequest)
		}
		return EINVAL, fmt.Sprintf("length %d is over the maximum block size %d", r.len, MaxRequest)
	}
	if m := uint64(c.exp.MinBlockSize); m > 1 && (r.off|uint64(r.len))&(m-1) != 0 {
		return EINVAL, fmt.Sprintf("offset %d or length %d not aligned to the minimum block size %d", r.off, r.len, m)
	}
	if r.cmd == CmdBlockStatus && !c.meta {
		return EINVAL, "NBD_CMD_BLOCK_STATUS without base:allocation negotiated"
	}
	return 0, ""
}

func errnoOf(err error) Errno {
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	return EIO
}

func (c *conn) isBroken() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.broken
}

// send queues t's reply (t.bufs) and writes it. Replies are written by
// whichever goroutine finds the socket free: it takes every reply queued
// so far and writes them in one writev (header and data together, several
// replies per system call under load), and goes on while more arrive.
// Each reply is whole and contiguous in the stream, so replies never
// interleave. A failed write closes the connection; the replies still
// queued are dropped (their tasks finished).
func (c *conn) send(t *task) {
	c.wmu.Lock()
	if c.broken {
		c.wmu.Unlock()
		t.finish()
		return
	}
	c.pending = append(c.pending, t)
	if c.writing || c.hold {
		c.wmu.Unlock()
		return
	}
	c.writeLocked()
}

// writeLocked writes the queued replies until none is left; called with
// wmu held and writing false, it returns with wmu released.
func (c *conn) writeLocked() {
	c.writing = true
	for len(c.pending) > 0 && !c.broken {
		batch := c.pending
		c.pending = c.spare[:0]
		c.wmu.Unlock()
		err := c.writeBatch(batch)
		for _, t := range batch {
			t.finish()
		}
		clear(batch)
		c.wmu.Lock()
		c.spare = batch[:0]
		if err != nil {
			c.broken = true
			if !errors.Is(err, net.ErrClosed) {
				c.s.logf("nbd: connection %d: writing reply: %v", c.id, err)
			}
			c.raw.Close()
		}
	}
	var dropped []*task
	if len(c.pending) > 0 { // broken
		dropped = c.pending
		c.pending = nil
	}
	c.writing = false
	c.wmu.Unlock()
	for _, t := range dropped {
		t.finish()
	}
}

// writeBatch writes the replies of batch in order: their buffers
// gathered into one writev, broken where a reply has a range of the file
// to send with sendfile. A file that fails under sendfile (a read error,
// or shorter than it was) ends that reply with an error chunk, after
// zeroes for the rest of the data chunk already announced: the chunk was
// not marked final (see readFile), so the client sees the READ fail and
// the connection goes on. The error returned is the socket's.
func (c *conn) writeBatch(batch []*task) error {
	iov := c.iov[:0]
	defer func() {
		clear(iov)
		c.iov = iov[:0]
	}()
	for _, t := range batch {
		if len(t.files) == 0 {
			iov = append(iov, t.bufs...)
			continue
		}
		fi := 0
	bufs:
		for i := 0; i <= len(t.bufs); i++ {
			for ; fi < len(t.files) && t.files[fi].at == i; fi++ {
				if err := c.writeBufs(iov); err != nil {
					return err
				}
				clear(iov)
				iov = iov[:0]
				f := t.files[fi]
				var dur *time.Duration
				if t.traced {
					dur = &t.dur
				}
				ferr, err := c.sendFile(f.fd, f.off, f.guest, f.len, dur)
				if err != nil {
					return err
				}
				if ferr != nil {
					if t.traced && t.rerr == nil {
						t.rerr = ferr
					}
					c.s.logf("nbd: connection %d: %v: %v", c.id, &t.req, ferr)
					for z := f.pad; z > 0; {
						b := zeroes[:min(z, int64(len(zeroes)))]
						iov = append(iov, b)
						z -= int64(len(b))
					}
					iov = append(iov, t.errorChunk(errnoOf(ferr), fmt.Sprintf("read at %d: %v", f.guest, ferr)))
					break bufs
				}
			}
			if i < len(t.bufs) {
				iov = append(iov, t.bufs[i])
			}
		}
	}
	return c.writeBufs(iov)
}

// writeBufs writes bufs to the connection: one writev on a plain socket,
// through the buffered writer over TLS (a record per buffer otherwise).
// Only the goroutine that is writing calls it.
func (c *conn) writeBufs(bufs [][]byte) error {
	if !c.tls {
		c.nb = bufs
		_, err := c.nb.WriteTo(c.nc)
		c.nb = nil
		return err
	}
	for _, b := range bufs {
		if _, err := c.bw.Write(b); err != nil {
			return err
		}
	}
	return c.bw.Flush()
}

func putSimple(h []byte, errno Errno, handle uint64) []byte {
	be.PutUint32(h[0:], simpleReplyMagic)
	be.PutUint32(h[4:], uint32(errno))
	be.PutUint64(h[8:], handle)
	return h[:16]
}

func putChunk(h []byte, flags, typ uint16, handle uint64, n uint32) []byte {
	be.PutUint32(h[0:], structReplyMagic)
	be.PutUint16(h[4:], flags)
	be.PutUint16(h[6:], typ)
	be.PutUint64(h[8:], handle)
	be.PutUint32(h[16:], n)
	return h[:20]
}

// replyOK answers r (FLUSH) with success, from the reader.
func (c *conn) replyOK(r *request) {
	c.acquire(0)
	c.wg.Add(1)
	t := newTask(c, *r, time.Time{}, 0)
	t.bufs = append(t.bufs, putSimple(t.hdr[:], 0, r.handle))
	c.send(t)
}

// replyError answers r with errno from the reader.
func (c *conn) replyError(r *request, errno Errno, msg string) {
	c.acquire(0)
	c.wg.Add(1)
	t := newTask(c, *r, time.Time{}, 0)
	t.error(errno, msg)
}

// error sends t's reply as errno: a structured NBD_REPLY_TYPE_ERROR
// carrying msg when structured replies were negotiated, a simple reply
// otherwise.
func (t *task) error(errno Errno, msg string) {
	t.bufs = t.bufs[:0]
	if !t.c.structured {
		t.bufs = append(t.bufs, putSimple(t.hdr[:], errno, t.req.handle))
		t.c.send(t)
		return
	}
	msg = putErrorChunk(t.hdr[:], t.req.handle, errno, msg)
	t.extra = append(t.extra[:0], msg...)
	t.bufs = append(t.bufs, t.hdr[:26], t.extra)
	t.c.send(t)
}

// errorChunk builds a final NBD_REPLY_TYPE_ERROR chunk for t in t.errb.
func (t *task) errorChunk(errno Errno, msg string) []byte {
	b := append(t.errb[:0], make([]byte, 26)...)
	msg = putErrorChunk(b, t.req.handle, errno, msg)
	t.errb = append(b, msg...)
	return t.errb
}

// putErrorChunk writes into h[:26] the header of a final
// NBD_REPLY_TYPE_ERROR chunk for handle, errno and msg cut to maxString,
// and returns msg as cut: the chunk's payload that follows.
func putErrorChunk(h []byte, handle uint64, errno Errno, msg string) string {
	msg = msg[:min(len(msg), maxString)]
	putChunk(h, replyFlagDone, replyTypeError, handle, uint32(6+len(msg)))
	be.PutUint32(h[20:], uint32(errno))
	be.PutUint16(h[24:], uint16(len(msg)))
	return msg
}

// readFull reads len(p) bytes at off; io.EOF with a full read is success.
func (c *conn) readFull(p []byte, off int64) error {
	n, err := c.src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// read serves NBD_CMD_READ: the data is read (holes found) first, straight
// into the buffer the reply is written from, then the whole reply is
// queued at once. Holes are not read.
func (c *conn) read(t *task) { c.readBuf(t, false) }

// readBuf serves a READ through a buffer (read). With nowait, the file
// of a FileBacked source is read with preadv2(RWF_NOWAIT) and, if the
// data is not all in the page cache, readBuf returns false having sent
// nothing: the caller then serves t the blocking way.
func (c *conn) readBuf(t *task, nowait bool) bool {
	r := &t.req
	t.bp = getBuf(int(r.len))
	buf := (*t.bp)[:r.len]
	off := int64(r.off)
	var t0 time.Time
	if c.s.OnRead != nil {
		t0 = t.start // transmit's timestamp when OnRead is set
		if !nowait {
			// Served by a goroutine, maybe after a wait: time the
			// read alone. (Served by the reader right after the
			// header, the request's start is the read's: one clock
			// read less, 65 ns on the test machine.)
			t0 = now()
		}
	}
	var err error
	t.spans = t.spans[:0]
	if c.structured && c.ext != nil && r.flags&cmdFlagDF == 0 && !c.knownData(off, int64(r.len)) {
		t.spans = c.spans(t.spans, off, int64(r.len))
	}
	if len(t.spans) == 0 {
		err = c.readAt(buf, off, nowait)
	} else {
		for _, s := range t.spans {
			if !s.zero {
				if err = c.readAt(buf[s.off-off:s.off-off+s.len], s.off, nowait); err != nil {
					break
				}
			}
		}
	}
	if err == errWouldBlock {
		putBuf(t.bp)
		t.bp = nil
		t.spans = t.spans[:0]
		return false
	}
	if c.s.OnRead != nil {
		end := now()
		t.traced, t.dur, t.rerr = true, end.Sub(t0), err
		if nowait {
			c.lastEnd = end // on the reader: the next buffered request's start
		}
	}
	if err != nil {
		c.s.logf("nbd: connection %d: %v: %v", c.id, r, err)
		putBuf(t.bp)
		t.bp = nil
		t.error(errnoOf(err), fmt.Sprintf("read at %d: %v", off, err))
		return true
	}
	if !c.structured {
		t.bufs = append(t.bufs, putSimple(t.hdr[:], 0, r.handle), buf)
		c.send(t)
		return true
	}
	if len(t.spans) == 0 {
		putChunk(t.hdr[:], replyFlagDone, replyTypeOffsetData, r.handle, 8+r.len)
		be.PutUint64(t.hdr[20:], r.off)
		t.bufs = append(t.bufs, t.hdr[:28], buf)
		c.send(t)
		return true
	}
	if n := 32 * len(t.spans); cap(t.extra) < n {
		t.extra = make([]byte, n)
	}
	hdrs := t.extra[:32*len(t.spans)]
	for i, s := range t.spans {
		var flags uint16
		if i == len(t.spans)-1 {
			flags = replyFlagDone
		}
		h := hdrs[32*i : 32*i+32]
		if s.zero {
			putChunk(h, flags, replyTypeOffsetHole, r.handle, 12)
			be.PutUint64(h[20:], uint64(s.off))
			be.PutUint32(h[28:], uint32(s.len))
			t.bufs = append(t.bufs, h)
		} else {
			putChunk(h, flags, replyTypeOffsetData, r.handle, uint32(8+s.len))
			be.PutUint64(h[20:], uint64(s.off))
			t.bufs = append(t.bufs, h[:28], buf[s.off-off:s.off-off+s.len])
		}
	}
	c.send(t)
	return true
}

// knownData reports whether the source knows [off, off+n) to be all data
// without asking for extents (image.Image's raw files remember the data
// runs they found).
func (c *conn) knownData(off, n int64) bool {
	k, ok := c.ext.(interface{ KnownData(off, n int64) bool })
	return ok && k.KnownData(off, n)
}

// span is a run of a READ: data, or zeroes sent as a hole.
type span struct {
	off, len int64
	zero     bool
}

// maxSpans bounds the chunks of one READ reply; past it, the rest is data.
const maxSpans = 1024

// spans appends to out the data and zero runs of [off, off+n) from the
// source's extents. It appends nothing when there is no hole worth a
// chunk, or when the source cannot say.
func (c *conn) spans(out []span, off, n int64) []span {
	exts, err := c.ext.Extents(off, n)
	if err != nil || len(exts) == 0 {
		return out[:0]
	}
	out = out[:0]
	pos, end := off, off+n
	holes := false
	for _, e := range exts {
		if pos >= end || len(out) >= maxSpans-1 {
			break
		}
		if e.Len <= 0 || e.Off > pos || e.Off+e.Len <= pos {
			break // a gap or a bad extent: the rest is data
		}
		l := min(e.Off+e.Len, end) - pos
		if len(out) > 0 && out[len(out)-1].zero == e.Zero {
			out[len(out)-1].len += l
		} else {
			out = append(out, span{pos, l, e.Zero})
		}
		holes = holes || e.Zero
		pos += l
	}
	if !holes {
		return out[:0]
	}
	if pos < end {
		if out[len(out)-1].zero {
			out = append(out, span{pos, end - pos, false})
		} else {
			out[len(out)-1].len += end - pos
		}
	}
	return out
}

// cacheChunk is the buffer NBD_CMD_CACHE reads through.
const cacheChunk = 1 << 20

// cache serves NBD_CMD_CACHE by reading the range (warming the source's
// caches, such as decoded xz blocks) without sending it.
func (c *conn) cache(t *task) {
	r := &t.req
	bp := getBuf(min(int(r.len), cacheChunk))
	t0 := now()
	var err error
	for pos, end := int64(r.off), int64(r.off)+int64(r.len); pos < end && err == nil; {
		n := min(end-pos, int64(len(*bp)))
		err = c.readFull((*bp)[:n], pos)
		pos += n
	}
	putBuf(bp)
	if c.s.OnRead != nil {
		t.traced, t.dur, t.rerr = true, time.Since(t0), err
	}
	if err != nil {
		t.error(errnoOf(err), fmt.Sprintf("cache at %d: %v", r.off, err))
		return
	}
	t.bufs = append(t.bufs, putSimple(t.hdr[:], 0, r.handle))
	c.send(t)
}

// blockStatus answers NBD_CMD_BLOCK_STATUS for base:allocation.
func (c *conn) blockStatus(t *task) {
	r := &t.req
	off, n := int64(r.off), int64(r.len)
	limit := maxExtents
	if r.flags&cmdFlagReqOne != 0 {
		limit = 1
	}
	// Descriptors (length, flags) are built in t.extra after the
	// 24-byte header.
	b := append(t.extra[:0], make([]byte, 24)...)
	nd := 0
	lastFlags := uint32(0)
	if c.ext != nil {
		exts, err := c.ext.Extents(off, n)
		if err != nil {
			c.s.logf("nbd: connection %d: %v: extents: %v", c.id, r, err)
		}
		pos, end := off, off+n
		for _, e := range exts {
			if pos >= end || e.Len <= 0 || e.Off > pos || e.Off+e.Len <= pos {
				break
			}
			l := min(e.Off+e.Len, end) - pos
			var f uint32
			if e.Hole {
				f |= stateHole
			}
			if e.Zero {
				f |= stateZero
			}
			if nd > 0 && lastFlags == f {
				i := 24 + 8*(nd-1)
				be.PutUint32(b[i:], be.Uint32(b[i:])+uint32(l))
			} else {
				if nd == limit {
					break
				}
				b = be.AppendUint32(b, uint32(l))
				b = be.AppendUint32(b, f)
				nd++
				lastFlags = f
			}
			pos += l
		}
	}
	if nd == 0 {
		b = be.AppendUint32(b, uint32(n))
		b = be.AppendUint32(b, 0)
		nd = 1
	}
	putChunk(b, replyFlagDone, replyTypeBlockStatus, r.handle, uint32(4+8*nd))
	be.PutUint32(b[20:], metaContextID)
	t.extra = b
	t.bufs = append(t.bufs, b)
	c.send(t)
}
