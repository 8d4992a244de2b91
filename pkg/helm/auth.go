package helm

import (
	"errors"
	"net/http"

	"github.com/gitsync/gitsync/pkg/source"
)

// checkCredentials reports credentials a chart source cannot use.
func checkCredentials(a source.Credentials) error {
	switch {
	case a.BearerToken != "" && a.Username != "":
		return errors.New("credentials hold both bearerToken and username; use one")
	case a.Password != "" && a.Username == "":
		return errors.New("credentials hold a password but no username")
	case len(a.CertPEM) > 0 != (len(a.KeyPEM) > 0):
		return errors.New("a TLS client certificate needs both tls.crt and tls.key")
	}
	return nil
}

// newTransport returns an HTTP transport with a's TLS settings and the
// environment's proxy settings.
func newTransport(a source.Credentials) (*http.Transport, error) {
	cfg, err := a.TLSConfig()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t, nil
}

// setAuthHeader sets basic or bearer authorization on req.
func setAuthHeader(a source.Credentials, req *http.Request) {
	switch {
	case a.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+a.BearerToken)
	case a.Username != "":
		req.SetBasicAuth(a.Username, a.Password)
	}
}
