package source

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Credentials are what a source presents to its server, read from a Secret
// with CredentialsFromSecret. Every field is optional; each kind of source
// uses the fields that apply to its transport and ignores the rest, so
// one Secret may serve several kinds. Nothing is validated here: each kind
// checks the combination it uses before sending anything.
type Credentials struct {
	// Username and Password enable HTTP basic authentication when Username
	// is set (for OCI registries: the registry login).
	Username string
	// Password is the basic-auth password or an access token used as one.
	// With Identity set it is also the identity's passphrase, as in Flux.
	Password string
	// BearerToken is sent as "Authorization: Bearer <token>" (for OCI
	// registries: a registry token). It cannot be combined with Username.
	BearerToken string

	// Identity is an SSH private key (PEM, OpenSSH or PKCS#1/8).
	Identity []byte
	// IdentityPassphrase decrypts Identity when it is encrypted.
	IdentityPassphrase []byte
	// KnownHosts holds known_hosts lines for SSH servers: host keys are
	// always checked.
	KnownHosts []byte

	// CAPEM is a PEM bundle of CA certificates trusted for TLS in
	// addition to the system roots.
	CAPEM []byte
	// CertPEM and KeyPEM are a TLS client certificate and its key.
	CertPEM, KeyPEM []byte

	// DockerConfigJSON is a Docker config.json (the .dockerconfigjson of
	// a kubernetes.io/dockerconfigjson Secret): OCI registry logins by
	// host (see RegistryLogin).
	DockerConfigJSON []byte

	// AccessKey and SecretKey are the access key pair of an S3-compatible
	// bucket.
	AccessKey, SecretKey string

	// GitHubApp is a GitHub App's credentials, used by a Git source whose
	// provider is GitProviderGitHub.
	GitHubApp GitHubApp
}

// Keys of a credentials Secret, as Flux names them. certFile, keyFile and
// caFile are Flux's older names, read when the newer ones are absent.
const (
	secretUsername    = "username"
	secretPassword    = "password"
	secretBearerToken = "bearerToken"
	secretIdentity    = "identity"
	secretKnownHosts  = "known_hosts"
	secretCACert      = "ca.crt"
	secretCAFile      = "caFile"
	secretTLSCert     = "tls.crt"
	secretCertFile    = "certFile"
	secretTLSKey      = "tls.key"
	secretKeyFile     = "keyFile"
	secretDockerJSON  = ".dockerconfigjson"
	secretAccessKey   = "accesskey"
	secretSecretKey   = "secretkey"

	secretGitHubAppID                = "githubAppID"
	secretGitHubAppInstallationID    = "githubAppInstallationID"
	secretGitHubAppInstallationOwner = "githubAppInstallationOwner"
	secretGitHubAppPrivateKey        = "githubAppPrivateKey"
	secretGitHubAppBaseURL           = "githubAppBaseURL"
)

// CredentialsFromSecret maps a Secret's data onto Credentials, with Flux's
// keys, for every kind of source:
//
//	username, password   basic auth (OCI: registry login)
//	bearerToken          bearer token (not together with username)
//	identity             SSH private key
//	password             also the identity's passphrase when identity is set
//	known_hosts          SSH known hosts (required for SSH)
//	ca.crt               CA bundle (caFile when ca.crt is absent)
//	tls.crt, tls.key     TLS client certificate (certFile, keyFile)
//	.dockerconfigjson    OCI registry logins by host
//	accesskey, secretkey S3 access key pair
//	githubAppID, githubAppInstallationID (or githubAppInstallationOwner),
//	githubAppPrivateKey, githubAppBaseURL   a GitHub App (Git provider github)
//
// Other keys are ignored.
func CredentialsFromSecret(data map[string][]byte) Credentials {
	first := func(keys ...string) []byte {
		for _, k := range keys {
			if v := data[k]; len(v) > 0 {
				return v
			}
		}
		return nil
	}
	c := Credentials{
		Username:         string(data[secretUsername]),
		Password:         string(data[secretPassword]),
		BearerToken:      string(data[secretBearerToken]),
		Identity:         data[secretIdentity],
		KnownHosts:       data[secretKnownHosts],
		CAPEM:            first(secretCACert, secretCAFile),
		CertPEM:          first(secretTLSCert, secretCertFile),
		KeyPEM:           first(secretTLSKey, secretKeyFile),
		DockerConfigJSON: data[secretDockerJSON],
		AccessKey:        string(data[secretAccessKey]),
		SecretKey:        string(data[secretSecretKey]),
		GitHubApp: GitHubApp{
			AppID:             strings.TrimSpace(string(data[secretGitHubAppID])),
			InstallationID:    strings.TrimSpace(string(data[secretGitHubAppInstallationID])),
			InstallationOwner: strings.TrimSpace(string(data[secretGitHubAppInstallationOwner])),
			PrivateKey:        data[secretGitHubAppPrivateKey],
			BaseURL:           strings.TrimSpace(string(data[secretGitHubAppBaseURL])),
		},
	}
	if len(c.Identity) > 0 {
		c.IdentityPassphrase = data[secretPassword]
	}
	return c
}

// TLSConfig returns the TLS configuration for HTTPS sources: TLS 1.2 or
// later, the system roots plus CAPEM, and the client certificate.
func (c Credentials) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(c.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(c.CAPEM) {
			return nil, errors.New("ca.crt: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	if len(c.CertPEM) > 0 {
		cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls.crt/tls.key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// RegistryLogin is the login for one OCI registry.
type RegistryLogin struct {
	// Username and Password are a basic login.
	Username, Password string
	// IdentityToken is an OAuth2 refresh token (docker's identitytoken).
	IdentityToken string
	// RegistryToken is a bearer token sent to the registry as is.
	RegistryToken string
}

// RegistryLogin returns the login for the registry host: BearerToken or
// Username and Password when set, else the entry of DockerConfigJSON for
// host. Docker writes keys as "host", "https://host", "http://host" or
// "https://host/v1/"; all match, and "docker.io" matches
// "index.docker.io". ok is false when there is no login: anonymous.
func (c Credentials) RegistryLogin(host string) (login RegistryLogin, ok bool, err error) {
	switch {
	case c.BearerToken != "":
		return RegistryLogin{RegistryToken: c.BearerToken}, true, nil
	case c.Username != "":
		return RegistryLogin{Username: c.Username, Password: c.Password}, true, nil
	case len(c.DockerConfigJSON) == 0:
		return RegistryLogin{}, false, nil
	}
	var cfg struct {
		Auths map[string]struct {
			Username      string `json:"username"`
			Password      string `json:"password"`
			Auth          string `json:"auth"`
			IdentityToken string `json:"identitytoken"`
			RegistryToken string `json:"registrytoken"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(c.DockerConfigJSON, &cfg); err != nil {
		return RegistryLogin{}, false, fmt.Errorf(".dockerconfigjson: %w", err)
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
		login := RegistryLogin{Username: entry.Username, Password: entry.Password,
			IdentityToken: entry.IdentityToken, RegistryToken: entry.RegistryToken}
		if entry.Auth != "" && login.Username == "" {
			b, err := base64.StdEncoding.DecodeString(entry.Auth)
			if err != nil {
				return RegistryLogin{}, false, fmt.Errorf(".dockerconfigjson: auth of %s is not base64", key)
			}
			login.Username, login.Password, _ = strings.Cut(string(b), ":")
		}
		return login, true, nil
	}
	return RegistryLogin{}, false, nil
}
