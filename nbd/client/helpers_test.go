package client

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The tests run real servers (nbdkit, qemu-nbd, our package nbd) in the
// background on a Unix socket in t.TempDir() or on a free TCP port, and
// compare what the client reads with the file's bytes and what it maps
// with nbdinfo --map and qemu-img map.

// diskSize is the test disk: small, with data, holes and a pattern that
// differs at every offset.
const diskSize = 4 << 20

// layout is the disk's data runs (the rest are holes), 64 KiB aligned so
// that every filesystem reports the same holes.
var layout = []struct{ off, len int64 }{
	{0, 256 << 10},
	{1 << 20, 64 << 10},
	{2<<20 + 128<<10, 512 << 10},
	{diskSize - 64<<10, 64 << 10},
}

// makeDisk writes the sparse test disk and returns its path and bytes.
func makeDisk(t testing.TB) (string, []byte) {
	t.Helper()
	want := make([]byte, diskSize)
	for _, r := range layout {
		for i := r.off; i < r.off+r.len; i++ {
			want[i] = byte(i*7+i>>12) | 1
		}
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(diskSize); err != nil {
		t.Fatal(err)
	}
	for _, r := range layout {
		if _, err := f.WriteAt(want[r.off:r.off+r.len], r.off); err != nil {
			t.Fatal(err)
		}
	}
	return path, want
}

// server is a background NBD server process.
type server struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	sock string // Unix socket, or
	port int    // TCP port
}

// socketPath is a Unix socket path in a new temporary directory (short
// enough for sun_path).
func socketPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "nbd.sock")
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs name args in the background until the end of the test and
// waits for sock (or port) to accept connections.
func start(t testing.TB, sock string, port int, name string, args ...string) *server {
	t.Helper()
	testutil.NeedTools(t, name)
	s := &server{cmd: exec.Command(name, args...), out: &bytes.Buffer{}, sock: sock, port: port}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGCONT)
		s.cmd.Process.Kill()
		<-exited
	})
	network, addr := "unix", sock
	if sock == "" {
		network, addr = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", name, s.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s listener at %s: %v\n%s", name, network, addr, err, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nbdkit starts nbdkit read-only on a new Unix socket with args (plugin,
// filters, parameters) and returns the URI of its default export.
func nbdkit(t testing.TB, args ...string) (string, *server) {
	t.Helper()
	sock := socketPath(t)
	s := start(t, sock, 0, "nbdkit", append([]string{"-r", "-f", "-U", sock}, args...)...)
	return "nbd+unix:///?socket=" + sock, s
}

func (s *server) kill(sig syscall.Signal) { s.cmd.Process.Signal(sig) }

func dial(t testing.TB, uri string, opt Options) *Client {
	t.Helper()
	c, err := Dial(uri, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkRead reads the whole export in reads of several sizes and offsets,
// several at once, and compares them with want.
func checkRead(t testing.TB, c *Client, want []byte) {
	t.Helper()
	if c.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", c.Size(), len(want))
	}
	for _, step := range []int{512, 4096 + 17, 64 << 10, 1 << 20, len(want)} {
		errs := make(chan error, 64)
		n := 0
		// Small reads sample the disk (every 13th); large ones cover it.
		stride := step
		if step < 64<<10 {
			stride = step * 13
		}
		for off := 0; off < len(want); off += stride * 8 {
			n++
			go func(off int) {
				for o := off; o < min(off+stride*8, len(want)); o += stride {
					p := make([]byte, step)
					k, err := c.ReadAt(p, int64(o))
					end := min(o+step, len(want))
					if k != end-o || (err != nil && !(err.Error() == "EOF" && end == len(want))) {
						errs <- fmt.Errorf("ReadAt(%d bytes at %d) = %d, %v", step, o, k, err)
						return
					}
					if !bytes.Equal(p[:k], want[o:end]) {
						errs <- fmt.Errorf("ReadAt(%d bytes at %d): bytes differ", step, o)
						return
					}
				}
				errs <- nil
			}(off)
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
