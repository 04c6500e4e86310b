package client

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"unicode"

	"github.com/virt-bmap/virt-bmap/nbd"
)

// ErrExportNotFound is wrapped by the error for an export the server does
// not have (NBD_REP_ERR_UNKNOWN, or a connection closed after
// NBD_OPT_EXPORT_NAME).
var ErrExportNotFound = errors.New("no such export")

// ErrTLSRequired is wrapped by the error for a server that requires TLS
// when the URI did not ask for it (nbd:// rather than nbds://).
var ErrTLSRequired = errors.New("the server requires TLS (use nbds:// or nbds+unix://)")

// handshake holds what negotiation learned.
type handshake struct {
	conn       net.Conn // the TLS connection after STARTTLS
	size       int64
	flags      uint16
	structured bool
	metaID     uint32
	haveMeta   bool
	// minBlock, prefBlock, maxBlock: NBD_INFO_BLOCK_SIZE (0 if not sent)
	minBlock, prefBlock, maxBlock uint32
	tls                           bool
	goUsed                        bool // NBD_OPT_GO (else NBD_OPT_EXPORT_NAME or oldstyle)
	oldstyle                      bool
}

// repError is an error reply to an option.
type repError struct {
	opt option
	rep rep
	msg string
}

func (e *repError) Error() string {
	s := fmt.Sprintf("%v refused: %v", e.opt, e.rep)
	if e.msg != "" {
		s += " (server says: " + e.msg + ")"
	}
	return s
}

func (e *repError) Unwrap() error {
	switch e.rep {
	case nbd.RepErrUnknown:
		return ErrExportNotFound
	case nbd.RepErrTLSReqd:
		return ErrTLSRequired
	}
	return nil
}

// negotiate runs the handshake on c: fixed newstyle (or oldstyle), STARTTLS
// when tlsCfg is not nil, structured replies, the base:allocation meta
// context and NBD_OPT_GO for export, falling back to NBD_OPT_EXPORT_NAME.
func negotiate(ctx context.Context, c net.Conn, export string, tlsCfg *tls.Config) (*handshake, error) {
	h := &handshake{conn: c}
	var b [18]byte
	if _, err := io.ReadFull(c, b[:16]); err != nil {
		return nil, fmt.Errorf("reading the server's greeting: %w", eofIsUnexpected(err))
	}
	if m := binary.BigEndian.Uint64(b[:]); m != nbdMagic {
		return nil, fmt.Errorf("not an NBD server (greeting %#x, want NBDMAGIC)", m)
	}
	switch m := binary.BigEndian.Uint64(b[8:]); m {
	case oldstyleMagic:
		return h, h.readOldstyle(tlsCfg)
	case optMagic:
	default:
		return nil, fmt.Errorf("unknown handshake style %#x", m)
	}
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return nil, fmt.Errorf("reading handshake flags: %w", eofIsUnexpected(err))
	}
	gflags := binary.BigEndian.Uint16(b[:])
	cflags := uint32(gflags & (flagFixedNewstyle | flagNoZeroes))
	binary.BigEndian.PutUint32(b[:], cflags)
	if _, err := c.Write(b[:4]); err != nil {
		return nil, fmt.Errorf("sending client flags: %w", err)
	}
	noZeroes := gflags&flagNoZeroes != 0
	if gflags&flagFixedNewstyle == 0 {
		// Plain newstyle: no option replies, only EXPORT_NAME.
		if tlsCfg != nil {
			return nil, errors.New("TLS asked for, but the server does not speak fixed newstyle (no STARTTLS)")
		}
		return h, h.exportName(export, noZeroes)
	}
	if tlsCfg != nil {
		if err := h.startTLS(ctx, tlsCfg); err != nil {
			return nil, err
		}
	}
	if err := h.structuredReply(); err != nil {
		return nil, err
	}
	if h.structured {
		if err := h.setMetaContext(export); err != nil {
			return nil, err
		}
	}
	err := h.optGo(export)
	var re *repError
	if errors.As(err, &re) && re.rep == nbd.RepErrUnsup {
		return h, h.exportName(export, noZeroes)
	}
	return h, err
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return fmt.Errorf("server closed the connection: %w", io.ErrUnexpectedEOF)
	}
	return err
}

func (h *handshake) readOldstyle(tlsCfg *tls.Config) error {
	if tlsCfg != nil {
		return errors.New("TLS asked for, but the server speaks oldstyle NBD (no TLS)")
	}
	var b [8 + 4 + 124]byte
	if _, err := io.ReadFull(h.conn, b[:]); err != nil {
		return fmt.Errorf("oldstyle handshake: %w", eofIsUnexpected(err))
	}
	if err := h.setSize(binary.BigEndian.Uint64(b[:])); err != nil {
		return err
	}
	h.flags = uint16(binary.BigEndian.Uint32(b[8:]))
	h.oldstyle = true
	return nil
}

func (h *handshake) setSize(size uint64) error {
	if size > 1<<62 {
		return fmt.Errorf("export size %d is too large", size)
	}
	h.size = int64(size)
	return nil
}

// sendOpt sends option o with data.
func (h *handshake) sendOpt(o option, data []byte) error {
	b := make([]byte, 16+len(data))
	binary.BigEndian.PutUint64(b, optMagic)
	binary.BigEndian.PutUint32(b[8:], uint32(o))
	binary.BigEndian.PutUint32(b[12:], uint32(len(data)))
	copy(b[16:], data)
	if _, err := h.conn.Write(b); err != nil {
		return fmt.Errorf("sending %v: %w", o, err)
	}
	return nil
}

// readRep reads one reply to option o: its type and data. An error
// reply is returned as a *repError with the type.
func (h *handshake) readRep(o option) (rep, []byte, error) {
	var b [20]byte
	if _, err := io.ReadFull(h.conn, b[:]); err != nil {
		return 0, nil, fmt.Errorf("reading the reply to %v: %w", o, eofIsUnexpected(err))
	}
	if m := binary.BigEndian.Uint64(b[:]); m != optReplyMagic {
		return 0, nil, fmt.Errorf("reply to %v: bad magic %#x", o, m)
	}
	if got := option(binary.BigEndian.Uint32(b[8:])); got != o {
		return 0, nil, fmt.Errorf("reply to %v names option %v", o, got)
	}
	r := rep(binary.BigEndian.Uint32(b[12:]))
	n := binary.BigEndian.Uint32(b[16:])
	if n > maxOptReply {
		return 0, nil, fmt.Errorf("reply %v to %v: %d bytes of data (limit %d)", r, o, n, maxOptReply)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(h.conn, data); err != nil {
		return 0, nil, fmt.Errorf("reading reply %v to %v: %w", r, o, eofIsUnexpected(err))
	}
	if r&(1<<31) != 0 {
		return r, data, &repError{opt: o, rep: r, msg: printable(data)}
	}
	return r, data, nil
}

// printable makes a server's message safe to print: at most 200 runes,
// control characters replaced.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, string(b))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "..."
	}
	return s
}

func (h *handshake) startTLS(ctx context.Context, cfg *tls.Config) error {
	if err := h.sendOpt(nbd.OptStartTLS, nil); err != nil {
		return err
	}
	r, _, err := h.readRep(nbd.OptStartTLS)
	if err != nil {
		return fmt.Errorf("server does not offer TLS: %w", err)
	}
	if r != nbd.RepAck {
		return fmt.Errorf("reply %v to NBD_OPT_STARTTLS, want NBD_REP_ACK", r)
	}
	tc := tls.Client(h.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	h.conn, h.tls = tc, true
	return nil
}

func (h *handshake) structuredReply() error {
	if err := h.sendOpt(nbd.OptStructuredReply, nil); err != nil {
		return err
	}
	r, _, err := h.readRep(nbd.OptStructuredReply)
	var re *repError
	switch {
	case errors.As(err, &re) && re.rep == nbd.RepErrTLSReqd:
		return err
	case errors.As(err, &re):
		return nil // simple replies only
	case err != nil:
		return err
	case r != nbd.RepAck:
		return fmt.Errorf("reply %v to NBD_OPT_STRUCTURED_REPLY, want NBD_REP_ACK", r)
	}
	h.structured = true
	return nil
}

// appendString appends a 32-bit length and s.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func (h *handshake) setMetaContext(export string) error {
	data := appendString(nil, export)
	data = binary.BigEndian.AppendUint32(data, 1)
	data = appendString(data, metaBaseAllocation)
	if err := h.sendOpt(nbd.OptSetMetaContext, data); err != nil {
		return err
	}
	for range maxOptReplies {
		r, data, err := h.readRep(nbd.OptSetMetaContext)
		var re *repError
		switch {
		case errors.As(err, &re) && re.rep == nbd.RepErrTLSReqd:
			return err
		case errors.As(err, &re):
			// No block status: every byte is data. A missing export is
			// reported by NBD_OPT_GO.
			h.haveMeta = false
			return nil
		case err != nil:
			return err
		}
		switch r {
		case nbd.RepAck:
			return nil
		case nbd.RepMetaContext:
			if len(data) < 4 {
				return fmt.Errorf("NBD_REP_META_CONTEXT of %d bytes", len(data))
			}
			if string(data[4:]) == metaBaseAllocation {
				h.metaID, h.haveMeta = binary.BigEndian.Uint32(data), true
			}
		default:
			return fmt.Errorf("reply %v to NBD_OPT_SET_META_CONTEXT", r)
		}
	}
	return fmt.Errorf("more than %d replies to NBD_OPT_SET_META_CONTEXT", maxOptReplies)
}

func (h *handshake) optGo(export string) error {
	data := appendString(nil, export)
	data = binary.BigEndian.AppendUint16(data, 1)
	data = binary.BigEndian.AppendUint16(data, infoBlockSize)
	if err := h.sendOpt(nbd.OptGo, data); err != nil {
		return err
	}
	haveExport := false
	for range maxOptReplies {
		r, data, err := h.readRep(nbd.OptGo)
		if err != nil {
			return err
		}
		switch r {
		case nbd.RepAck:
			if !haveExport {
				return errors.New("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT")
			}
			h.goUsed = true
			return nil
		case nbd.RepInfo:
			if len(data) < 2 {
				return fmt.Errorf("NBD_REP_INFO of %d bytes", len(data))
			}
			switch binary.BigEndian.Uint16(data) {
			case infoExport:
				if len(data) != 12 {
					return fmt.Errorf("NBD_INFO_EXPORT of %d bytes, want 12", len(data))
				}
				if err := h.setSize(binary.BigEndian.Uint64(data[2:])); err != nil {
					return err
				}
				h.flags = binary.BigEndian.Uint16(data[10:])
				haveExport = true
			case infoBlockSize:
				if len(data) != 14 {
					return fmt.Errorf("NBD_INFO_BLOCK_SIZE of %d bytes, want 14", len(data))
				}
				h.minBlock = binary.BigEndian.Uint32(data[2:])
				h.prefBlock = binary.BigEndian.Uint32(data[6:])
				h.maxBlock = binary.BigEndian.Uint32(data[10:])
				if err := checkBlockSizes(h.minBlock, h.prefBlock, h.maxBlock); err != nil {
					return err
				}
			}
			// NBD_INFO_NAME, NBD_INFO_DESCRIPTION, unknown: ignored.
		default:
			return fmt.Errorf("reply %v to NBD_OPT_GO", r)
		}
	}
	return fmt.Errorf("more than %d replies to NBD_OPT_GO", maxOptReplies)
}

func isPow2(x uint32) bool { return x != 0 && x&(x-1) == 0 }

// checkBlockSizes checks NBD_INFO_BLOCK_SIZE as proto.md sets it out: the
// minimum a power of two up to 64 KiB, the preferred a power of two not
// below it, the maximum not below the minimum.
func checkBlockSizes(minB, pref, maxB uint32) error {
	if !isPow2(minB) || minB > 64<<10 {
		return fmt.Errorf("NBD_INFO_BLOCK_SIZE: minimum block size %d is not a power of two up to 64 KiB", minB)
	}
	if !isPow2(pref) || pref < minB {
		return fmt.Errorf("NBD_INFO_BLOCK_SIZE: preferred block size %d (minimum %d)", pref, minB)
	}
	if maxB < minB {
		return fmt.Errorf("NBD_INFO_BLOCK_SIZE: maximum block size %d below the minimum %d", maxB, minB)
	}
	return nil
}

// exportName is the old way to pick the export: no reply on failure, the
// server closes the connection.
func (h *handshake) exportName(export string, noZeroes bool) error {
	if err := h.sendOpt(nbd.OptExportName, []byte(export)); err != nil {
		return err
	}
	n := 10
	if !noZeroes {
		n += 124
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(h.conn, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("server closed the connection after NBD_OPT_EXPORT_NAME: %w", ErrExportNotFound)
		}
		return fmt.Errorf("NBD_OPT_EXPORT_NAME: %w", err)
	}
	if err := h.setSize(binary.BigEndian.Uint64(b)); err != nil {
		return err
	}
	h.flags = binary.BigEndian.Uint16(b[8:])
	return nil
}
