package nbd

import (
	"net"

	"golang.org/x/sys/unix"
)

// unixSendBuffer is the send buffer asked for a Unix-domain connection.
//
// A Unix stream socket's send buffer (net.core.wmem_default, 208 KiB on
// most systems) bounds everything the server has written and the client
// has not yet read: with it, a 256 KiB READ reply does not fit, and the
// server's writer sleeps and wakes several times per reply while the client
// drains it. With 1 MiB (four such replies) the writer hands over whole
// replies and the client reads more per call: bench/nbd.sh measured a
// 1-connection nbdcopy at about 1.8x the rate with the default. TCP
// sockets are left alone: the kernel sizes their buffers itself, and
// setting SO_SNDBUF would switch that off.
const unixSendBuffer = 1 << 20

// growSendBuffer raises nc's send buffer to unixSendBuffer if nc is a Unix
// socket: with SO_SNDBUFFORCE when the process may (CAP_NET_ADMIN), which
// passes net.core.wmem_max, or else with SO_SNDBUF, which the kernel caps
// at it. Failure only leaves the default, so it is not reported.
func growSendBuffer(nc net.Conn) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, unixSendBuffer) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, unixSendBuffer)
		}
	})
}
