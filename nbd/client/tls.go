package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultTLSDirs are the certificates directories tried, in order, when a
// URI names none: libnbd's defaults.
func DefaultTLSDirs() []string {
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".pki", "libnbd"))
	}
	return append(dirs, "/etc/pki/libnbd")
}

// LoadTLS makes the TLS configuration of a client from a certificates
// directory laid out as libnbd's (and our server's) habit has it:
// ca-cert.pem, the CA that signed the server's certificate (when absent,
// the system's roots), and client-cert.pem with client-key.pem, the
// client's certificate for servers that verify their peers (optional).
// dir "" means the first of DefaultTLSDirs that exists, or the system's
// roots and no client certificate.
//
// With verify, the server's certificate must chain to the CA and, over TCP,
// name host; over a Unix socket (host "") only the chain is checked.
// Without verify (tls-verify-peer=false) the server is not checked.
func LoadTLS(dir, host string, verify bool) (*tls.Config, error) {
	if dir == "" {
		for _, d := range DefaultTLSDirs() {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				dir = d
				break
			}
		}
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if dir != "" {
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("TLS certificates: %w", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("TLS certificates: %s is not a directory", dir)
		}
		caFile := filepath.Join(dir, "ca-cert.pem")
		pem, err := os.ReadFile(caFile)
		switch {
		case err == nil:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("TLS certificates: %s: no PEM certificate", caFile)
			}
			cfg.RootCAs = pool
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("TLS certificates: %w", err)
		}
		certFile, keyFile := filepath.Join(dir, "client-cert.pem"), filepath.Join(dir, "client-key.pem")
		_, errC := os.Stat(certFile)
		_, errK := os.Stat(keyFile)
		if errC == nil || errK == nil {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("TLS certificates in %s: %w", dir, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	switch {
	case !verify:
		cfg.InsecureSkipVerify = true
	case host == "":
		// No name to check over a Unix socket: verify the chain only.
		cfg.InsecureSkipVerify = true
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("server certificate %q: %w", cs.PeerCertificates[0].Subject, err)
			}
			return nil
		}
	}
	return cfg, nil
}
