package helmrepo

import (
	"crypto/tls"
	"net"

	"github.com/gitsync/gitsync/tests/internal/testpki"
)

// CA is a throw-away certificate authority for test servers and clients:
// CertPEM is what a client trusts (ca.crt), Pool the same as a
// certificate pool, ClientCertificate a client certificate for mutual TLS.
type CA struct {
	*testpki.CA
}

// NewCA creates a CA valid for a day.
func NewCA() (*CA, error) {
	ca, err := testpki.New("gitsync helm test CA")
	if err != nil {
		return nil, err
	}
	return &CA{CA: ca}, nil
}

// ServerCertificate returns a server certificate for 127.0.0.1, ::1 and
// localhost, where the servers of this package listen, and for more.
func (ca *CA) ServerCertificate(more ...net.IP) (tls.Certificate, error) {
	return ca.CA.ServerCertificate(append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, more...), []string{"localhost"})
}
