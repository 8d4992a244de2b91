package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
)

// recorder is a real HTTP(S) server that records the Authorization header
// of every request it gets, and serves files (path → content) without
// asking for credentials.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	files map[string][]byte
}

func startRecorder(t *testing.T, tls bool, files map[string][]byte) *recorder {
	t.Helper()
	r := &recorder{files: files}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auths = append(r.auths, req.Header.Get("Authorization"))
		r.mu.Unlock()
		if data, ok := r.files[req.URL.Path]; ok {
			_, _ = w.Write(data)
			return
		}
		http.NotFound(w, req)
	})
	if tls {
		r.Server = httptest.NewTLSServer(h)
	} else {
		r.Server = httptest.NewServer(h)
	}
	t.Cleanup(r.Close)
	return r
}

// got returns the requests received and how many carried credentials.
func (r *recorder) got() (requests, withAuth int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auths {
		if a != "" {
			withAuth++
		}
	}
	return len(r.auths), withAuth
}

// TestRedirectsKeepCredentialsHome runs Resolve and Fetch against a real
// HTTPS repository that redirects: to itself (credentials follow), to
// another port of the same host and from its chart URL to another origin
// (credentials do not follow, unless PassCredentials), and from https to
// plain http (refused; the http server is never asked). Go's client alone
// keeps the Authorization header on all of these, because they share the
// host name 127.0.0.1.
func TestRedirectsKeepCredentialsHome(t *testing.T) {
	pkg, err := simpleChart("app", "1.0.0").Package()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	index := func(chartURL string) []byte {
		return fmt.Appendf(nil, "apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    digest: %s\n    urls:\n    - %s\n", digest, chartURL)
	}

	other := startRecorder(t, true, map[string][]byte{"/app-1.0.0.tgz": pkg})
	other.files["/index.yaml"] = index(other.URL + "/app-1.0.0.tgz")
	plain := startRecorder(t, false, map[string][]byte{"/index.yaml": index("x")})

	var front *httptest.Server
	front = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, pw, ok := req.BasicAuth(); !ok || u != "user" || pw != "secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch req.URL.Path {
		case "/same/index.yaml":
			http.Redirect(w, req, front.URL+"/real/index.yaml", http.StatusFound)
		case "/real/index.yaml":
			_, _ = w.Write(index(front.URL + "/real/app-1.0.0.tgz"))
		case "/real/app-1.0.0.tgz":
			_, _ = w.Write(pkg)
		case "/cross/index.yaml":
			http.Redirect(w, req, other.URL+"/index.yaml", http.StatusFound)
		case "/downgrade/index.yaml":
			http.Redirect(w, req, plain.URL+"/index.yaml", http.StatusFound)
		case "/chart/index.yaml":
			_, _ = w.Write(index(front.URL + "/chart/app-1.0.0.tgz"))
		case "/chart/app-1.0.0.tgz":
			http.Redirect(w, req, other.URL+"/app-1.0.0.tgz", http.StatusFound)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(front.Close)
	// Every httptest TLS server has the same certificate.
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	auth := source.Credentials{Username: "user", Password: "secret", CAPEM: ca}
	src := func(path string) ChartSource {
		return ChartSource{URL: front.URL + path, Chart: "app", Auth: auth}
	}
	fetch := func(s ChartSource) error {
		res, err := Resolve(t.Context(), s)
		if err != nil {
			return err
		}
		_, err = Fetch(t.Context(), s, res, t.TempDir())
		return err
	}

	t.Run("same origin", func(t *testing.T) {
		if err := fetch(src("/same")); err != nil {
			t.Fatalf("a redirect within the repository's origin: %v", err)
		}
	})

	t.Run("another port", func(t *testing.T) {
		before, _ := other.got()
		if err := fetch(src("/cross")); err != nil {
			t.Fatalf("an anonymous repository behind a redirect: %v", err)
		}
		n, withAuth := other.got()
		if n == before || withAuth != 0 {
			t.Fatalf("%s got %d requests, %d with credentials; want some, none with credentials", other.URL, n-before, withAuth)
		}
		s := src("/cross")
		s.PassCredentials = true
		if err := fetch(s); err != nil {
			t.Fatal(err)
		}
		if _, withAuth := other.got(); withAuth == 0 {
			t.Errorf("with passCredentials, %s got no credentials", other.URL)
		}
	})

	t.Run("chart on another origin", func(t *testing.T) {
		other.mu.Lock()
		other.auths = nil
		other.mu.Unlock()
		if err := fetch(src("/chart")); err != nil {
			t.Fatal(err)
		}
		if n, withAuth := other.got(); n != 1 || withAuth != 0 {
			t.Fatalf("%s got %d requests, %d with credentials; want 1 without", other.URL, n, withAuth)
		}
	})

	t.Run("https to http", func(t *testing.T) {
		for _, pass := range []bool{false, true} {
			s := src("/downgrade")
			s.PassCredentials = pass
			_, err := Resolve(t.Context(), s)
			if err == nil || !strings.Contains(err.Error(), "leaves HTTPS") {
				t.Errorf("passCredentials %v: Resolve = %v, want the downgrade refused", pass, err)
			}
			if errors.Is(err, ErrAuthentication) {
				t.Errorf("a refused downgrade reads as an authentication failure: %v", err)
			}
		}
		if n, _ := plain.got(); n != 0 {
			t.Errorf("the plain-HTTP server got %d requests, want none", n)
		}
	})
}
