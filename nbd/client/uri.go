package client

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is the NBD TCP port (IANA), used when a URI names none.
const DefaultPort = 10809

// maxExportName is the protocol's limit on a string (export name).
const maxExportName = 4096

// Target is where an NBD export is: parsed from a URI by ParseURI.
type Target struct {
	// Network is "unix" (Addr is the socket path) or "tcp" (Addr is
	// host:port).
	Network, Addr string
	// Host is the TCP host name, checked against the server's certificate
	// ("" for a Unix socket: only the certificate chain is checked).
	Host string
	// Export is the export name ("" is the server's default export).
	Export string
	// TLS: nbds://, nbds+unix:// (TLS required).
	TLS bool
	// TLSCertificates is the certificates directory from the URI's
	// tls-certificates parameter ("" for the defaults, see LoadTLS).
	TLSCertificates string
	// NoVerifyPeer: tls-verify-peer=false (the server's certificate is
	// not checked).
	NoVerifyPeer bool
}

// IsURI reports whether name is written as an NBD URI (nbd:, nbds:,
// nbd+unix:, nbds+unix:) rather than as a file name. A file whose name
// begins so is named ./nbd:...
func IsURI(name string) bool {
	for _, p := range []string{"nbd:", "nbds:", "nbd+unix:", "nbds+unix:"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ParseURI parses the NBD URIs libnbd (nbd_connect_uri), qemu and
// libguestfs write:
//
//	nbd://HOST[:PORT][/EXPORT]       nbds://... (TLS)
//	nbd+unix:///EXPORT?socket=PATH   nbds+unix://... (TLS)
//	nbd://?socket=PATH               (libguestfs: a Unix socket)
//	nbd:unix:PATH[:exportname=X]     nbd:HOST:PORT[:exportname=X]  (qemu's legacy syntax)
//
// The export name is the URI's path without its leading slash,
// %-unescaped. Query parameters: socket, tls-certificates (a directory),
// tls-verify-peer (false to not check the server). Other parameters libnbd
// knows (tls-psk-file, tls-username) are refused as unsupported; unknown
// ones are ignored, as libnbd ignores them.
func ParseURI(s string) (Target, error) {
	if strings.HasPrefix(s, "nbd:") && !strings.HasPrefix(s, "nbd://") {
		return parseQemu(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("nbd: URI %q: %w", s, err)
	}
	var t Target
	switch u.Scheme {
	case "nbd", "nbd+unix":
	case "nbds", "nbds+unix":
		t.TLS = true
	case "nbd+vsock", "nbds+vsock":
		return Target{}, fmt.Errorf("nbd: URI %q: vsock is not supported", s)
	default:
		return Target{}, fmt.Errorf("nbd: URI %q: scheme %q is not nbd, nbds, nbd+unix or nbds+unix", s, u.Scheme)
	}
	if u.Opaque != "" {
		return Target{}, fmt.Errorf("nbd: URI %q: want %s://", s, u.Scheme)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("nbd: URI %q: user names are not supported", s)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Target{}, fmt.Errorf("nbd: URI %q: query: %w", s, err)
	}
	for _, k := range []string{"tls-psk-file", "tls-username"} {
		if q.Has(k) {
			return Target{}, fmt.Errorf("nbd: URI %q: %s is not supported (X.509 certificates only)", s, k)
		}
	}
	t.TLSCertificates = q.Get("tls-certificates")
	if v := q.Get("tls-verify-peer"); v != "" {
		b, err := parseBool(v)
		if err != nil {
			return Target{}, fmt.Errorf("nbd: URI %q: tls-verify-peer=%q: %w", s, v, err)
		}
		t.NoVerifyPeer = !b
	}
	t.Export = strings.TrimPrefix(u.Path, "/")
	if len(t.Export) > maxExportName {
		return Target{}, fmt.Errorf("nbd: URI %q: export name longer than %d bytes", s, maxExportName)
	}
	sock := q.Get("socket")
	unix := strings.HasSuffix(u.Scheme, "+unix")
	switch {
	case unix && u.Host != "":
		return Target{}, fmt.Errorf("nbd: URI %q: %s:// takes no host (want %s:///EXPORT?socket=PATH)", s, u.Scheme, u.Scheme)
	case unix && sock == "":
		return Target{}, fmt.Errorf("nbd: URI %q: no socket= parameter", s)
	case !unix && sock != "" && u.Host != "":
		return Target{}, fmt.Errorf("nbd: URI %q: both a host and a socket", s)
	}
	if sock != "" {
		// libguestfs writes nbd://?socket=PATH for a Unix socket.
		t.Network, t.Addr = "unix", sock
		return t, nil
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Target{}, fmt.Errorf("nbd: URI %q: bad port %q", s, port)
	}
	t.Network, t.Addr, t.Host = "tcp", net.JoinHostPort(host, port), host
	return t, nil
}

// parseQemu parses qemu's legacy syntax: nbd:unix:PATH[:exportname=X] and
// nbd:HOST:PORT[:exportname=X] (HOST may be [IPv6]).
func parseQemu(s string) (Target, error) {
	rest := strings.TrimPrefix(s, "nbd:")
	var t Target
	if i := strings.Index(rest, ":exportname="); i >= 0 {
		t.Export = rest[i+len(":exportname="):]
		rest = rest[:i]
		if len(t.Export) > maxExportName {
			return Target{}, fmt.Errorf("nbd: %q: export name longer than %d bytes", s, maxExportName)
		}
	}
	if path, ok := strings.CutPrefix(rest, "unix:"); ok {
		if path == "" {
			return Target{}, fmt.Errorf("nbd: %q: empty socket path", s)
		}
		t.Network, t.Addr = "unix", path
		return t, nil
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return Target{}, fmt.Errorf("nbd: %q: want nbd:unix:PATH or nbd:HOST:PORT: %w", s, err)
	}
	if host == "" {
		host = "localhost"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Target{}, fmt.Errorf("nbd: %q: bad port %q", s, port)
	}
	t.Network, t.Addr, t.Host = "tcp", net.JoinHostPort(host, port), host
	return t, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean")
}
