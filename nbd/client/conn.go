package client

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// call is one request in flight.
type call struct {
	cmd cmd
	off int64
	buf []byte // READ: where the data goes

	spans  []span         // READ: the parts the reply covered
	ext    []alloc.Extent // BLOCK_STATUS: the extents, from off
	srvErr error          // the first error the server sent (the reader's)
	err    error          // the call's result, set under Client.mu
	done   chan struct{}
	failed bool // ended by the connection's failure
}

type span struct{ off, end int64 } // relative to the request

// request encodes a request header.
func request(c cmd, flags uint16, handle uint64, off int64, length uint32) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint32(b, requestMagic)
	binary.BigEndian.PutUint16(b[4:], flags)
	binary.BigEndian.PutUint16(b[6:], uint16(c))
	binary.BigEndian.PutUint64(b[8:], handle)
	binary.BigEndian.PutUint64(b[16:], uint64(off))
	binary.BigEndian.PutUint32(b[24:], length)
	return b
}

// do sends cl's request and waits for its reply, or for the timeout, which
// fails the connection.
func (c *Client) do(cl *call, flags uint16, off int64, length uint32) error {
	cl.done = make(chan struct{})
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	c.mu.Lock()
	if c.dead != nil {
		err := c.dead
		c.mu.Unlock()
		return err
	}
	h := c.next
	c.next++
	c.calls[h] = cl
	c.mu.Unlock()

	c.wmu.Lock()
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.conn.Write(request(cl.cmd, flags, h, off, length))
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("sending %v at offset %d: %w", cl.cmd, off, err))
	}
	t := time.NewTimer(c.timeout)
	select {
	case <-cl.done:
	case <-t.C:
		c.fail(fmt.Errorf("no reply to %v at offset %d length %d within %v", cl.cmd, off, length, c.timeout))
		<-cl.done
	}
	t.Stop()
	if cl.failed {
		// The reader may still be filling cl.buf: wait until it has
		// stopped before the caller reuses it.
		<-c.readerDone
		return cl.err // names the URI already
	}
	if cl.err != nil {
		return fmt.Errorf("nbd: %s: export %q: %w", c.name, c.export, cl.err)
	}
	return nil
}

// fail ends the connection: every call in flight and every later one
// gets err, which names the URI.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.dead == nil {
		c.dead = fmt.Errorf("nbd: %s: export %q: %w", c.name, c.export, err)
	}
	c.mu.Unlock()
	c.conn.Close()
	c.failAll(c.dead)
}

func (c *Client) failAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, cl := range c.calls {
		delete(c.calls, h)
		cl.err, cl.failed = err, true
		close(cl.done)
	}
}

// lookup returns the call waiting for handle h.
func (c *Client) lookup(h uint64) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[h]
}

// finish completes the call of handle h with err.
func (c *Client) finish(h uint64, cl *call, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls[h] != cl {
		return // failed meanwhile
	}
	delete(c.calls, h)
	cl.err = err
	close(cl.done)
}

// reader reads replies until the connection fails or closes.
func (c *Client) reader() {
	defer close(c.readerDone)
	// Headers come out of a small buffer; large data is read straight into
	// the caller's buffer (bufio reads past its buffer when it is empty),
	// so at most 4 KiB of it is copied twice.
	rd := &replyReader{r: bufio.NewReaderSize(c.conn, 4<<10), structured: c.hs.structured, metaID: c.hs.metaID, size: c.size}
	for {
		h, cl, err := rd.next(c.lookup)
		if err != nil {
			c.mu.Lock()
			closing := c.dead != nil
			c.mu.Unlock()
			if closing && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isClosed(err)) {
				err = errors.New("connection closed")
			}
			c.fail(err)
			return
		}
		if cl != nil {
			c.finish(h, cl, rd.callErr)
		}
	}
}

// replyReader parses the reply stream of the transmission phase.
type replyReader struct {
	r          io.Reader
	structured bool
	metaID     uint32
	size       int64
	hdr        [20]byte
	callErr    error // the server's error for the completed call
}

// next reads one reply (a simple reply, or one chunk of a structured
// one). It returns the call and its handle when the reply completes it
// (rd.callErr then holds the server's error for it), a nil call
// otherwise. An error is a broken connection or a protocol violation.
func (rd *replyReader) next(lookup func(uint64) *call) (uint64, *call, error) {
	b := rd.hdr[:]
	if _, err := io.ReadFull(rd.r, b[:4]); err != nil {
		if err == io.EOF {
			return 0, nil, fmt.Errorf("server closed the connection: %w", io.ErrUnexpectedEOF)
		}
		return 0, nil, err
	}
	switch m := binary.BigEndian.Uint32(b); m {
	case simpleReplyMagic:
		return rd.simple(lookup)
	case structReplyMagic:
		return rd.chunk(lookup)
	default:
		return 0, nil, fmt.Errorf("bad reply magic %#x", m)
	}
}

func (rd *replyReader) simple(lookup func(uint64) *call) (uint64, *call, error) {
	b := rd.hdr[:12]
	if _, err := io.ReadFull(rd.r, b); err != nil {
		return 0, nil, fmt.Errorf("reading a reply header: %w", unexpected(err))
	}
	errno, h := binary.BigEndian.Uint32(b), binary.BigEndian.Uint64(b[4:])
	cl := lookup(h)
	if cl == nil {
		return 0, nil, fmt.Errorf("simple reply for unknown handle %#x", h)
	}
	if cl.spans != nil || cl.ext != nil {
		return 0, nil, fmt.Errorf("simple reply to %v handle %#x after structured chunks", cl.cmd, h)
	}
	rd.callErr = nil
	if errno != 0 {
		rd.callErr = fmt.Errorf("%v at offset %d: %w", cl.cmd, cl.off, nbd.Errno(errno))
		return h, cl, nil
	}
	switch cl.cmd {
	case nbd.CmdRead:
		if _, err := io.ReadFull(rd.r, cl.buf); err != nil {
			return 0, nil, fmt.Errorf("reading %d bytes of data at offset %d: %w", len(cl.buf), cl.off, unexpected(err))
		}
	case nbd.CmdBlockStatus:
		return 0, nil, fmt.Errorf("simple reply without error to NBD_CMD_BLOCK_STATUS")
	}
	return h, cl, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// chunk reads one structured reply chunk.
func (rd *replyReader) chunk(lookup func(uint64) *call) (uint64, *call, error) {
	b := rd.hdr[:16]
	if _, err := io.ReadFull(rd.r, b); err != nil {
		return 0, nil, fmt.Errorf("reading a structured reply header: %w", unexpected(err))
	}
	if !rd.structured {
		return 0, nil, errors.New("structured reply, but structured replies were not negotiated")
	}
	flags, typ := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	h, length := binary.BigEndian.Uint64(b[4:]), binary.BigEndian.Uint32(b[12:])
	cl := lookup(h)
	if cl == nil {
		return 0, nil, fmt.Errorf("structured reply for unknown handle %#x", h)
	}
	where := chunkWhere{cl.cmd, cl.off, typ, length}
	switch typ {
	case replyTypeNone:
		if length != 0 || flags&replyFlagDone == 0 {
			return 0, nil, fmt.Errorf("%s: NBD_REPLY_TYPE_NONE must be empty and final", where)
		}
	case replyTypeOffsetData:
		if cl.cmd != nbd.CmdRead || length < 8 {
			return 0, nil, fmt.Errorf("%s: unexpected data chunk", where)
		}
		var ob [8]byte
		if _, err := io.ReadFull(rd.r, ob[:]); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, unexpected(err))
		}
		s, err := cl.cover(int64(binary.BigEndian.Uint64(ob[:])), int64(length-8))
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, err)
		}
		if _, err := io.ReadFull(rd.r, cl.buf[s.off:s.end]); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, unexpected(err))
		}
	case replyTypeOffsetHole:
		if cl.cmd != nbd.CmdRead || length != 12 {
			return 0, nil, fmt.Errorf("%s: unexpected hole chunk", where)
		}
		var hb [12]byte
		if _, err := io.ReadFull(rd.r, hb[:]); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, unexpected(err))
		}
		s, err := cl.cover(int64(binary.BigEndian.Uint64(hb[:])), int64(binary.BigEndian.Uint32(hb[8:])))
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, err)
		}
		clear(cl.buf[s.off:s.end])
	case replyTypeBlockStatus:
		if cl.cmd != nbd.CmdBlockStatus || length < 12 || (length-4)%8 != 0 || (length-4)/8 > maxExtents {
			return 0, nil, fmt.Errorf("%s: unexpected block status chunk", where)
		}
		p := make([]byte, length)
		if _, err := io.ReadFull(rd.r, p); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, unexpected(err))
		}
		if binary.BigEndian.Uint32(p) == rd.metaID {
			if err := cl.addExtents(p[4:], rd.size); err != nil {
				return 0, nil, fmt.Errorf("%s: %w", where, err)
			}
		}
	default:
		if typ&replyTypeErrorBit == 0 {
			return 0, nil, fmt.Errorf("%s: unknown chunk type", where)
		}
		if length < 6 || length > 6+maxOptReply+8 {
			return 0, nil, fmt.Errorf("%s: error chunk of bad length", where)
		}
		p := make([]byte, length)
		if _, err := io.ReadFull(rd.r, p); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, unexpected(err))
		}
		errno, n := binary.BigEndian.Uint32(p), int(binary.BigEndian.Uint16(p[4:]))
		if 6+n > len(p) {
			return 0, nil, fmt.Errorf("%s: error message of %d bytes", where, n)
		}
		e := fmt.Errorf("%v at offset %d: %w", cl.cmd, cl.off, nbd.Errno(errno))
		if errno == 0 {
			e = fmt.Errorf("%v at offset %d: error chunk with error 0: %w", cl.cmd, cl.off, nbd.EIO)
		}
		if typ == replyTypeErrorOffset && len(p) >= 6+n+8 {
			e = fmt.Errorf("%v at offset %d (error at %d): %w", cl.cmd, cl.off, binary.BigEndian.Uint64(p[6+n:]), nbd.Errno(errno))
		}
		if n > 0 {
			e = fmt.Errorf("%w (server says: %s)", e, printable(p[6:6+n]))
		}
		if cl.srvErr == nil {
			cl.srvErr = e
		}
	}
	if flags&replyFlagDone == 0 {
		return 0, nil, nil
	}
	rd.callErr = cl.srvErr
	if cl.srvErr == nil {
		if err := cl.complete(); err != nil {
			return 0, nil, fmt.Errorf("%v at offset %d: %w", cl.cmd, cl.off, err)
		}
	}
	return h, cl, nil
}

// chunkWhere names a chunk in errors (formatted only then).
type chunkWhere struct {
	cmd    cmd
	off    int64
	typ    uint16
	length uint32
}

func (w chunkWhere) String() string {
	return fmt.Sprintf("%v at offset %d: chunk type %d length %d", w.cmd, w.off, w.typ, w.length)
}

// cover records that a chunk at absolute offset off of n bytes answers
// part of the read, and returns that part relative to the buffer.
func (cl *call) cover(off, n int64) (span, error) {
	rel := off - cl.off
	if off < 0 || rel < 0 || n <= 0 || rel > int64(len(cl.buf)) || n > int64(len(cl.buf))-rel {
		return span{}, fmt.Errorf("chunk at %d length %d outside the request (%d bytes)", off, n, len(cl.buf))
	}
	s := span{rel, rel + n}
	if k := len(cl.spans); k > 0 && cl.spans[k-1].end == s.off {
		cl.spans[k-1].end = s.end
		return s, nil
	}
	if len(cl.spans) >= maxChunks {
		return span{}, fmt.Errorf("more than %d separate chunks", maxChunks)
	}
	cl.spans = append(cl.spans, s)
	return s, nil
}

// addExtents appends block-status descriptors.
func (cl *call) addExtents(p []byte, size int64) error {
	if cl.ext != nil {
		return errors.New("a second base:allocation chunk")
	}
	cl.ext = []alloc.Extent{}
	off := cl.off
	for i := 0; i+8 <= len(p) && off < size; i += 8 {
		n, flags := int64(binary.BigEndian.Uint32(p[i:])), binary.BigEndian.Uint32(p[i+4:])
		if n == 0 {
			return fmt.Errorf("extent %d has length 0", i/8)
		}
		n = min(n, size-off)
		cl.ext = append(cl.ext, alloc.Extent{Off: off, Len: n, Hole: flags&stateHole != 0, Zero: flags&stateZero != 0})
		off += n
	}
	return nil
}

// complete checks a successful reply: a read covered exactly once.
func (cl *call) complete() error {
	switch cl.cmd {
	case nbd.CmdRead:
		if cl.spans == nil {
			return errors.New("no data in the reply")
		}
		slices.SortFunc(cl.spans, func(a, b span) int { return int(a.off - b.off) })
		var at int64
		for _, s := range cl.spans {
			if s.off < at {
				return fmt.Errorf("chunks overlap at %d", cl.off+s.off)
			}
			if s.off > at {
				return fmt.Errorf("no data for %d bytes at %d", s.off-at, cl.off+at)
			}
			at = s.end
		}
		if at != int64(len(cl.buf)) {
			return fmt.Errorf("short read: %d of %d bytes", at, len(cl.buf))
		}
	case nbd.CmdBlockStatus:
		if len(cl.ext) == 0 {
			return errors.New("no base:allocation extents in the reply")
		}
	}
	return nil
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
