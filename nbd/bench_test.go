package nbd

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// benchClient is a minimal client: NBD_OPT_EXPORT_NAME, simple replies
// or (structured) structured ones.
type benchClient struct {
	c          net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	structured bool
	r          [28]byte // request and reply headers, reused so that allocs/op
	h          [20]byte // counts the server's allocations only
}

// readLoop is a read benchmark's loop: qd READs of size bytes sent
// together, at offsets spread over a source of total bytes, then their
// replies read.
func (k *benchClient) readLoop(b *testing.B, size uint32, qd int, total int64) {
	buf := make([]byte, size)
	b.SetBytes(int64(size) * int64(qd))
	n := uint64(total) / uint64(size)
	i := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		for range qd {
			k.send(i%n*uint64(size), size)
			i += 7
		}
		k.bw.Flush()
		for range qd {
			k.recv(b, buf)
		}
	}
}

func dialBench(b *testing.B, ep *Endpoint) *benchClient { return dialBenchMode(b, ep, false) }

func dialBenchMode(b *testing.B, ep *Endpoint, structured bool) *benchClient {
	c, err := net.Dial("unix", ep.UnixSocket)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	k := &benchClient{c: c, br: bufio.NewReaderSize(c, 1<<20), bw: bufio.NewWriter(c), structured: structured}
	var g [20]byte
	if _, err := io.ReadFull(k.br, g[:18]); err != nil {
		b.Fatal(err)
	}
	k.bw.Write([]byte{0, 0, 0, 3})
	if structured {
		k.bw.Write(opt(OptStructuredReply, nil))
		k.bw.Flush()
		if _, err := io.ReadFull(k.br, g[:]); err != nil || Rep(be.Uint32(g[12:])) != RepAck {
			b.Fatalf("structured replies: % x %v", g, err)
		}
	}
	k.bw.Write(opt(OptExportName, nil))
	k.bw.Flush()
	if _, err := io.ReadFull(k.br, g[:10]); err != nil {
		b.Fatal(err)
	}
	return k
}

func (k *benchClient) send(off uint64, n uint32) {
	r := k.r[:]
	binary.BigEndian.PutUint32(r[0:], requestMagic)
	binary.BigEndian.PutUint64(r[16:], off)
	binary.BigEndian.PutUint32(r[24:], n)
	k.bw.Write(r)
}

func (k *benchClient) recv(b *testing.B, buf []byte) {
	if k.structured {
		k.recvStructured(b, buf)
		return
	}
	h := k.h[:16]
	if _, err := io.ReadFull(k.br, h); err != nil {
		b.Fatal(err)
	}
	if be.Uint32(h[4:]) != 0 {
		b.Fatalf("error %d", be.Uint32(h[4:]))
	}
	if _, err := io.ReadFull(k.br, buf); err != nil {
		b.Fatal(err)
	}
}

// recvStructured reads the chunks of one reply into buf: data chunks
// (holes are left as they are), up to the final chunk.
func (k *benchClient) recvStructured(b *testing.B, buf []byte) {
	h := k.h[:]
	for {
		if _, err := io.ReadFull(k.br, h); err != nil {
			b.Fatal(err)
		}
		flags, typ, n := be.Uint16(h[4:]), be.Uint16(h[6:]), int(be.Uint32(h[16:]))
		switch typ {
		case replyTypeOffsetData:
			if _, err := io.ReadFull(k.br, h[:8]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(k.br, buf[:n-8]); err != nil {
				b.Fatal(err)
			}
		case replyTypeNone, replyTypeOffsetHole:
			if _, err := k.br.Discard(n); err != nil {
				b.Fatal(err)
			}
		default:
			b.Fatalf("chunk type %d", typ)
		}
		if flags&replyFlagDone != 0 {
			return
		}
	}
}

// plainFile hides File's SourceFile: the server reads it as any Source.
type plainFile struct{ *File }

func (p plainFile) SourceFile() *os.File { return nil }

// BenchmarkReadFile measures the FileBacked path: a File (64 MiB of data
// in the page cache) read through a real Unix socket with structured
// replies, 4 KiB (preadv2 from the reader) and 256 KiB (sendfile), one
// at a time and 16 in flight; Traced has an OnRead hook (sendfile all the same),
// NotFileBacked serves the same File as any other Source (ReadAt in a
// goroutine per request, or inline when nothing else is in flight).
func BenchmarkReadFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.img")
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>12 + 1)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		size          uint32
		qd            int
		traced, plain bool
	}{
		{4096, 1, false, false}, {4096, 1, false, true},
		{4096, 16, false, false}, {4096, 16, false, true},
		{256 << 10, 1, false, false}, {256 << 10, 1, false, true},
		{256 << 10, 16, false, false}, {256 << 10, 16, false, true}, {256 << 10, 16, true, false},
	} {
		name := fmt.Sprintf("%dK/QD%d", tc.size>>10, tc.qd)
		if tc.traced {
			name += "/Traced"
		}
		var src Source = f
		if tc.plain {
			name += "/NotFileBacked"
			src = plainFile{f}
		}
		b.Run(name, func(b *testing.B) {
			s := &Server{Exports: []Export{{Source: src}}}
			if tc.traced {
				s.OnRead = func(Read) {}
			}
			ep := serve(b, s, ListenConfig{Unix: "-"})
			k := dialBenchMode(b, ep, true)
			k.readLoop(b, tc.size, tc.qd, int64(len(data)))
		})
	}
}

// BenchmarkRead measures the server's per-request cost and throughput
// through a real Unix socket, from an in-memory source: 4 KiB and 256 KiB
// reads, one at a time (QD 1) and 16 in flight.
func BenchmarkRead(b *testing.B) {
	src := make(memSrc, 64<<20)
	for _, tc := range []struct {
		size uint32
		qd   int
		hook bool
	}{{4096, 1, false}, {4096, 16, false}, {4096, 1, true}, {256 << 10, 1, false}, {256 << 10, 16, false}} {
		name := fmt.Sprintf("%dK/QD%d", tc.size>>10, tc.qd)
		if tc.hook {
			name += "/OnRead"
		}
		b.Run(name, func(b *testing.B) {
			s := &Server{Exports: []Export{{Source: src}}}
			if tc.hook {
				s.OnRead = func(Read) {}
			}
			ep := serve(b, s, ListenConfig{Unix: "-"})
			k := dialBench(b, ep)
			k.readLoop(b, tc.size, tc.qd, int64(len(src)))
		})
	}
}

// memSrc is an in-memory Source.
type memSrc []byte

func (m memSrc) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m memSrc) Size() int64 { return int64(len(m)) }
