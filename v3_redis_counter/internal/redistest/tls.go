package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs is a throwaway certificate authority and one certificate it signed
// for 127.0.0.1 and localhost, as PEM files in the test's folder: what a
// managed Redis hands out, with its CA to trust instead of the system's.
type Certs struct {
	CAFile   string // the CA's certificate, for REDIS_TLS_CA_FILE
	CertFile string // the server's certificate, signed by the CA
	KeyFile  string // the server's private key
	pool     *x509.CertPool
}

// NewCerts makes a CA and a server certificate valid for the next hour.
// Every server and Sentinel of a test can share them: they all listen on
// 127.0.0.1.
func NewCerts(t *testing.T) *Certs {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey := newKey(t)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pingpong test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	serverKey := newKey(t)
	serverDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// A server in TLS replication also dials its master: it needs both uses.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &Certs{
		CAFile:   writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER),
		CertFile: writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", serverDER),
		KeyFile:  writePEM(t, filepath.Join(dir, "server-key.pem"), "PRIVATE KEY", keyDER),
		pool:     x509.NewCertPool(),
	}
	c.pool.AddCert(ca)
	return c
}

// TLSConfig trusts the CA alone, as the service does with REDIS_TLS_CA_FILE.
func (c *Certs) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}
}

// serverArgs are the redis-server options of a server, or a Sentinel, that
// speaks TLS only, on port: with no plain port, a client that forgets TLS
// cannot count. Clients need no certificate of their own, as with a managed
// Redis; a replica and a Sentinel speak TLS to the servers they follow.
func (c *Certs) serverArgs(port string) []string {
	return []string{"--port", "0", "--tls-port", port,
		"--tls-cert-file", c.CertFile, "--tls-key-file", c.KeyFile, "--tls-ca-cert-file", c.CAFile,
		"--tls-auth-clients", "no", "--tls-replication", "yes"}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// writePEM writes one PEM block to path and returns the path.
func writePEM(t *testing.T, path, blockType string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
