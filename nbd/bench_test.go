package nbd

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
)

// benchClient is a minimal client: NBD_OPT_EXPORT_NAME, simple replies.
type benchClient struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	r  [28]byte // request and reply headers, reused so that allocs/op
	h  [16]byte // counts the server's allocations only
}

func dialBench(b *testing.B, ep *Endpoint) *benchClient {
	c, err := net.Dial("unix", ep.UnixSocket)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	k := &benchClient{c: c, br: bufio.NewReaderSize(c, 1<<20), bw: bufio.NewWriter(c)}
	var g [18]byte
	if _, err := io.ReadFull(k.br, g[:]); err != nil {
		b.Fatal(err)
	}
	k.bw.Write([]byte{0, 0, 0, 3})
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
	h := k.h[:]
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
			buf := make([]byte, tc.size)
			b.SetBytes(int64(tc.size) * int64(tc.qd))
			n := uint64(len(src)) / uint64(tc.size)
			i := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				for range tc.qd {
					k.send(i%n*uint64(tc.size), tc.size)
					i += 7
				}
				k.bw.Flush()
				for range tc.qd {
					k.recv(b, buf)
				}
			}
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
