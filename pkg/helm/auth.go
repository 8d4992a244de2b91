package helm

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Auth holds the credentials for one Helm repository or OCI registry,
// usually read from a Secret with AuthFromSecret. Every field is optional.
type Auth struct {
	// Username and Password enable HTTP basic authentication when Username
	// is set (for OCI: the registry login).
	Username string
	// Password is the basic-auth password or access token.
	Password string
	// BearerToken is sent as "Authorization: Bearer <token>" (for OCI: a
	// registry token). It cannot be combined with Username.
	BearerToken string

	// CertPEM and KeyPEM are a TLS client certificate and its key.
	CertPEM, KeyPEM []byte
	// CAPEM is a PEM bundle of CA certificates trusted in addition to the
	// system roots. Default: the system roots only.
	CAPEM []byte

	// DockerConfigJSON is a Docker config.json (a kubernetes.io/
	// dockerconfigjson Secret's .dockerconfigjson). For OCI registries its
	// entry for the registry host is used when Username and BearerToken
	// are empty.
	DockerConfigJSON []byte
}

// Keys of a Helm credentials Secret. The first names are Flux's current
// ones; certFile, keyFile and caFile are Flux's older names, read when the
// newer ones are absent.
const (
	secretUsername    = "username"
	secretPassword    = "password"
	secretBearerToken = "bearerToken"
	secretTLSCert     = "tls.crt"
	secretTLSKey      = "tls.key"
	secretCACert      = "ca.crt"
	secretCertFile    = "certFile"
	secretKeyFile     = "keyFile"
	secretCAFile      = "caFile"
	secretDockerJSON  = ".dockerconfigjson"
)

// AuthFromSecret maps a Secret's data onto Auth:
//
//	username, password    basic auth (OCI: registry login)
//	bearerToken           bearer token (not together with username)
//	tls.crt, tls.key      TLS client certificate (certFile, keyFile)
//	ca.crt                CA bundle for the server (caFile)
//	.dockerconfigjson     OCI registry credentials, by registry host
//
// Other keys are ignored. Nothing is validated here: Resolve checks the
// combination before sending anything.
func AuthFromSecret(data map[string][]byte) Auth {
	first := func(keys ...string) []byte {
		for _, k := range keys {
			if v := data[k]; len(v) > 0 {
				return v
			}
		}
		return nil
	}
	return Auth{
		Username:         string(data[secretUsername]),
		Password:         string(data[secretPassword]),
		BearerToken:      string(data[secretBearerToken]),
		CertPEM:          first(secretTLSCert, secretCertFile),
		KeyPEM:           first(secretTLSKey, secretKeyFile),
		CAPEM:            first(secretCACert, secretCAFile),
		DockerConfigJSON: data[secretDockerJSON],
	}
}

// check reports credentials that cannot be used.
func (a Auth) check() error {
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

// tlsConfig returns the TLS configuration for a: the system roots plus
// CAPEM, and the client certificate.
func (a Auth) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(a.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(a.CAPEM) {
			return nil, errors.New("ca.crt: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	if len(a.CertPEM) > 0 {
		cert, err := tls.X509KeyPair(a.CertPEM, a.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls.crt/tls.key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// transport returns an HTTP transport with a's TLS settings and the
// environment's proxy settings.
func (a Auth) transport() (*http.Transport, error) {
	cfg, err := a.tlsConfig()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t, nil
}

// setHeader sets basic or bearer authorization on req.
func (a Auth) setHeader(req *http.Request) {
	switch {
	case a.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+a.BearerToken)
	case a.Username != "":
		req.SetBasicAuth(a.Username, a.Password)
	}
}

// registryAuth returns the go-containerregistry authenticator for the
// registry host: basic or bearer credentials when set, else the entry of
// DockerConfigJSON for host, else anonymous.
func (a Auth) registryAuth(host string) (authn.Authenticator, error) {
	switch {
	case a.BearerToken != "":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: a.BearerToken}), nil
	case a.Username != "":
		return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password}), nil
	case len(a.DockerConfigJSON) > 0:
		cfg, ok, err := dockerConfigFor(a.DockerConfigJSON, host)
		if err != nil {
			return nil, err
		}
		if ok {
			return authn.FromConfig(cfg), nil
		}
	}
	return authn.Anonymous, nil
}

// dockerConfigFor returns the entry of a Docker config.json for a registry
// host. Keys are matched the way Docker writes them: "host",
// "https://host", "http://host" or "https://host/v1/".
func dockerConfigFor(data []byte, host string) (authn.AuthConfig, bool, error) {
	var cfg struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf(".dockerconfigjson: %w", err)
	}
	for key, entry := range cfg.Auths {
		h := key
		if u, err := url.Parse(key); err == nil && u.Host != "" {
			h = u.Host
		}
		h, _, _ = strings.Cut(h, "/")
		if h != host && !(host == "index.docker.io" && h == "docker.io") {
			continue
		}
		if entry.Auth != "" && entry.Username == "" {
			// authn decodes "auth" already; keep a fallback for entries
			// that only carry it undecoded.
			if b, err := base64.StdEncoding.DecodeString(entry.Auth); err == nil {
				entry.Username, entry.Password, _ = strings.Cut(string(b), ":")
			}
		}
		return entry, true, nil
	}
	return authn.AuthConfig{}, false, nil
}
