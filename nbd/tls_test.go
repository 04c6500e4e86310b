package nbd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeCerts makes a CA, a server certificate for localhost and a client
// certificate with certtool, laid out as nbdkit and libnbd expect:
// server/{ca-cert,server-cert,server-key}.pem, client/{ca-cert,client-cert,client-key}.pem,
// and nocert/ca-cert.pem for a client without a certificate.
func makeCerts(t *testing.T) (server, client, nocert string) {
	return makeCertsKey(t, "ecdsa")
}

// makeCertsKey is makeCerts with keys of keyType (certtool --key-type:
// ecdsa, rsa).
func makeCertsKey(t *testing.T, keyType string) (server, client, nocert string) {
	need(t, "certtool")
	dir := t.TempDir()
	server, client, nocert = filepath.Join(dir, "server"), filepath.Join(dir, "client"), filepath.Join(dir, "nocert")
	for _, d := range []string{server, client, nocert} {
		os.Mkdir(d, 0o700)
	}
	templates := map[string]string{
		"ca.info":     "cn = test CA\nca\ncert_signing_key\nexpiration_days = 2\n",
		"server.info": "organization = test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n",
		"client.info": "organization = test\ncn = client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n",
	}
	for name, text := range templates {
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600)
	}
	run := func(args ...string) {
		cmd := exec.Command("certtool", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("certtool %v: %v\n%s", args, err, out)
		}
	}
	keyArgs := []string{"--generate-privkey", "--key-type=" + keyType}
	if keyType == "rsa" {
		keyArgs = append(keyArgs, "--bits=2048") // quicker than the default 3072
	}
	run(append(keyArgs, "--outfile", "ca-key.pem")...)
	run("--generate-self-signed", "--load-privkey", "ca-key.pem", "--template", "ca.info", "--outfile", "ca-cert.pem")
	for _, who := range []string{"server", "client"} {
		run(append(keyArgs, "--outfile", who+"-key.pem")...)
		run("--generate-certificate", "--load-ca-certificate", "ca-cert.pem", "--load-ca-privkey", "ca-key.pem",
			"--load-privkey", who+"-key.pem", "--template", who+".info", "--outfile", who+"-cert.pem")
	}
	for dst, files := range map[string][]string{
		server: {"ca-cert.pem", "server-cert.pem", "server-key.pem"},
		client: {"ca-cert.pem", "client-cert.pem", "client-key.pem"},
		nocert: {"ca-cert.pem"},
	} {
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dst, f), b, 0o600)
		}
	}
	return server, client, nocert
}

func TestTLS(t *testing.T) {
	need(t, "nbdinfo", "nbdcopy")
	serverDir, clientDir, nocertDir := makeCerts(t)
	for _, tc := range []struct {
		name   string
		mode   TLSMode
		verify bool
		// client URI suffix and whether it must work
		clients map[string]bool
	}{
		{"require-verify", TLSRequire, true, map[string]bool{
			"nbds://localhost:$port/disk?tls-certificates=" + clientDir: true,
			"nbd://localhost:$port/disk":                                false, // no TLS: refused
			"nbds://localhost:$port/disk?tls-certificates=" + nocertDir: false, // no client certificate
		}},
		{"require-noverify", TLSRequire, false, map[string]bool{
			"nbds://localhost:$port/disk?tls-certificates=" + nocertDir: true,
			"nbd://localhost:$port/disk":                                false,
		}},
		{"on", TLSOn, true, map[string]bool{
			"nbds://localhost:$port/disk?tls-certificates=" + clientDir: true,
			"nbd://localhost:$port/disk":                                true, // TLS optional
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadTLS(serverDir, tc.verify)
			if err != nil {
				t.Fatal(err)
			}
			s, want, logs := fileServer(t)
			s.TLS, s.TLSConfig = tc.mode, cfg
			ep := serve(t, s, ListenConfig{Port: -1})
			ep.SetExport("disk", tc.mode)
			if tc.mode == TLSRequire && !strings.HasPrefix(ep.URI, "nbds://localhost:") {
				t.Errorf("URI %s", ep.URI)
			}
			for uri, ok := range tc.clients {
				out, st := captive(t, ep, `nbdinfo "`+uri+`"`)
				if (st == 0) != ok {
					t.Errorf("%s: status %d, want success %v\n%s\nserver log:\n%s", uri, st, ok, out, logs)
				}
				if ok && tc.mode != TLSOn && !strings.Contains(out, "protocol: newstyle-fixed with TLS") {
					t.Errorf("%s: not over TLS:\n%s", uri, out)
				}
			}
			// After the refusals the server still serves a good client.
			good := "nbds://localhost:$port/disk?tls-certificates=" + clientDir
			copyFile := filepath.Join(t.TempDir(), "copy")
			mustCaptive(t, ep, `nbdcopy "`+good+`" `+copyFile)
			if got, _ := os.ReadFile(copyFile); string(got) != string(want) {
				t.Error("copy over TLS differs")
			}
		})
	}
	if _, err := LoadTLS(nocertDir, false); err == nil {
		t.Error("LoadTLS without a server certificate succeeded")
	}
}

// TestTLSVerifyPeerKeyTypes checks --tls-verify-peer with GnuTLS clients
// (nbdinfo, qemu-img) whose keys are RSA or ECDSA. GnuTLS 3.7 used to withhold an
// RSA client certificate from our TLS 1.3 server (see LoadTLS).
func TestTLSVerifyPeerKeyTypes(t *testing.T) {
	need(t, "nbdinfo")
	_, otherClient, _ := makeCertsKey(t, "ecdsa") // signed by another CA
	for _, key := range []string{"rsa", "ecdsa"} {
		t.Run(key, func(t *testing.T) {
			serverDir, clientDir, nocertDir := makeCertsKey(t, key)
			cfg, err := LoadTLS(serverDir, true)
			if err != nil {
				t.Fatal(err)
			}
			s, _, logs := fileServer(t)
			s.TLS, s.TLSConfig = TLSRequire, cfg
			ep := serve(t, s, ListenConfig{Unix: "-"})
			ep.SetExport("disk", TLSRequire)
			_, errQemu := exec.LookPath("qemu-img")
			for dir, ok := range map[string]bool{clientDir: true, nocertDir: false, otherClient: false} {
				out, st := captive(t, ep, `nbdinfo --size "$uri&tls-certificates=`+dir+`"`)
				if (st == 0) != ok {
					t.Errorf("nbdinfo %s: status %d, want success %v\n%s\nserver log:\n%s", dir, st, ok, out, logs)
				}
				if errQemu != nil {
					continue
				}
				// qemu, the other GnuTLS client.
				out, st = captive(t, ep, `qemu-img info --object tls-creds-x509,id=tls0,endpoint=client,dir=`+dir+
					` --image-opts driver=nbd,path="$unixsocket",export=disk,tls-creds=tls0,tls-hostname=localhost`)
				if (st == 0) != ok {
					t.Errorf("qemu-img %s: status %d, want success %v\n%s\nserver log:\n%s", dir, st, ok, out, logs)
				}
			}
		})
	}
}
