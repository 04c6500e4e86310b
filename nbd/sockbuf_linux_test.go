package nbd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGrowSendBuffer checks that a Unix connection's send buffer is raised
// to unixSendBuffer (the kernel reports twice what was set), or to
// net.core.wmem_max when the process may not pass it, and that a TCP
// connection's is left to the kernel.
func TestGrowSendBuffer(t *testing.T) {
	sndbuf := func(t *testing.T, c net.Conn) int {
		t.Helper()
		rc, err := c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		return v
	}
	pair := func(t *testing.T, network, addr string) net.Conn {
		t.Helper()
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		client, err := net.Dial(network, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		server, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { server.Close() })
		return server
	}

	t.Run("unix", func(t *testing.T) {
		s := pair(t, "unix", filepath.Join(t.TempDir(), "s"))
		before := sndbuf(t, s)
		growSendBuffer(s)
		after := sndbuf(t, s)
		want := 2 * unixSendBuffer
		// Without CAP_NET_ADMIN the kernel caps SO_SNDBUF at wmem_max.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		forced := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, unixSendBuffer) == nil
		unix.Close(fds[0])
		unix.Close(fds[1])
		if !forced {
			b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
			if err != nil {
				t.Skipf("no SO_SNDBUFFORCE and no wmem_max: %v", err)
			}
			m, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			want = max(min(want, 2*m), before)
		}
		if after < want {
			t.Errorf("send buffer %d after growSendBuffer (before %d), want >= %d (SO_SNDBUFFORCE allowed: %v)", after, before, want, forced)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		s := pair(t, "tcp", "127.0.0.1:0")
		before := sndbuf(t, s)
		growSendBuffer(s)
		if after := sndbuf(t, s); after != before {
			t.Errorf("TCP send buffer changed from %d to %d: the kernel's autotuning would be off", before, after)
		}
	})
}
