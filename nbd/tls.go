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
//
// The certificate request names no certificate authority: the chain is
// checked after the handshake (verifyClient), not through
// tls.Config.ClientCAs. With ClientCAs set, Go lists the CA's name in the
// request, and a GnuTLS client (libnbd's nbdinfo and nbdcopy, qemu)
// then offers its certificate only if its key type is among the request's
// signature algorithms. In TLS 1.3 those hold RSA only as RSA-PSS (PKCS#1
// v1.5 is for certificate signatures, in signature_algorithms_cert, which
// GnuTLS 3.7 does not read), so GnuTLS found no match for an RSA client
// key, sent no certificate, and the handshake failed ("client didn't
// provide a certificate"); ECDSA keys matched. A request without CA names
// makes GnuTLS send its one certificate, and the proof of possession
// (CertificateVerify, RSA-PSS) is checked by crypto/tls as before.
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
		if verifyPeer {
			cfg.VerifyPeerCertificate = verifyClient(pool)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("nbd: %w", err)
	case verifyPeer:
		return nil, fmt.Errorf("nbd: client verification needs %s: %w", caFile, err)
	}
	if verifyPeer {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	return cfg, nil
}

// verifyClient checks a client's chain against the CA pool for client
// authentication, as tls.RequireAndVerifyClientCert would with ClientCAs.
func verifyClient(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("nbd: client sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return fmt.Errorf("nbd: client certificate: %w", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			return fmt.Errorf("nbd: client certificate %q: %w", certs[0].Subject, err)
		}
		return nil
	}
}
