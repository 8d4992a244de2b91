package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"

	"github.com/gitsync/gitsync/tests/internal/testpki"
)

// TestCertificates checks that the certificates verify against their own
// CA, for the names they were issued for and for their usage, and not
// against another CA.
func TestCertificates(t *testing.T) {
	ca, err := testpki.New("test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.New("other")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.ServerCertificate([]net.IP{net.IPv4(127, 0, 0, 2)}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(srv.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, keyPEM, err := ca.ClientCertificate("someone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(clientPEM, keyPEM); err != nil {
		t.Errorf("client certificate and key do not match: %v", err)
	}
	block, _ := pem.Decode(clientPEM)
	if block == nil {
		t.Fatal("client certificate: no PEM block")
	}
	client, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	fromPEM := x509.NewCertPool()
	if !fromPEM.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CertPEM: no certificate")
	}

	tests := []struct {
		name    string
		cert    *x509.Certificate
		opts    x509.VerifyOptions
		wantErr bool
	}{
		{"server by IP", leaf, x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.2"}, false},
		{"server by name, CertPEM", leaf, x509.VerifyOptions{Roots: fromPEM, DNSName: "localhost"}, false},
		{"server, other name", leaf, x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1"}, true},
		{"server, other CA", leaf, x509.VerifyOptions{Roots: other.Pool(), DNSName: "localhost"}, true},
		{"server as client", leaf, x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true},
		{"client", client, x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, false},
		{"client as server", client, x509.VerifyOptions{Roots: ca.Pool()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cert.Verify(tt.opts)
			if (err != nil) != tt.wantErr {
				t.Errorf("Verify: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
