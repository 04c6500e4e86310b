package nbd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// holeSrc is a small in-memory Source whose every other 4 KiB block is a hole.
type holeSrc struct{ n int64 }

func (h holeSrc) Size() int64 { return h.n }
func (h holeSrc) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = byte(off + int64(i))
	}
	if off+int64(len(p)) > h.n {
		return int(max(h.n-off, 0)), io.EOF
	}
	return len(p), nil
}
func (h holeSrc) Extents(off, n int64) ([]Extent, error) {
	var out []Extent
	for pos := off; pos < off+n && pos < h.n; {
		next := min((pos/4096+1)*4096, off+n, h.n)
		hole := pos/4096%2 == 1
		out = append(out, Extent{Off: pos, Len: next - pos, Hole: hole, Zero: hole})
		pos = next
	}
	return out, nil
}

func fuzzServer() *Server {
	return &Server{Exports: []Export{
		{Name: "a", Description: "d", Source: holeSrc{1 << 20}},
		{Name: "b", Source: holeSrc{100000}, MinBlockSize: 512},
	}}
}

// runPipe feeds input to ServeConn over net.Pipe, then closes the client
// side (net.Pipe's Write returns once the server has read everything). It
// fails the test if the server does not finish.
func runPipe(t *testing.T, s *Server, input []byte) {
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() { s.ServeConn(srv); close(done) }()
	go io.Copy(io.Discard, cli)
	cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
	cli.Write(input)
	cli.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server hung")
	}
}

// bufConn is a net.Conn reading a fixed input, then EOF, and recording
// what the server writes, so the whole reply stream can be checked.
type bufConn struct {
	r   *bytes.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return &net.UnixAddr{Net: "unix"} }
func (c *bufConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Net: "unix"} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

func opt(o Option, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, optMagic)
	b = binary.BigEndian.AppendUint32(b, uint32(o))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func nameData(name string, extra ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	return append(append(b, name...), extra...)
}

func metaData(name string, queries ...string) []byte {
	b := nameData(name)
	b = binary.BigEndian.AppendUint32(b, uint32(len(queries)))
	for _, q := range queries {
		b = append(b, nameData(q)...)
	}
	return b
}

var clientFlags = []byte{0, 0, 0, 3}

// negotiated is a handshake that reaches transmission with structured
// replies and base:allocation on export "a".
func negotiated() []byte {
	b := append([]byte{}, clientFlags...)
	b = append(b, opt(OptStructuredReply, nil)...)
	b = append(b, opt(OptSetMetaContext, metaData("a", "base:allocation"))...)
	return append(b, opt(OptGo, nameData("a", 0, 1, 0, 3))...)
}

func req(cmd Cmd, flags uint16, off uint64, n uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, requestMagic)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(cmd))
	b = binary.BigEndian.AppendUint64(b, 7)
	b = binary.BigEndian.AppendUint64(b, off)
	return binary.BigEndian.AppendUint32(b, n)
}

func FuzzHandshake(f *testing.F) {
	f.Add(append(append([]byte{}, clientFlags...), opt(OptList, nil)...))
	f.Add(negotiated())
	f.Add(append(append([]byte{}, clientFlags...), opt(OptExportName, []byte("b"))...))
	f.Add(append(append([]byte{}, clientFlags...), opt(OptListMetaContext, metaData("", "base:"))...))
	f.Add(append(append([]byte{}, clientFlags...), opt(OptInfo, nameData("b", 0, 2, 0, 1, 0, 2))...))
	f.Add(append(append([]byte{}, clientFlags...), opt(OptStartTLS, nil)...))
	f.Add(append(append([]byte{}, clientFlags...), opt(Option(1234), []byte("zz"))...))
	f.Add([]byte{0, 0, 0, 0})
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, in []byte) {
		runPipe(t, s, in)
	})
}

// FuzzRequest feeds request sequences after a good handshake and checks
// that the reply stream stays well-formed: structured replies are
// self-delimiting, so every reply must parse.
func FuzzRequest(f *testing.F) { fuzzRequest(f, fuzzServer()) }

// FuzzRequestFile is FuzzRequest with export "a" a File (FileBacked: READs
// served by the reader with preadv2, replies held back while requests are
// buffered) of 1 MiB, every other 64 KiB a hole, and an OnRead hook.
func FuzzRequestFile(f *testing.F) {
	path := filepath.Join(f.TempDir(), "fuzz.img")
	w, err := os.Create(path)
	if err != nil {
		f.Fatal(err)
	}
	w.Truncate(1 << 20)
	for off := int64(0); off < 1<<20; off += 128 << 10 {
		w.WriteAt(bytes.Repeat([]byte{byte(off >> 16)}, 64<<10), off)
	}
	w.Close()
	file, err := OpenFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { file.Close() })
	s := fuzzServer()
	s.Exports[0].Source = file
	// Traced: every READ and CACHE reported must be one the server
	// accepted, inside the export.
	s.OnRead = func(r Read) {
		if r.Export != "a" || r.Len == 0 || r.Off < 0 || r.Off+int64(r.Len) > 1<<20 || r.Start.IsZero() {
			panic(fmt.Sprintf("OnRead given %+v", r))
		}
	}
	fuzzRequest(f, s)
}

func fuzzRequest(f *testing.F, s *Server) {
	f.Add(req(CmdRead, 0, 0, 4096*3))
	f.Add(req(CmdRead, cmdFlagDF, 100, 10000))
	f.Add(append(req(CmdBlockStatus, 0, 0, 1<<20), req(CmdBlockStatus, cmdFlagReqOne, 5000, 10)...))
	f.Add(append(req(CmdWrite, 0, 0, 5), "hello"...))
	f.Add(append(req(CmdCache, 0, 0, 1<<20), req(CmdFlush, 0, 0, 0)...))
	f.Add(append(req(CmdRead, 0, 1<<20-1, 2), req(CmdTrim, 0, 0, 1)...))
	f.Add(req(CmdRead, 0, 0, 64<<20))
	f.Add(req(Cmd(99), 0xffff, 1<<63, 1<<31))
	f.Add(req(CmdDisc, 0, 0, 0))
	f.Add(append(append(req(CmdRead, 0, 60<<10, 8<<10), req(CmdRead, 0, 0, 256<<10)...), req(CmdBlockStatus, 0, 0, 1<<20)...))
	prefix := negotiated()
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &bufConn{r: bytes.NewReader(append(append([]byte{}, prefix...), in...))}
		s.ServeConn(c)
		out := c.out.Bytes()
		// Skip the handshake: greeting (18) and the GO replies up to ACK.
		p := out[min(18, len(out)):]
		for len(p) >= 20 && be.Uint64(p) == optReplyMagic {
			n := 20 + int(be.Uint32(p[16:]))
			if n > len(p) {
				t.Fatalf("truncated option reply")
			}
			p = p[n:]
		}
		for len(p) > 0 {
			switch {
			case len(p) >= 16 && be.Uint32(p) == simpleReplyMagic:
				p = p[16:] // no payload: READs get structured replies
			case len(p) >= 20 && be.Uint32(p) == structReplyMagic:
				n := 20 + int(be.Uint32(p[16:]))
				if n > len(p) {
					t.Fatalf("truncated chunk")
				}
				p = p[n:]
			default:
				t.Fatalf("bad reply magic % x", p[:min(len(p), 20)])
			}
		}
	})
}
