package client

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// makeCerts makes a CA, a server certificate for localhost and a client
// certificate with certtool (GnuTLS), keys of keyType, laid out as nbdkit,
// qemu and libnbd expect: server/{ca-cert,server-cert,server-key}.pem,
// client/{ca-cert,client-cert,client-key}.pem and nocert/ca-cert.pem.
func makeCerts(t *testing.T, keyType string) (server, client, nocert string) {
	testutil.NeedTools(t, "certtool")
	dir := t.TempDir()
	server, client, nocert = filepath.Join(dir, "server"), filepath.Join(dir, "client"), filepath.Join(dir, "nocert")
	templates := map[string]string{
		"ca.info":     "cn = test CA\nca\ncert_signing_key\nexpiration_days = 2\n",
		"server.info": "organization = test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n",
		"client.info": "organization = test\ncn = client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n",
	}
	for name, text := range templates {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
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
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return server, client, nocert
}

// tlsCases dials uri (without its TLS parameter) with the client's
// certificates (must work, over TLS), without a certificate (must fail)
// and without TLS (must fail with ErrTLSRequired), and checks the bytes.
func tlsCases(t *testing.T, uri string, sep string, clientDir, nocertDir string, want []byte) {
	t.Helper()
	c := dial(t, strings.Replace(uri, "nbd", "nbds", 1)+sep+"tls-certificates="+clientDir, Options{})
	if !c.Info().TLS {
		t.Errorf("%s: not over TLS", uri)
	}
	checkRead(t, c, want)
	if err := c.Close(); err != nil {
		t.Errorf("%s: Close: %v", uri, err)
	}
	if _, err := Dial(strings.Replace(uri, "nbd", "nbds", 1)+sep+"tls-certificates="+nocertDir, Options{}); err == nil {
		t.Errorf("%s: a client without a certificate was let in", uri)
	}
	if _, err := Dial(uri, Options{}); !errors.Is(err, ErrTLSRequired) {
		t.Errorf("%s without TLS: %v, want ErrTLSRequired", uri, err)
	}
}

// TestTLS: nbdkit, qemu-nbd and our server, each requiring TLS and
// verifying the client's certificate, with RSA and ECDSA keys.
func TestTLS(t *testing.T) {
	path, want := makeDisk(t)
	for _, key := range []string{"rsa", "ecdsa"} {
		t.Run(key, func(t *testing.T) {
			serverDir, clientDir, nocertDir := makeCerts(t, key)
			t.Run("nbdkit", func(t *testing.T) {
				uri, _ := nbdkit(t, "--tls=require", "--tls-certificates="+serverDir, "--tls-verify-peer", "file", path)
				tlsCases(t, uri, "&", clientDir, nocertDir, want)
			})
			t.Run("qemu-nbd", func(t *testing.T) {
				p := freePort(t)
				port := strconv.Itoa(p)
				start(t, "", p, "qemu-nbd", "-r", "-t", "-e", "8", "-b", "127.0.0.1", "-p", port,
					"--object", "tls-creds-x509,id=tls0,endpoint=server,verify-peer=on,dir="+serverDir,
					"--tls-creds", "tls0", "-x", "disk", "-f", "raw", path)
				tlsCases(t, "nbd://localhost:"+port+"/disk", "?", clientDir, nocertDir, want)
			})
			t.Run("ours", func(t *testing.T) {
				cfg, err := nbd.LoadTLS(serverDir, true)
				if err != nil {
					t.Fatal(err)
				}
				f, err := nbd.OpenFile(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				s := &nbd.Server{Exports: []nbd.Export{{Name: "disk", Source: f}}, TLS: nbd.TLSRequire, TLSConfig: cfg}
				l, ep, cleanup, err := nbd.Listen(nbd.ListenConfig{Unix: "-"})
				if err != nil {
					t.Fatal(err)
				}
				defer cleanup()
				go s.Serve(l)
				defer s.Close()
				ep.SetExport("disk", nbd.TLSOff)
				tlsCases(t, ep.URI, "&", clientDir, nocertDir, want)
			})
		})
	}
}

// TestTLSWrongCA: a server whose certificate another CA signed is
// refused, unless tls-verify-peer=false.
func TestTLSWrongCA(t *testing.T) {
	path, _ := makeDisk(t)
	serverDir, _, _ := makeCerts(t, "ecdsa")
	_, _, otherNocert := makeCerts(t, "ecdsa")
	uri, _ := nbdkit(t, "--tls=require", "--tls-certificates="+serverDir, "file", path)
	tls := strings.Replace(uri, "nbd", "nbds", 1) + "&tls-certificates=" + otherNocert
	if _, err := Dial(tls, Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("server of another CA: %v", err)
	}
	c := dial(t, tls+"&tls-verify-peer=false", Options{})
	if !c.Info().TLS {
		t.Error("not over TLS")
	}
}
