package nbd

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultPort is the NBD port (IANA), used by Listen for TCP when neither a
// Unix socket nor a port is given.
const DefaultPort = 10809

// ListenConfig says where to listen: a Unix socket if Unix is set (a path,
// or "-" for a socket in a private temporary directory of mode 0700 that
// the cleanup function removes), TCP otherwise.
type ListenConfig struct {
	Unix string
	Port int    // TCP port: 0 means DefaultPort, -1 any free port
	Addr string // TCP address to bind; "" means localhost
}

// Endpoint describes where clients connect: the NBD URI (nbd+unix:///NAME?socket=PATH,
// nbd://HOST:PORT/NAME, or nbds... when TLS is required), the socket path or
// the port, the export name and whether TLS is required. Listen fills it for
// the default export without TLS; SetExport changes both and the URI.
type Endpoint struct {
	URI, UnixSocket, Port, ExportName string
	TLS                               bool
	// Mode is the server's TLS mode ($tls in captive mode: 0, 1, 2).
	Mode TLSMode
	host string
}

// SetExport sets the export name and TLS mode clients use and recomputes URI.
func (e *Endpoint) SetExport(name string, mode TLSMode) {
	e.ExportName, e.Mode, e.TLS = name, mode, mode == TLSRequire
	e.URI = e.uri()
}

func (e *Endpoint) uri() string {
	scheme := "nbd"
	if e.TLS {
		scheme = "nbds"
	}
	path := "/" + (&url.URL{Path: e.ExportName}).EscapedPath()
	if e.UnixSocket != "" {
		q := url.Values{"socket": {e.UnixSocket}}
		return scheme + "+unix://" + path + "?" + q.Encode()
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(e.host, e.Port), Path: "/" + e.ExportName}
	return u.String()
}

// Listen opens the listener described by cfg and returns it with its
// Endpoint and a cleanup function to call after the server stops (it
// removes the private directory of Unix "-"; it is never nil).
func Listen(cfg ListenConfig) (net.Listener, *Endpoint, func() error, error) {
	nop := func() error { return nil }
	if cfg.Unix != "" {
		path, cleanup := cfg.Unix, nop
		if cfg.Unix == "-" {
			dir, err := os.MkdirTemp("", "nbd") // mode 0700
			if err != nil {
				return nil, nil, nop, fmt.Errorf("nbd: listen: %w", err)
			}
			path = filepath.Join(dir, "nbd.sock")
			cleanup = func() error { return os.RemoveAll(dir) }
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			cleanup()
			return nil, nil, nop, fmt.Errorf("nbd: listen: %w", err)
		}
		ep := &Endpoint{UnixSocket: path}
		ep.SetExport("", TLSOff)
		return l, ep, cleanup, nil
	}
	host := cfg.Addr
	if host == "" {
		host = "localhost"
	}
	port := cfg.Port
	switch {
	case port == 0:
		port = DefaultPort
	case port < 0:
		port = 0
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, nop, fmt.Errorf("nbd: listen: %w", err)
	}
	ep := &Endpoint{Port: strconv.Itoa(l.Addr().(*net.TCPAddr).Port), host: host}
	ep.SetExport("", TLSOff)
	return l, ep, nop, nil
}
