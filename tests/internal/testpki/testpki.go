// Package testpki is a throw-away certificate authority for the test
// servers (gitserver, helmrepo) and their clients: a CA valid for a day,
// server certificates for loopback or test-network addresses, and client
// certificates for mutual TLS. Nothing is written to disk; each CA lives as
// long as the server that made it.
//
// Keys are ECDSA P-256, which keeps generation in the sub-millisecond
// range: every test starts its own servers, each with its own CA.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// validity is how long certificates stay valid, long enough for any test
// run. They start an hour back, so that a clock a little off does not
// matter.
const validity = 24 * time.Hour

// CA is a throw-away certificate authority. It is safe for concurrent use.
type CA struct {
	// CertPEM is the CA certificate, PEM-encoded: what a client trusts
	// (a Secret's ca.crt, git's http.sslCAInfo).
	CertPEM []byte
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	serial  atomic.Int64
}

// New creates a CA whose certificate has the common name name.
func New(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("test CA %s: key: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("test CA %s: certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("test CA %s: certificate: %w", name, err)
	}
	ca := &CA{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}
	ca.serial.Store(1)
	return ca, nil
}

// Pool returns a certificate pool holding only the CA: a client's
// RootCAs, or a server's ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ServerCertificate returns a server certificate for the IP addresses ips
// and the host names dnsNames, ready for tls.Config.Certificates. Its
// common name is the first of them; clients check only the names.
func (ca *CA) ServerCertificate(ips []net.IP, dnsNames []string) (tls.Certificate, error) {
	cn := "server"
	switch {
	case len(ips) > 0:
		cn = ips[0].String()
	case len(dnsNames) > 0:
		cn = dnsNames[0]
	}
	der, key, err := ca.issue(cn, x509.ExtKeyUsageServerAuth, ips, dnsNames)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate %s: %w", cn, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ClientCertificate returns a client certificate for the common name cn
// and its key, PEM-encoded (what a Secret's tls.crt and tls.key hold).
func (ca *CA) ClientCertificate(cn string) (certPEM, keyPEM []byte, err error) {
	der, key, err := ca.issue(cn, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate %s: %w", cn, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate %s: %w", cn, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// issue signs a certificate with a new key for cn, usage and the given
// names.
func (ca *CA) issue(cn string, usage x509.ExtKeyUsage, ips []net.IP, dnsNames []string) (der []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  ips,
		DNSNames:     dnsNames,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: %w", err)
	}
	return der, key, nil
}
