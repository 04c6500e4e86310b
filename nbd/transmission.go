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

// transmit serves requests until the client disconnects, a socket or
// protocol error, or Shutdown.
func (c *conn) transmit() {
	c.budget.init(c.s.maxInFlight(), maxInFlightBytes)
	defer c.wg.Wait() // answer what was received before closing
	tracing := c.s.OnRead != nil
	for {
		hdr := c.hdr[:]
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
		var start time.Time
		if tracing {
			start = time.Now()
		}
		switch req.cmd {
		case CmdDisc:
			return
		case CmdWrite:
			// Read-only: skip the payload without storing it, then refuse.
			if _, err := io.CopyN(io.Discard, c.br, int64(req.len)); err != nil {
				c.s.logf("nbd: connection %d: %v: skipping payload: %v", c.id, &req, err)
				return
			}
			c.replyError(&req, EPERM, "the export is read-only")
			continue
		case CmdTrim, CmdWriteZeroes:
			c.replyError(&req, EPERM, "the export is read-only")
			continue
		}
		if errno, msg := c.validate(&req); errno != 0 {
			c.s.logf("nbd: connection %d: %v: %v: %s", c.id, &req, errno, msg)
			c.replyError(&req, errno, msg)
			continue
		}
		switch req.cmd {
		case CmdFlush:
			c.replyOK(&req)
		case CmdRead:
			c.budget.acquire(int64(req.len))
			c.wg.Add(1)
			go c.read(req, start)
		case CmdCache:
			c.budget.acquire(cacheChunk)
			c.wg.Add(1)
			go c.cache(req, start)
		case CmdBlockStatus:
			c.budget.acquire(0)
			c.wg.Add(1)
			go c.blockStatus(req)
		}
		if c.isBroken() {
			return
		}
	}
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

// write sends one whole reply. A failed write closes the connection.
func (c *conn) write(bufs net.Buffers) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.broken {
		return
	}
	if _, err := bufs.WriteTo(c.nc); err != nil {
		c.broken = true
		if !errors.Is(err, net.ErrClosed) {
			c.s.logf("nbd: connection %d: writing reply: %v", c.id, err)
		}
		c.raw.Close()
	}
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

func (c *conn) replyOK(r *request) {
	var h [16]byte
	c.write(net.Buffers{putSimple(h[:], 0, r.handle)})
}

// replyError answers r with errno: a structured NBD_REPLY_TYPE_ERROR
// carrying msg when structured replies were negotiated, a simple reply
// otherwise.
func (c *conn) replyError(r *request, errno Errno, msg string) {
	if !c.structured {
		var h [16]byte
		c.write(net.Buffers{putSimple(h[:], errno, r.handle)})
		return
	}
	msg = msg[:min(len(msg), maxString)]
	h := make([]byte, 26+len(msg))
	putChunk(h, replyFlagDone, replyTypeError, r.handle, uint32(6+len(msg)))
	be.PutUint32(h[20:], uint32(errno))
	be.PutUint16(h[24:], uint16(len(msg)))
	copy(h[26:], msg)
	c.write(net.Buffers{h})
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

// read serves NBD_CMD_READ: the data is read (holes found) first, then the
// whole reply is written at once.
func (c *conn) read(r request, start time.Time) {
	defer c.wg.Done()
	defer c.budget.release(int64(r.len))
	bp := getBuf(int(r.len))
	defer putBuf(bp)
	buf := (*bp)[:r.len]
	off := int64(r.off)
	var t0 time.Time
	if c.s.OnRead != nil {
		t0 = time.Now()
	}
	var chunks []span
	var err error
	if c.structured && c.ext != nil && r.flags&cmdFlagDF == 0 {
		chunks = c.spans(off, int64(r.len))
	}
	if chunks == nil {
		err = c.readFull(buf, off)
	} else {
		for _, s := range chunks {
			if !s.zero {
				if err = c.readFull(buf[s.off-off:s.off-off+s.len], s.off); err != nil {
					break
				}
			}
		}
	}
	if c.s.OnRead != nil {
		c.s.OnRead(Read{Conn: c.id, Export: c.exp.Name, Off: off, Len: r.len, Start: start, Dur: time.Since(t0), Err: err})
	}
	if err != nil {
		c.s.logf("nbd: connection %d: %v: %v", c.id, &r, err)
		c.replyError(&r, errnoOf(err), fmt.Sprintf("read at %d: %v", off, err))
		return
	}
	if !c.structured {
		var h [16]byte
		c.write(net.Buffers{putSimple(h[:], 0, r.handle), buf})
		return
	}
	if chunks == nil {
		var h [28]byte
		putChunk(h[:], replyFlagDone, replyTypeOffsetData, r.handle, 8+r.len)
		be.PutUint64(h[20:], r.off)
		c.write(net.Buffers{h[:], buf})
		return
	}
	hdrs := make([]byte, 32*len(chunks))
	bufs := make(net.Buffers, 0, 2*len(chunks))
	for i, s := range chunks {
		var flags uint16
		if i == len(chunks)-1 {
			flags = replyFlagDone
		}
		h := hdrs[32*i : 32*i+32]
		if s.zero {
			putChunk(h, flags, replyTypeOffsetHole, r.handle, 12)
			be.PutUint64(h[20:], uint64(s.off))
			be.PutUint32(h[28:], uint32(s.len))
			bufs = append(bufs, h)
		} else {
			putChunk(h, flags, replyTypeOffsetData, r.handle, uint32(8+s.len))
			be.PutUint64(h[20:], uint64(s.off))
			bufs = append(bufs, h[:28], buf[s.off-off:s.off-off+s.len])
		}
	}
	c.write(bufs)
}

// span is a run of a READ: data, or zeroes sent as a hole.
type span struct {
	off, len int64
	zero     bool
}

// maxSpans bounds the chunks of one READ reply; past it, the rest is data.
const maxSpans = 1024

// spans splits [off, off+n) into data and zero runs from the source's
// extents. It returns nil when there is no hole worth a chunk, or when the
// source cannot say.
func (c *conn) spans(off, n int64) []span {
	exts, err := c.ext.Extents(off, n)
	if err != nil || len(exts) == 0 {
		return nil
	}
	var out []span
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
		return nil
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
func (c *conn) cache(r request, start time.Time) {
	defer c.wg.Done()
	defer c.budget.release(cacheChunk)
	bp := getBuf(min(int(r.len), cacheChunk))
	defer putBuf(bp)
	t0 := time.Now()
	var err error
	for pos, end := int64(r.off), int64(r.off)+int64(r.len); pos < end && err == nil; {
		n := min(end-pos, int64(len(*bp)))
		err = c.readFull((*bp)[:n], pos)
		pos += n
	}
	if c.s.OnRead != nil {
		c.s.OnRead(Read{Conn: c.id, Export: c.exp.Name, Off: int64(r.off), Len: r.len, Start: start, Dur: time.Since(t0), Err: err, Cache: true})
	}
	if err != nil {
		c.replyError(&r, errnoOf(err), fmt.Sprintf("cache at %d: %v", r.off, err))
		return
	}
	c.replyOK(&r)
}

// blockStatus answers NBD_CMD_BLOCK_STATUS for base:allocation.
func (c *conn) blockStatus(r request) {
	defer c.wg.Done()
	defer c.budget.release(0)
	off, n := int64(r.off), int64(r.len)
	limit := maxExtents
	if r.flags&cmdFlagReqOne != 0 {
		limit = 1
	}
	type desc struct{ len, flags uint32 }
	var ds []desc
	if c.ext != nil {
		exts, err := c.ext.Extents(off, n)
		if err != nil {
			c.s.logf("nbd: connection %d: %v: extents: %v", c.id, &r, err)
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
			if len(ds) > 0 && ds[len(ds)-1].flags == f {
				ds[len(ds)-1].len += uint32(l)
			} else {
				if len(ds) == limit {
					break
				}
				ds = append(ds, desc{uint32(l), f})
			}
			pos += l
		}
	}
	if len(ds) == 0 {
		ds = append(ds, desc{uint32(n), 0})
	}
	b := make([]byte, 24+8*len(ds))
	putChunk(b, replyFlagDone, replyTypeBlockStatus, r.handle, uint32(4+8*len(ds)))
	be.PutUint32(b[20:], metaContextID)
	for i, d := range ds {
		be.PutUint32(b[24+8*i:], d.len)
		be.PutUint32(b[28+8*i:], d.flags)
	}
	c.write(net.Buffers{b})
}
