// Package registry holds what every source that speaks to an OCI registry
// shares: how a source's credentials become go-containerregistry's
// authenticator and transport, the refusal of plain HTTP unless asked
// for, parsing oci:// URLs, and the classification of the registry's
// errors. Charts in OCI registries (pkg/helm) and OCI artifacts
// (pkg/source/oci) both use it, so that they authenticate and fail alike.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gitsync/gitsync/pkg/source"
)

// Scheme prefixes every registry URL gitsync accepts.
const Scheme = "oci://"

// Client says how to reach one registry. The zero value is an anonymous
// HTTPS client with the system roots.
type Client struct {
	// Auth holds the login (Username and Password, BearerToken, or
	// DockerConfigJSON: see source.Credentials.RegistryLogin) and the TLS
	// settings (CAPEM, CertPEM and KeyPEM). Default: anonymous.
	Auth source.Credentials
	// Keychain is asked for a login when Auth holds none for the
	// registry: the plugin passes the Docker config of the machine it
	// runs on. Default: anonymous.
	Keychain authn.Keychain
	// Insecure permits plain HTTP. Default false: HTTPS only, also for
	// registries on loopback and private addresses, where
	// go-containerregistry would otherwise fall back to plain HTTP.
	Insecure bool
	// UserAgent is sent with every request. Default "gitsync".
	UserAgent string
}

// ParseURL returns the repository an oci://host[:port]/path URL names.
// The URL holds no tag, digest or credentials (they would end up in
// messages). Errors do not quote the URL: the caller names it, redacted.
func ParseURL(url string, insecure bool) (name.Repository, error) {
	s, ok := strings.CutPrefix(url, Scheme)
	if !ok {
		return name.Repository{}, errors.New("the URL must start with " + Scheme)
	}
	s = strings.TrimSuffix(s, "/")
	host, rest, _ := strings.Cut(s, "/")
	switch {
	case strings.Contains(host, "@"):
		return name.Repository{}, errors.New("credentials belong in the Secret, not in the URL")
	case rest == "":
		return name.Repository{}, errors.New("the URL names no repository: oci://host[:port]/path")
	case strings.ContainsAny(rest, "@:"):
		return name.Repository{}, errors.New("the URL names a tag or digest: put it in ref")
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(s, opts...)
	if err != nil {
		// name's errors quote the name; it is the caller's URL, which it
		// names redacted itself.
		var ne *name.ErrBadName
		if errors.As(err, &ne) {
			return name.Repository{}, errors.New("not a valid registry repository (lowercase letters, digits, '.', '_', '-' and '/')")
		}
		return name.Repository{}, err
	}
	return repo, nil
}

// Options returns go-containerregistry's options for requests to the
// registry of repo.
func (c Client) Options(ctx context.Context, repo name.Repository) ([]remote.Option, error) {
	rt, err := c.Transport()
	if err != nil {
		return nil, err
	}
	auth, err := c.Authenticator(repo.RegistryStr())
	if err != nil {
		return nil, err
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "gitsync"
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(rt),
		remote.WithAuth(auth),
		remote.WithUserAgent(ua),
	}, nil
}

// Transport returns an HTTP transport with Auth's TLS settings and the
// environment's proxy settings, refusing plain HTTP unless Insecure.
func (c Client) Transport() (http.RoundTripper, error) {
	cfg, err := c.Auth.TLSConfig()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	if c.Insecure {
		return t, nil
	}
	return HTTPSOnly{Next: t}, nil
}

// Authenticator returns the authenticator for the registry host: Auth's
// login for it, else Keychain's, else anonymous.
func (c Client) Authenticator(host string) (authn.Authenticator, error) {
	login, ok, err := c.Auth.RegistryLogin(host)
	if err != nil {
		return nil, err
	}
	if ok {
		return authn.FromConfig(authn.AuthConfig{
			Username: login.Username, Password: login.Password,
			IdentityToken: login.IdentityToken, RegistryToken: login.RegistryToken,
		}), nil
	}
	if c.Keychain != nil {
		reg, err := name.NewRegistry(host, name.WeakValidation)
		if err != nil {
			return nil, err
		}
		return c.Keychain.Resolve(reg)
	}
	return authn.Anonymous, nil
}

// HTTPSOnly refuses plain-HTTP requests. go-containerregistry falls back
// to plain HTTP for registries on loopback and private addresses when
// HTTPS fails; a source that did not ask for Insecure must not be
// downgraded that way.
type HTTPSOnly struct {
	// Next sends the requests that are HTTPS.
	Next http.RoundTripper
}

// RoundTrip sends req if it is HTTPS.
func (t HTTPSOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("plain HTTP to %s refused (set insecure to allow it)", req.URL.Host)
	}
	return t.Next.RoundTrip(req)
}

// Error classifies an error of go-containerregistry: a 401 or 403 from
// the registry wraps source.ErrAuthentication.
func Error(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %w", source.ErrAuthentication, err)
		}
	}
	return err
}

// IsNotFound reports whether err is the registry's 404.
func IsNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
