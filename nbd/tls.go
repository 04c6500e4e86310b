package nbd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadTLS reads a certificate directory laid out as nbdkit's
// --tls-certificates DIR: server-cert.pem and server-key.pem (required) and
// ca-cert.pem. With verifyPeer, clients must present a certificate signed
// by ca-cert.pem (which must then exist). TLS 1.2 is the minimum version,
// as the protocol requires.
func LoadTLS(dir string, verifyPeer bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("nbd: TLS certificates in %s: %w", dir, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	caFile := filepath.Join(dir, "ca-cert.pem")
	pem, err := os.ReadFile(caFile)
	switch {
	case err == nil:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nbd: %s: no PEM certificate", caFile)
		}
		cfg.ClientCAs = pool
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("nbd: %w", err)
	case verifyPeer:
		return nil, fmt.Errorf("nbd: client verification needs %s: %w", caFile, err)
	}
	if verifyPeer {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
