package helmrepo

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"helm.sh/helm/v4/pkg/registry"

	// The registry finds its auth and storage implementations by name in
	// registries these packages fill when imported.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// RegistryOptions configures an OCI registry. The zero value is an
// anonymous HTTPS registry.
type RegistryOptions struct {
	// Username and Password, when Username is set, are required (htpasswd
	// basic auth) for every request.
	Username, Password string
	// PlainHTTP serves plain HTTP instead of HTTPS.
	PlainHTTP bool
	// Wrap, when set, wraps the registry's handler: a test that plays a
	// man in the middle (a tampered blob) puts itself there.
	Wrap func(http.Handler) http.Handler
	// ListenIP is the address to listen on, and the certificate's too.
	// Default 127.0.0.1. Tests of in-cluster Pods pass the host-side IP of
	// the test cluster's bridge.
	ListenIP string
}

// Registry is a running distribution registry with in-memory storage.
type Registry struct {
	opts RegistryOptions
	ca   *CA
	srv  *httptest.Server
	dir  string // htpasswd and the Helm client's credentials file

	mu       sync.Mutex
	requests []string // "METHOD /path" of every request, in order
}

// StartRegistry starts a registry on 127.0.0.1 on a free port. ctx is the
// registry's base context.
func StartRegistry(ctx context.Context, opts RegistryOptions) (reg *Registry, err error) {
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "helmrepo-registry-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory":    configuration.Parameters{},
			"delete":      configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "gitsync-test", "path": htpasswd}}
	}
	// The registry logs every request through logrus' standard logger;
	// tests only want to hear about errors.
	logrus.SetLevel(logrus.ErrorLevel)
	app, err := newApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &Registry{opts: opts, ca: ca, dir: dir}
	if opts.Wrap != nil {
		app = opts.Wrap(app)
	}
	r.srv = httptest.NewUnstartedServer(r.count(app))
	var ips []net.IP
	if opts.ListenIP != "" {
		ip := net.ParseIP(opts.ListenIP)
		if ip == nil {
			return nil, fmt.Errorf("ListenIP %q is not an IP address", opts.ListenIP)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(opts.ListenIP, "0"))
		if err != nil {
			return nil, err
		}
		_ = r.srv.Listener.Close()
		r.srv.Listener, ips = l, []net.IP{ip}
	}
	if opts.PlainHTTP {
		r.srv.Start()
		return r, nil
	}
	cert, err := ca.ServerCertificate(ips...)
	if err != nil {
		return nil, err
	}
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	r.srv.StartTLS()
	return r, nil
}

// newApp builds the registry's handler; the registry panics on bad
// configuration.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app http.Handler, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registry: %v", r)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// count records every request in r.requests.
func (r *Registry) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		next.ServeHTTP(w, req)
	})
}

// Requests returns the requests the registry received since it started
// or since the last ResetRequests, as "METHOD /path", in order.
func (r *Registry) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// ResetRequests forgets the requests received so far.
func (r *Registry) ResetRequests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
}

// Host returns the registry's host:port.
func (r *Registry) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.srv.URL, "https://"), "http://")
}

// URL returns "oci://HOST/path".
func (r *Registry) URL(path string) string {
	return "oci://" + r.Host() + "/" + strings.Trim(path, "/")
}

// CA returns the CA that signed the server's certificate.
func (r *Registry) CA() *CA { return r.ca }

// Close stops the server and removes its files.
func (r *Registry) Close() error {
	r.srv.Close()
	return os.RemoveAll(r.dir)
}

// Push packages c and pushes it with Helm's registry client (what `helm
// push` does) to HOST/path/NAME:VERSION. It returns the manifest digest.
func (r *Registry) Push(path string, c Chart) (string, error) {
	tgz, err := c.Package()
	if err != nil {
		return "", err
	}
	httpClient := &http.Client{Transport: http.DefaultTransport}
	if !r.opts.PlainHTTP {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: r.ca.Pool(), MinVersion: tls.VersionTLS12}
		httpClient = &http.Client{Transport: t}
	}
	copts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptHTTPClient(httpClient),
		registry.ClientOptCredentialsFile(filepath.Join(r.dir, "credentials.json")),
	}
	if r.opts.Username != "" {
		copts = append(copts, registry.ClientOptBasicAuth(r.opts.Username, r.opts.Password))
	}
	if r.opts.PlainHTTP {
		copts = append(copts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(copts...)
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("%s/%s/%s:%s", r.Host(), strings.Trim(path, "/"), c.Name, c.Version)
	res, err := client.Push(tgz, ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return res.Manifest.Digest, nil
}
