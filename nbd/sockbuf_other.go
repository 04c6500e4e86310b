//go:build !linux

package nbd

import "net"

// growSendBuffer leaves the socket's buffers as they are elsewhere than on
// Linux (see sockbuf_linux.go).
func growSendBuffer(net.Conn) {}
