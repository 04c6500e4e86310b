package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// exercise is what the fuzz target asks of a client: a few reads (one
// unaligned, one past the end) and the map, one request at a time so that
// handles follow the recorded seeds.
func exercise(c *Client) {
	p := make([]byte, 4096)
	c.ReadAt(p[:100], 0)
	c.ReadAt(p, 1000)
	c.ReadAt(p, c.Size()-10)
	c.Extents(0, c.Size())
}

// recorder keeps what the server sent.
type recorder struct {
	net.Conn
	got bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got.Write(p[:n])
	return n, err
}

// recordSession runs exercise against a real nbdkit and returns the bytes
// the server sent.
func recordSession(f *testing.F, args ...string) []byte {
	sock := filepath.Join(f.TempDir(), "nbd.sock")
	start(f, sock, 0, "nbdkit", append([]string{"-r", "-f", "-U", sock}, args...)...)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		f.Fatal(err)
	}
	rec := &recorder{Conn: conn}
	c, err := newClient(context.Background(), rec, "seed", "", nil, Options{CacheSize: -1}, 10*time.Second)
	if err != nil {
		f.Fatal(err)
	}
	exercise(c)
	c.Close()
	return rec.got.Bytes()
}

// FuzzClient feeds the handshake and reply parsers a fuzzed server stream
// over net.Pipe. Seeds are sessions recorded from nbdkit (a small disk
// with data and a hole; the same through the blocksize-policy filter;
// oldstyle) and handmade ones. Only a panic or a hang fails.
func FuzzClient(f *testing.F) {
	if _, err := exec.LookPath("nbdkit"); err == nil {
		disk := filepath.Join(f.TempDir(), "disk.img")
		d := make([]byte, 16<<10)
		for i := range d[:8<<10] {
			d[i] = byte(i)
		}
		if err := writeFile(disk, d); err != nil {
			f.Fatal(err)
		}
		f.Add(recordSession(f, "file", disk))
		f.Add(recordSession(f, "--filter=blocksize-policy", "file", disk, "blocksize-minimum=512", "blocksize-maximum=4096"))
		f.Add(recordSession(f, "--oldstyle", "file", disk))
	}
	// Handmade: an oldstyle greeting with a 1 KiB export and a simple reply.
	var b []byte
	b = binary.BigEndian.AppendUint64(b, nbdMagic)
	b = binary.BigEndian.AppendUint64(b, oldstyleMagic)
	b = binary.BigEndian.AppendUint64(b, 1024)
	b = append(b, make([]byte, 4+124)...)
	b = binary.BigEndian.AppendUint32(b, simpleReplyMagic)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = append(b, make([]byte, 100)...)
	f.Add(b)

	f.Fuzz(func(t *testing.T, stream []byte) {
		cli, srv := net.Pipe()
		done := make(chan struct{}, 2)
		go func() { io.Copy(io.Discard, srv); done <- struct{}{} }()
		go func() { srv.Write(stream); srv.Close(); done <- struct{}{} }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := newClient(ctx, cli, "fuzz", "", nil, Options{CacheSize: -1, Timeout: time.Second}, time.Second)
		cancel()
		if err == nil {
			exercise(c)
			c.Close()
		}
		cli.Close()
		srv.Close()
		<-done
		<-done
	})
}
