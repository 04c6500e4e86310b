package nbd

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

var be = binary.BigEndian

// errAbort ends a handshake without an error worth logging (NBD_OPT_ABORT).
var errAbort = errors.New("nbd: client aborted the handshake")

// conn is one client connection.
type conn struct {
	s   *Server
	id  uint64
	raw net.Conn // the accepted connection, for deadlines and Close
	nc  net.Conn // raw, or the TLS connection after STARTTLS
	br  *bufio.Reader
	bw  *bufio.Writer // handshake replies only

	fixed      bool // client set NBD_FLAG_C_FIXED_NEWSTYLE
	noZeroes   bool
	tls        bool
	structured bool
	metaExp    *Export // export that base:allocation was selected for (nil: none)
	nopts      int

	// Transmission.
	exp    *Export
	src    Source
	ext    Extenter // nil if the source does not know its holes
	size   int64
	eflags uint16
	meta   bool // base:allocation usable in BLOCK_STATUS
	hdr    [28]byte
	wmu    sync.Mutex // serialises replies; guards the fields below to broken
	wg     sync.WaitGroup
	budget budget

	pending []*task     // replies queued for the writer (guarded by wmu)
	spare   []*task     // the previous batch's array, reused (guarded by wmu)
	writing bool        // a goroutine is writing replies (guarded by wmu)
	hold    bool        // replies are held back until the reader's flush (guarded by wmu)
	broken  bool        // a write failed (guarded by wmu)
	iov     [][]byte    // the batch being written (the writer's only)
	nb      net.Buffers // iov for writev (the writer's only)

	// The reader's only.
	held   bool             // the reader set hold
	fd     int              // the FileBacked source's file, or -1
	fm     alloc.FileMapper // a source mapped to files (not FileBacked), or nil
	nowait bool             // preadv2 RWF_NOWAIT works on fd
	rc     syscall.RawConn  // the plain socket, for sendfile of fd (nil: none)
	// With OnRead: when the READ the reader served last ended, if it
	// served it itself (readBuf with nowait); zero otherwise. The next
	// request, if already buffered, starts then (see transmit).
	lastEnd time.Time

	sf sendfileState // the writer's
}

// interrupt wakes the connection's blocked read (Shutdown).
func (c *conn) interrupt() { c.raw.SetReadDeadline(time.Now()) }

func (s *Server) serve(nc net.Conn) {
	c := &conn{s: s, id: s.nextConn.Add(1), raw: nc, nc: nc}
	defer nc.Close()
	if !s.addConn(c) {
		return
	}
	defer s.removeConn(c)
	c.br = bufio.NewReaderSize(nc, 64<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	nc.SetDeadline(time.Now().Add(HandshakeTimeout))
	if err := c.handshake(); err != nil {
		if err != errAbort && !s.shutdown.Load() {
			s.logf("nbd: connection %d from %s: handshake: %v", c.id, addrString(nc), err)
		}
		return
	}
	nc.SetDeadline(time.Time{})
	if s.shutdown.Load() {
		return
	}
	growSendBuffer(nc)
	c.transmit()
}

func addrString(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil && a.Network() == "tcp" {
		return a.String()
	}
	return "local socket"
}

// handshake runs the fixed newstyle negotiation up to transmission. A nil
// return means c.exp is chosen and transmission starts.
func (c *conn) handshake() error {
	var b [18]byte
	be.PutUint64(b[0:], nbdMagic)
	be.PutUint64(b[8:], optMagic)
	be.PutUint16(b[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := c.nc.Write(b[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(c.br, b[:4]); err != nil {
		return fmt.Errorf("reading client flags: %w", err)
	}
	cflags := be.Uint32(b[:4])
	if cflags&^(clientFixedNewstyle|clientNoZeroes) != 0 {
		return fmt.Errorf("unknown client flags %#x", cflags)
	}
	c.fixed = cflags&clientFixedNewstyle != 0
	c.noZeroes = cflags&clientNoZeroes != 0
	var data []byte // reused option buffer, grows up to maxOption
	for {
		if c.nopts++; c.nopts > maxOptions {
			return fmt.Errorf("more than %d options", maxOptions)
		}
		var h [16]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return fmt.Errorf("reading option header: %w", err)
		}
		if m := be.Uint64(h[0:]); m != optMagic {
			return fmt.Errorf("bad option magic %#x", m)
		}
		opt := Option(be.Uint32(h[8:]))
		n := be.Uint32(h[12:])
		if !c.fixed && opt != OptExportName {
			return fmt.Errorf("%v from a client without fixed newstyle", opt)
		}
		if n > maxOption {
			if opt == OptExportName {
				return fmt.Errorf("%v: %d bytes of data, more than %d", opt, n, maxOption)
			}
			if _, err := io.CopyN(io.Discard, c.br, int64(n)); err != nil {
				return fmt.Errorf("%v: skipping %d bytes: %w", opt, n, err)
			}
			if err := c.replyErr(opt, RepErrTooBig, "option data too large"); err != nil {
				return err
			}
			continue
		}
		if cap(data) < int(n) {
			data = make([]byte, n)
		}
		data = data[:n]
		if _, err := io.ReadFull(c.br, data); err != nil {
			return fmt.Errorf("%v: reading %d bytes: %w", opt, n, err)
		}
		if c.s.TLS == TLSRequire && !c.tls && opt != OptStartTLS && opt != OptAbort {
			if opt == OptExportName {
				return fmt.Errorf("%v without TLS, which is required", opt)
			}
			if err := c.replyErr(opt, RepErrTLSReqd, "TLS is required: send NBD_OPT_STARTTLS first"); err != nil {
				return err
			}
			continue
		}
		h2, ok := optHandlers[opt]
		if !ok {
			if err := c.replyErr(opt, RepErrUnsup, fmt.Sprintf("option %v not supported", opt)); err != nil {
				return err
			}
			continue
		}
		done, err := h2(c, opt, data)
		if err != nil {
			return err
		}
		if err := c.bw.Flush(); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// An optHandler answers one option. done: transmission starts.
type optHandler func(c *conn, opt Option, data []byte) (done bool, err error)

var optHandlers map[Option]optHandler

func init() {
	optHandlers = map[Option]optHandler{
		OptExportName:      (*conn).optExportName,
		OptAbort:           (*conn).optAbort,
		OptList:            (*conn).optList,
		OptStartTLS:        (*conn).optStartTLS,
		OptInfo:            (*conn).optInfoGo,
		OptGo:              (*conn).optInfoGo,
		OptStructuredReply: (*conn).optStructuredReply,
		OptListMetaContext: (*conn).optMetaContext,
		OptSetMetaContext:  (*conn).optMetaContext,
	}
}

// reply writes one option reply into the handshake writer.
func (c *conn) reply(opt Option, rep Rep, payload ...[]byte) error {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	var h [20]byte
	be.PutUint64(h[0:], optReplyMagic)
	be.PutUint32(h[8:], uint32(opt))
	be.PutUint32(h[12:], uint32(rep))
	be.PutUint32(h[16:], uint32(n))
	c.bw.Write(h[:])
	for _, p := range payload {
		c.bw.Write(p)
	}
	if c.bw.Buffered() > 0 && c.bw.Available() < 1024 {
		return c.bw.Flush()
	}
	return nil
}

// replyErr sends an error reply with a message and flushes it.
func (c *conn) replyErr(opt Option, rep Rep, msg string) error {
	c.s.logf("nbd: connection %d: %v: %v: %s", c.id, opt, rep, msg)
	if err := c.reply(opt, rep, []byte(msg)); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *conn) transmissionFlags() uint16 {
	f := uint16(flagHasFlags | flagReadOnly | flagSendFlush | flagSendCache | flagCanMultiConn)
	if c.structured {
		f |= flagSendDF
	}
	return f
}

func (c *conn) optExportName(opt Option, data []byte) (bool, error) {
	if len(data) > maxString {
		return false, fmt.Errorf("%v: name of %d bytes", opt, len(data))
	}
	exp := c.s.export(string(data))
	if exp == nil {
		// NBD_OPT_EXPORT_NAME cannot fail: the session ends.
		return false, fmt.Errorf("%v: no export %q", opt, data)
	}
	c.start(exp)
	var b [10 + 124]byte
	be.PutUint64(b[0:], uint64(c.size))
	be.PutUint16(b[8:], c.eflags)
	out := b[:]
	if c.noZeroes {
		out = b[:10]
	}
	_, err := c.bw.Write(out)
	return true, err
}

func (c *conn) optAbort(opt Option, data []byte) (bool, error) {
	c.reply(opt, RepAck)
	c.bw.Flush()
	return false, errAbort
}

func (c *conn) optList(opt Option, data []byte) (bool, error) {
	if len(data) != 0 {
		return false, c.replyErr(opt, RepErrInvalid, "NBD_OPT_LIST with data")
	}
	for i := range c.s.Exports {
		e := &c.s.Exports[i]
		var l [4]byte
		be.PutUint32(l[:], uint32(len(e.Name)))
		if err := c.reply(opt, RepServer, l[:], []byte(e.Name), []byte(e.Description)); err != nil {
			return false, err
		}
	}
	return false, c.reply(opt, RepAck)
}

func (c *conn) optStartTLS(opt Option, data []byte) (bool, error) {
	switch {
	case len(data) != 0:
		return false, c.replyErr(opt, RepErrInvalid, "NBD_OPT_STARTTLS with data")
	case c.tls:
		return false, c.replyErr(opt, RepErrInvalid, "TLS already negotiated")
	case c.s.TLS == TLSOff || c.s.TLSConfig == nil:
		return false, c.replyErr(opt, RepErrPolicy, "TLS is not enabled on this server")
	}
	if err := c.reply(opt, RepAck); err != nil {
		return false, err
	}
	if err := c.bw.Flush(); err != nil {
		return false, err
	}
	if c.br.Buffered() > 0 {
		return false, errors.New("client sent data before the TLS handshake")
	}
	tc := tls.Server(c.raw, c.s.TLSConfig)
	if err := tc.Handshake(); err != nil {
		return false, fmt.Errorf("TLS handshake: %w", err)
	}
	c.nc, c.tls = tc, true
	c.br.Reset(tc)
	c.bw.Reset(tc)
	return false, nil
}

func (c *conn) optStructuredReply(opt Option, data []byte) (bool, error) {
	if len(data) != 0 {
		return false, c.replyErr(opt, RepErrInvalid, "NBD_OPT_STRUCTURED_REPLY with data")
	}
	c.structured = true
	return false, c.reply(opt, RepAck)
}

// parseName reads a 32-bit length and a string from data.
func parseName(data []byte) (name string, rest []byte, ok bool) {
	if len(data) < 4 {
		return "", nil, false
	}
	n := be.Uint32(data)
	if n > maxString || uint64(n) > uint64(len(data)-4) {
		return "", nil, false
	}
	return string(data[4 : 4+n]), data[4+n:], true
}

func (c *conn) optInfoGo(opt Option, data []byte) (bool, error) {
	name, rest, ok := parseName(data)
	if !ok || len(rest) < 2 || len(rest) != 2+2*int(be.Uint16(rest)) {
		return false, c.replyErr(opt, RepErrInvalid, "malformed request")
	}
	exp := c.s.export(name)
	if exp == nil {
		return false, c.replyErr(opt, RepErrUnknown, fmt.Sprintf("export %q not found", name))
	}
	if err := validBlockSize(exp.MinBlockSize); err != nil {
		return false, c.replyErr(opt, RepErrPlatform, err.Error())
	}
	var b [18]byte
	be.PutUint16(b[0:], infoExport)
	be.PutUint64(b[2:], uint64(exp.Source.Size()))
	be.PutUint16(b[10:], c.transmissionFlags())
	if err := c.reply(opt, RepInfo, b[:12]); err != nil {
		return false, err
	}
	// Block sizes are sent whether asked or not, as the spec allows.
	minBS := max(exp.MinBlockSize, 1)
	be.PutUint16(b[0:], infoBlockSize)
	be.PutUint32(b[2:], minBS)
	be.PutUint32(b[6:], max(minBS, 4096))
	be.PutUint32(b[10:], MaxRequest)
	if err := c.reply(opt, RepInfo, b[:14]); err != nil {
		return false, err
	}
	reqs := rest[2:]
	for i := 0; i+1 < len(reqs); i += 2 {
		var t [2]byte
		switch be.Uint16(reqs[i:]) {
		case infoName:
			be.PutUint16(t[:], infoName)
			if err := c.reply(opt, RepInfo, t[:], []byte(exp.Name)); err != nil {
				return false, err
			}
		case infoDescription:
			if exp.Description != "" {
				be.PutUint16(t[:], infoDescription)
				if err := c.reply(opt, RepInfo, t[:], []byte(exp.Description)); err != nil {
					return false, err
				}
			}
		}
	}
	if err := c.reply(opt, RepAck); err != nil {
		return false, err
	}
	if opt == OptInfo {
		return false, nil
	}
	c.start(exp)
	return true, nil
}

const metaBaseAllocation = "base:allocation"

// metaContextID is the id of base:allocation in SET_META_CONTEXT replies.
const metaContextID = 1

func (c *conn) optMetaContext(opt Option, data []byte) (bool, error) {
	if !c.structured {
		return false, c.replyErr(opt, RepErrInvalid, "structured replies not negotiated")
	}
	name, rest, ok := parseName(data)
	if !ok || len(rest) < 4 {
		return false, c.replyErr(opt, RepErrInvalid, "malformed request")
	}
	nq := be.Uint32(rest)
	rest = rest[4:]
	if uint64(nq)*4 > uint64(len(rest)) {
		return false, c.replyErr(opt, RepErrInvalid, "malformed request: too many queries")
	}
	match := opt == OptListMetaContext && nq == 0 // list: no query lists all
	for range nq {
		q, r, ok := parseName(rest)
		if !ok {
			return false, c.replyErr(opt, RepErrInvalid, "malformed query")
		}
		rest = r
		if q == metaBaseAllocation || opt == OptListMetaContext && q == "base:" {
			match = true
		}
	}
	if len(rest) != 0 {
		return false, c.replyErr(opt, RepErrInvalid, "trailing bytes after the queries")
	}
	exp := c.s.export(name)
	if exp == nil {
		return false, c.replyErr(opt, RepErrUnknown, fmt.Sprintf("export %q not found", name))
	}
	if opt == OptSetMetaContext {
		c.metaExp = nil
		if match {
			c.metaExp = exp
		}
	}
	if match {
		var id [4]byte
		if opt == OptSetMetaContext {
			be.PutUint32(id[:], metaContextID)
		}
		if err := c.reply(opt, RepMetaContext, id[:], []byte(metaBaseAllocation)); err != nil {
			return false, err
		}
	}
	return false, c.reply(opt, RepAck)
}

func validBlockSize(n uint32) error {
	if n > 64<<10 || n&(n-1) != 0 {
		return fmt.Errorf("minimum block size %d is not a power of two up to 64 KiB", n)
	}
	return nil
}

// start fixes the export for transmission.
func (c *conn) start(exp *Export) {
	c.exp = exp
	c.src = exp.Source
	c.ext, _ = exp.Source.(Extenter)
	c.size = exp.Source.Size()
	c.eflags = c.transmissionFlags()
	c.meta = c.structured && c.metaExp == exp
}
