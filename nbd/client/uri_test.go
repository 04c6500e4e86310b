package client

import (
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want Target
		err  string
	}{
		// libnbd
		{"nbd://example.com", Target{Network: "tcp", Addr: "example.com:10809", Host: "example.com"}, ""},
		{"nbd://example.com:1234/disk", Target{Network: "tcp", Addr: "example.com:1234", Host: "example.com", Export: "disk"}, ""},
		{"nbd://example.com/", Target{Network: "tcp", Addr: "example.com:10809", Host: "example.com"}, ""},
		{"nbd://example.com//abs/name", Target{Network: "tcp", Addr: "example.com:10809", Host: "example.com", Export: "/abs/name"}, ""},
		{"nbd://[::1]:10810/a%20b", Target{Network: "tcp", Addr: "[::1]:10810", Host: "::1", Export: "a b"}, ""},
		{"nbd://", Target{Network: "tcp", Addr: "localhost:10809", Host: "localhost"}, ""},
		{"nbds://example.com/disk?tls-certificates=/etc/pki/x", Target{Network: "tcp", Addr: "example.com:10809", Host: "example.com", Export: "disk", TLS: true, TLSCertificates: "/etc/pki/x"}, ""},
		{"nbds://h/d?tls-verify-peer=false", Target{Network: "tcp", Addr: "h:10809", Host: "h", Export: "d", TLS: true, NoVerifyPeer: true}, ""},
		{"nbd+unix:///disk?socket=/tmp/s.sock", Target{Network: "unix", Addr: "/tmp/s.sock", Export: "disk"}, ""},
		{"nbd+unix://?socket=%2Ftmp%2Fs", Target{Network: "unix", Addr: "/tmp/s"}, ""},
		{"nbds+unix:///?socket=/s&tls-certificates=/c", Target{Network: "unix", Addr: "/s", TLS: true, TLSCertificates: "/c"}, ""},
		// libguestfs
		{"nbd://?socket=/tmp/nbdkitX/socket", Target{Network: "unix", Addr: "/tmp/nbdkitX/socket"}, ""},
		{"nbd://localhost:10809", Target{Network: "tcp", Addr: "localhost:10809", Host: "localhost"}, ""},
		// qemu
		{"nbd:unix:/tmp/s.sock", Target{Network: "unix", Addr: "/tmp/s.sock"}, ""},
		{"nbd:unix:/tmp/s.sock:exportname=disk", Target{Network: "unix", Addr: "/tmp/s.sock", Export: "disk"}, ""},
		{"nbd:example.com:10810", Target{Network: "tcp", Addr: "example.com:10810", Host: "example.com"}, ""},
		{"nbd:example.com:10810:exportname=a:b", Target{Network: "tcp", Addr: "example.com:10810", Host: "example.com", Export: "a:b"}, ""},
		{"nbd:[::1]:10809", Target{Network: "tcp", Addr: "[::1]:10809", Host: "::1"}, ""},
		// errors
		{"http://example.com/", Target{}, "scheme"},
		{"nbd+unix:///disk", Target{}, "no socket"},
		{"nbd+unix://host/disk?socket=/s", Target{}, "takes no host"},
		{"nbd://host/x?socket=/s", Target{}, "both a host and a socket"},
		{"nbd://host:99999/", Target{}, "bad port"},
		{"nbd://host:port/", Target{}, "URI"},
		{"nbd+vsock://1", Target{}, "vsock"},
		{"nbds://h/?tls-psk-file=/k", Target{}, "not supported"},
		{"nbds://h/?tls-verify-peer=maybe", Target{}, "tls-verify-peer"},
		{"nbd://user@h/", Target{}, "user"},
		{"nbd:unix:", Target{}, "empty socket"},
		{"nbd:example.com", Target{}, "nbd:HOST:PORT"},
		{"nbd:h:port", Target{}, "bad port"},
		{"nbd://h/" + strings.Repeat("x", 4097), Target{}, "longer than"},
	} {
		got, err := ParseURI(tc.uri)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURI(%q) = %+v, %v; want error %q", tc.uri, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURI(%q) = %+v, %v\n want %+v", tc.uri, got, err, tc.want)
		}
		if !IsURI(tc.uri) {
			t.Errorf("IsURI(%q) = false", tc.uri)
		}
	}
	for _, name := range []string{"disk.img", "./nbd:x", "/tmp/nbd://x", "nbdisk.img"} {
		if IsURI(name) {
			t.Errorf("IsURI(%q) = true", name)
		}
	}
}
