package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/nbd"
)

// stream builds what a server sends.
type stream []byte

func (s stream) u16(v uint16) stream { return binary.BigEndian.AppendUint16(s, v) }
func (s stream) u32(v uint32) stream { return binary.BigEndian.AppendUint32(s, v) }
func (s stream) u64(v uint64) stream { return binary.BigEndian.AppendUint64(s, v) }

func (s stream) optRep(o nbd.Option, r nbd.Rep, data []byte) stream {
	s = s.u64(optReplyMagic).u32(uint32(o)).u32(uint32(r)).u32(uint32(len(data)))
	return append(s, data...)
}

// greeting is a fixed-newstyle handshake up to NBD_OPT_GO's ACK: structured
// replies, base:allocation as context 7, a 1 MiB export.
func greeting() stream {
	s := stream{}.u64(nbdMagic).u64(optMagic).u16(flagFixedNewstyle | flagNoZeroes)
	s = s.optRep(nbd.OptStructuredReply, nbd.RepAck, nil)
	s = s.optRep(nbd.OptSetMetaContext, nbd.RepMetaContext, append(stream{}.u32(7), metaBaseAllocation...))
	s = s.optRep(nbd.OptSetMetaContext, nbd.RepAck, nil)
	s = s.optRep(nbd.OptGo, nbd.RepInfo, stream{}.u16(infoExport).u64(1<<20).u16(tflagHasFlags))
	return s.optRep(nbd.OptGo, nbd.RepAck, nil)
}

// chunk is a structured reply chunk for handle h.
func (s stream) chunk(flags, typ uint16, h uint64, payload []byte) stream {
	s = s.u32(structReplyMagic).u16(flags).u16(typ).u64(h).u32(uint32(len(payload)))
	return append(s, payload...)
}

// fake runs a client against a server that sends srv and discards what
// the client sends; op is run on the client if the handshake succeeds.
// What follows greeting() in srv (the replies) is sent only once the
// client has sent its first request, as a real server would.
func fake(t *testing.T, srv stream, op func(*Client) error) error {
	return fakeEOF(t, srv, false, op)
}

// fakeEOF is fake, the server closing the connection after srv when eof.
func fakeEOF(t *testing.T, srv stream, eof bool, op func(*Client) error) error {
	pre, post := srv, stream(nil)
	if hs := greeting(); bytes.HasPrefix(srv, hs) {
		pre, post = srv[:len(hs)], srv[len(hs):]
	}
	return fakeSplit(t, pre, post, eof, op)
}

// fakeSplit sends pre, then post after the client's first request.
func fakeSplit(t *testing.T, pre, post stream, eof bool, op func(*Client) error) error {
	t.Helper()
	cli, sc := net.Pipe()
	requested := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() {
		// Read what the client sends; note its first request.
		var seen []byte
		magic := stream{}.u32(requestMagic)
		waiting := true
		buf := make([]byte, 4096)
		for {
			n, err := sc.Read(buf)
			if waiting {
				seen = append(seen, buf[:n]...)
				if bytes.Contains(seen, magic) {
					close(requested)
					waiting = false
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() {
		sc.Write(pre)
		if len(post) > 0 {
			select {
			case <-requested:
				sc.Write(post)
			case <-time.After(5 * time.Second):
			}
		}
		if eof {
			sc.Close()
		} // else the stream stays open: silence
		done <- struct{}{}
	}()
	defer func() { cli.Close(); sc.Close(); <-done; <-done }()
	c, err := newClient(context.Background(), cli, "nbd://fake/x", "x", nil, Options{CacheSize: -1, Timeout: time.Second}, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return op(c)
}

func readOp(n int, off int64) func(*Client) error {
	return func(c *Client) error { _, err := c.ReadAt(make([]byte, n), off); return err }
}

func extentsOp(c *Client) error { _, err := c.Extents(0, c.Size()); return err }

// TestCorruptServer: a table of bad server streams, each a clear error
// naming the URI, no panic, no hang (a silent server times out in 1 s).
func TestCorruptServer(t *testing.T) {
	data := func(off uint64, n int) []byte { return append(stream{}.u64(off), make([]byte, n)...) }
	for _, tc := range []struct {
		name string
		srv  stream
		op   func(*Client) error
		want string
		is   error
		eof  bool // the server closes the connection after srv
	}{
		{"not nbd", stream("HTTP/1.1 400 Bad Request\r\n\r\n"), nil, "not an NBD server", nil, false},
		{"empty", stream{}, nil, "closed the connection", nil, true},
		{"silent", stream{}, nil, "no answer within 1s", nil, false},
		{"bad style", stream{}.u64(nbdMagic).u64(42), nil, "unknown handshake style", nil, false},
		{"bad opt reply magic", stream{}.u64(nbdMagic).u64(optMagic).u16(1).u64(1).u32(8).u32(1).u32(0), nil, "bad magic", nil, false},
		{"opt reply for another option", stream{}.u64(nbdMagic).u64(optMagic).u16(1).optRep(nbd.OptGo, nbd.RepAck, nil), nil, "names option", nil, false},
		{"huge opt reply", stream{}.u64(nbdMagic).u64(optMagic).u16(1).u64(optReplyMagic).u32(8).u32(1).u32(1 << 30), nil, "limit", nil, false},
		{"missing export", stream{}.u64(nbdMagic).u64(optMagic).u16(1).
			optRep(nbd.OptStructuredReply, nbd.RepAck, nil).optRep(nbd.OptSetMetaContext, nbd.RepErrUnknown, nil).
			optRep(nbd.OptGo, nbd.RepErrUnknown, []byte("no export x\x00\x1b[31m")), nil, `export "x"`, ErrExportNotFound, false},
		{"tls required", stream{}.u64(nbdMagic).u64(optMagic).u16(1).optRep(nbd.OptStructuredReply, nbd.RepErrTLSReqd, nil), nil, "TLS", ErrTLSRequired, false},
		{"go without export info", stream{}.u64(nbdMagic).u64(optMagic).u16(1).
			optRep(nbd.OptStructuredReply, nbd.RepAck, nil).optRep(nbd.OptSetMetaContext, nbd.RepAck, nil).
			optRep(nbd.OptGo, nbd.RepAck, nil), nil, "without NBD_INFO_EXPORT", nil, false},
		{"bad block sizes", stream{}.u64(nbdMagic).u64(optMagic).u16(1).
			optRep(nbd.OptStructuredReply, nbd.RepAck, nil).optRep(nbd.OptSetMetaContext, nbd.RepAck, nil).
			optRep(nbd.OptGo, nbd.RepInfo, stream{}.u16(infoBlockSize).u32(3).u32(4096).u32(1<<20)), nil, "minimum block size 3", nil, false},
		{"export too big", stream{}.u64(nbdMagic).u64(optMagic).u16(1).
			optRep(nbd.OptStructuredReply, nbd.RepAck, nil).optRep(nbd.OptSetMetaContext, nbd.RepAck, nil).
			optRep(nbd.OptGo, nbd.RepInfo, stream{}.u16(infoExport).u64(1<<63).u16(1)), nil, "too large", nil, false},
		{"export name closes", stream{}.u64(nbdMagic).u64(optMagic).u16(1).
			optRep(nbd.OptStructuredReply, nbd.RepAck, nil).optRep(nbd.OptSetMetaContext, nbd.RepAck, nil).
			optRep(nbd.OptGo, nbd.RepErrUnsup, nil), nil, "NBD_OPT_EXPORT_NAME", nil, true},
		// The request may be sent before or after the close: either error.
		{"server closes mid-read", greeting().chunk(0, replyTypeOffsetData, 0, data(0, 256)), readOp(512, 0), "", nil, true},
		{"bad reply magic", greeting().u32(0xdeadbeef), readOp(512, 0), "bad reply magic", nil, false},
		{"unknown handle", greeting().chunk(1, replyTypeOffsetData, 99, data(0, 512)), readOp(512, 0), "unknown handle", nil, false},
		{"data outside the request", greeting().chunk(1, replyTypeOffsetData, 0, data(4096, 512)), readOp(512, 0), "outside the request", nil, false},
		{"data too long", greeting().chunk(1, replyTypeOffsetData, 0, data(0, 1024)), readOp(512, 0), "outside the request", nil, false},
		{"short read", greeting().chunk(1, replyTypeOffsetData, 0, data(0, 256)), readOp(512, 0), "short read", nil, false},
		{"gap", greeting().chunk(1, replyTypeOffsetData, 0, data(256, 256)), readOp(512, 0), "no data for 256 bytes at 0", nil, false},
		{"overlap", greeting().chunk(0, replyTypeOffsetData, 0, data(0, 512)).chunk(1, replyTypeOffsetHole, 0, stream{}.u64(0).u32(512)), readOp(512, 0), "chunks overlap", nil, false},
		{"hole of bad length", greeting().chunk(1, replyTypeOffsetHole, 0, stream{}.u64(0)), readOp(512, 0), "hole chunk", nil, false},
		{"none not final", greeting().chunk(0, replyTypeNone, 0, nil), readOp(512, 0), "must be empty and final", nil, false},
		{"unknown chunk type", greeting().chunk(1, 77, 0, nil), readOp(512, 0), "unknown chunk type", nil, false},
		{"read error", greeting().chunk(1, replyTypeError, 0, append(stream{}.u32(5).u16(4), "oops"...)), readOp(512, 0), "server says: oops", nbd.EIO, false},
		{"error message too long", greeting().chunk(1, replyTypeError, 0, stream{}.u32(5).u16(100)), readOp(512, 0), "error message", nil, false},
		{"simple read error", greeting().u32(simpleReplyMagic).u32(22).u64(0), readOp(512, 0), "EINVAL", nbd.EINVAL, false},
		{"simple reply to block status", greeting().u32(simpleReplyMagic).u32(0).u64(0), extentsOp, "simple reply", nil, false},
		{"data chunk to block status", greeting().chunk(1, replyTypeOffsetData, 0, data(0, 8)), extentsOp, "unexpected data chunk", nil, false},
		{"zero-length extent", greeting().chunk(1, replyTypeBlockStatus, 0, stream{}.u32(7).u32(0).u32(0)), extentsOp, "length 0", nil, false},
		{"no extents for our context", greeting().chunk(1, replyTypeBlockStatus, 0, stream{}.u32(8).u32(512).u32(0)), extentsOp, "no base:allocation", nil, false},
		{"server goes silent", greeting(), readOp(512, 0), "no reply", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op
			if op == nil {
				op = func(*Client) error { return errors.New("handshake succeeded") }
			}
			start := time.Now()
			err := fakeEOF(t, tc.srv, tc.eof, op)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nbd://fake/x") {
				t.Errorf("error %q, want %q and the URI", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if strings.ContainsAny(err.Error(), "\x00\x1b") {
				t.Errorf("error %q holds control characters", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestGoodFakeServer: the handmade stream's happy path (data and hole
// chunks out of order, an extent list), so the table above fails for the
// reason it names.
func TestGoodFakeServer(t *testing.T) {
	payload := append(stream{}.u64(256), make([]byte, 256)...)
	for i := 8; i < len(payload); i++ {
		payload[i] = 0xab
	}
	srv := greeting().chunk(0, replyTypeOffsetData, 0, payload).
		chunk(1, replyTypeOffsetHole, 0, stream{}.u64(0).u32(256))
	err := fake(t, srv, func(c *Client) error {
		p := make([]byte, 512)
		if _, err := c.ReadAt(p, 0); err != nil {
			return err
		}
		if p[0] != 0 || p[255] != 0 || p[256] != 0xab || p[511] != 0xab {
			t.Errorf("read %x...", p[250:262])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A server without NBD_OPT_GO: NBD_OPT_EXPORT_NAME, simple replies.
	old := stream{}.u64(nbdMagic).u64(optMagic).u16(flagFixedNewstyle|flagNoZeroes).
		optRep(nbd.OptStructuredReply, nbd.RepErrUnsup, nil).
		optRep(nbd.OptGo, nbd.RepErrUnsup, nil).u64(4096).u16(tflagHasFlags)
	reply := append(stream{}.u32(simpleReplyMagic).u32(0).u64(0), make([]byte, 512)...)
	reply[len(reply)-1] = 0xcd
	err = fakeSplit(t, old, reply, false, func(c *Client) error {
		if i := c.Info(); i.Go || i.StructuredReplies || c.Size() != 4096 {
			t.Errorf("negotiated %+v size %d", i, c.Size())
		}
		p := make([]byte, 512)
		if _, err := c.ReadAt(p, 3584); err != nil {
			return err
		}
		if p[511] != 0xcd {
			t.Error("simple reply's data not read")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv = greeting().chunk(1, replyTypeBlockStatus, 0, stream{}.u32(7).u32(4096).u32(3).u32(1<<20).u32(0))
	err = fake(t, srv, func(c *Client) error {
		ext, err := c.Extents(0, 1<<20)
		if err != nil {
			return err
		}
		if len(ext) != 2 || !ext[0].Hole || !ext[0].Zero || ext[0].Len != 4096 || ext[1].Hole || ext[1].Len != 1<<20-4096 {
			t.Errorf("extents %v", ext)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
