package nbd

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowSrc is holeSrc (every other 4 KiB block a hole) with a random delay
// per read, so that pipelined requests finish out of order, and reads
// touching the 4 KiB block at failAt fail with EIO.
type slowSrc struct {
	holeSrc
	failAt int64
	reads  atomic.Int64
}

var errBadSector = fmt.Errorf("bad sector: %w", syscall.EIO)

func (s *slowSrc) ReadAt(p []byte, off int64) (int, error) {
	s.reads.Add(1)
	if n := rand.IntN(4); n > 0 {
		time.Sleep(time.Duration(n*50) * time.Microsecond)
	}
	if off < s.failAt+4096 && off+int64(len(p)) > s.failAt {
		return 0, errBadSector
	}
	return s.holeSrc.ReadAt(p, off)
}

// transClient negotiates (structured replies or not) and exchanges
// requests by hand.
func transClient(t *testing.T, ep *Endpoint, structured bool) *rawClient {
	r := dialRaw(t, ep)
	r.c.SetDeadline(time.Now().Add(60 * time.Second))
	if structured {
		r.option(OptStructuredReply, nil)
		if rep, _ := r.reply(OptStructuredReply); rep != RepAck {
			t.Fatalf("structured reply: %v", rep)
		}
	}
	r.option(OptGo, nameData("", 0, 0))
	for {
		rep, _ := r.reply(OptGo)
		if rep == RepAck {
			break
		}
		if rep != RepInfo {
			t.Fatalf("GO: %v", rep)
		}
	}
	return r
}

func (r *rawClient) request(cmd Cmd, handle, off uint64, n uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, requestMagic)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(cmd))
	b = binary.BigEndian.AppendUint64(b, handle)
	b = binary.BigEndian.AppendUint64(b, off)
	return binary.BigEndian.AppendUint32(b, n)
}

type treq struct {
	cmd Cmd
	off uint64
	n   uint32
}

// result is what a client saw for one request: the data as reassembled
// from the chunks (holes as zeroes) and the error.
type result struct {
	data  []byte
	errno Errno
}

// readReply reads one whole reply in structured mode and checks that its
// chunks are not interleaved with another reply's: from the first chunk
// to the one flagged done, every chunk has the same handle.
func (r *rawClient) readStructured(t *testing.T, reqs map[uint64]treq) (uint64, result) {
	t.Helper()
	var handle uint64
	var res result
	first := true
	for {
		var h [20]byte
		r.read(h[:4])
		if first && be.Uint32(h[:]) == simpleReplyMagic {
			// FLUSH and errors the reader found are simple
			// replies, allowed in structured mode too.
			r.read(h[4:16])
			handle = be.Uint64(h[8:])
			if _, ok := reqs[handle]; !ok {
				t.Fatalf("reply for unknown handle %d", handle)
			}
			return handle, result{errno: Errno(be.Uint32(h[4:]))}
		}
		r.read(h[4:])
		if be.Uint32(h[:]) != structReplyMagic {
			t.Fatalf("bad reply magic % x", h)
		}
		flags, typ, hd, n := be.Uint16(h[4:]), be.Uint16(h[6:]), be.Uint64(h[8:]), be.Uint32(h[16:])
		if first {
			handle = hd
			q, ok := reqs[hd]
			if !ok {
				t.Fatalf("reply for unknown handle %d", hd)
			}
			res.data = make([]byte, q.n)
			first = false
		} else if hd != handle {
			t.Fatalf("reply for handle %d interleaved into the reply for handle %d", hd, handle)
		}
		q := reqs[handle]
		p := make([]byte, n)
		r.read(p)
		switch typ {
		case replyTypeOffsetData:
			off := be.Uint64(p) - q.off
			copy(res.data[off:], p[8:])
		case replyTypeOffsetHole:
			// zeroes: res.data is zero already; check the bounds.
			off, l := be.Uint64(p)-q.off, be.Uint32(p[8:])
			if off+uint64(l) > uint64(q.n) {
				t.Fatalf("handle %d: hole %d+%d beyond the request", handle, off, l)
			}
		case replyTypeError:
			res.errno = Errno(be.Uint32(p))
		case replyTypeNone: // ends a reply whose data went by sendfile
			if n != 0 || flags&replyFlagDone == 0 {
				t.Fatalf("handle %d: NONE chunk of %d bytes, flags %#x", handle, n, flags)
			}
		default:
			t.Fatalf("handle %d: chunk type %d", handle, typ)
		}
		if flags&replyFlagDone != 0 {
			return handle, res
		}
	}
}

func (r *rawClient) readSimple(t *testing.T, reqs map[uint64]treq) (uint64, result) {
	t.Helper()
	var h [16]byte
	r.read(h[:])
	if be.Uint32(h[:]) != simpleReplyMagic {
		t.Fatalf("bad reply magic % x", h)
	}
	handle := be.Uint64(h[8:])
	q, ok := reqs[handle]
	if !ok {
		t.Fatalf("reply for unknown handle %d", handle)
	}
	res := result{errno: Errno(be.Uint32(h[4:]))}
	if res.errno == 0 && q.cmd == CmdRead {
		res.data = make([]byte, q.n)
		r.read(res.data)
	}
	return handle, res
}

// TestPipelinedReplies sends single requests (served inline by the
// reader) and bursts of many pipelined ones (served concurrently, out of
// order) of many sizes, over data, holes and a failing block, with a
// FLUSH and invalid requests among them, in structured and simple reply
// mode. Every request must get exactly one whole reply with the right
// bytes (holes as zeroes), a read that fails an EIO reply and no data, and
// the connection must go on after errors.
func TestPipelinedReplies(t *testing.T) {
	const size = 4 << 20
	const failAt = 1 << 20
	src := &slowSrc{holeSrc: holeSrc{size}, failAt: failAt}
	raw := make([]byte, size)
	src.holeSrc.ReadAt(raw, 0)
	holes := append([]byte{}, raw...)
	for off := 4096; off < size; off += 8192 {
		clear(holes[off : off+4096]) // hole chunks read as zeroes
	}
	for _, structured := range []bool{true, false} {
		t.Run(fmt.Sprintf("structured=%v", structured), func(t *testing.T) {
			// Simple replies carry the source's bytes, structured
			// ones send its holes as hole chunks.
			want := raw
			if structured {
				want = holes
			}
			var traced atomic.Int64
			s := &Server{Exports: []Export{{Source: src}}, OnRead: func(Read) { traced.Add(1) }}
			ep := serve(t, s, ListenConfig{Unix: "-"})
			r := transClient(t, ep, structured)
			rnd := rand.New(rand.NewPCG(1, 2))
			handle := uint64(100)
			total, reads := 0, int64(0)
			for burst := range 40 {
				// Odd bursts are a single request (the inline path);
				// even ones up to 64 pipelined requests.
				n := 1
				if burst%2 == 0 {
					n = 1 + rnd.IntN(64)
				}
				reqs := map[uint64]treq{}
				var out []byte
				for range n {
					var q treq
					switch k := rnd.IntN(20); {
					case k == 0:
						q = treq{CmdFlush, 0, 0}
					case k == 1:
						q = treq{CmdRead, size - 10, 20} // beyond the end: EINVAL
					case k == 2:
						q = treq{CmdRead, failAt - 100, 4096} // EIO
					default:
						l := uint32(1 + rnd.IntN(300<<10))
						q = treq{CmdRead, uint64(rnd.Int64N(size - int64(l))), l}
					}
					handle++
					reqs[handle] = q
					out = append(out, r.request(q.cmd, handle, q.off, q.n)...)
				}
				r.write(out)
				for range n {
					var h uint64
					var res result
					if structured {
						h, res = r.readStructured(t, reqs)
					} else {
						h, res = r.readSimple(t, reqs)
					}
					q := reqs[h]
					delete(reqs, h)
					total++
					var wantErr Errno
					switch {
					case q.cmd == CmdRead && q.off+uint64(q.n) > size:
						wantErr = EINVAL
					case q.cmd == CmdRead && q.off < failAt+4096 && q.off+uint64(q.n) > failAt:
						wantErr = EIO
					}
					if res.errno != wantErr {
						t.Fatalf("handle %d (%v at %d+%d): errno %v, want %v", h, q.cmd, q.off, q.n, res.errno, wantErr)
					}
					if q.cmd == CmdRead && wantErr != EINVAL {
						reads++
					}
					if q.cmd == CmdRead && wantErr == 0 {
						if w := want[q.off : q.off+uint64(q.n)]; string(res.data) != string(w) {
							t.Fatalf("handle %d: read at %d+%d: wrong data", h, q.off, q.n)
						}
					}
				}
				if len(reqs) != 0 {
					t.Fatalf("burst %d: %d requests without a reply", burst, len(reqs))
				}
			}
			if total < 400 {
				t.Fatalf("only %d requests exercised", total)
			}
			// Disconnect; once the connection has ended, the server
			// must have traced every valid READ, failed ones too
			// (OnRead runs once the reply is written).
			r.write(r.request(CmdDisc, 0, 0, 0))
			shutdown(t, s)
			if n := traced.Load(); n != reads {
				t.Fatalf("%d READs traced, %d valid READs made", n, reads)
			}
		})
	}
}

// TestBrokenConnectionReleases: a client that sends a burst of large
// reads and goes away without reading the replies. The writer fails, the
// queued replies are dropped (their buffers and budget released), and
// the connection must end, so that Shutdown returns.
func TestBrokenConnectionReleases(t *testing.T) {
	src := holeSrc{64 << 20}
	s := &Server{Exports: []Export{{Source: src}}}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	r := transClient(t, ep, true)
	var out []byte
	for i := range 200 {
		out = append(out, r.request(CmdRead, uint64(i), uint64(i)<<18, 1<<18)...)
	}
	r.write(out)
	r.c.Close()
	// Let the server find out by itself before Shutdown interrupts it.
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v: the connection did not end after its client went away", err)
	}
}
