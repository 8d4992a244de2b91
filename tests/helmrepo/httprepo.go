package helmrepo

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// repoPath is the path the repository is served under.
const repoPath = "/charts"

// RepoOptions configures an HTTP chart repository. The zero value is an
// anonymous HTTPS repository.
type RepoOptions struct {
	// Username and Password, when Username is set, are required as basic
	// auth on every request.
	Username, Password string
	// PlainHTTP serves http:// instead of https://.
	PlainHTTP bool
	// RequireClientCert requires a TLS client certificate signed by the
	// repository's CA.
	RequireClientCert bool
	// RelativeURLs lists chart URLs in the index relative to the
	// repository (as `helm repo index` without --url does); by default
	// they are absolute.
	RelativeURLs bool
}

// Repo is a running HTTP chart repository.
type Repo struct {
	opts RepoOptions
	ca   *CA
	srv  *httptest.Server

	mu        sync.Mutex
	index     *repo.IndexFile
	rawIndex  []byte            // served instead of the generated index when set
	indexFile string            // served from disk instead, when set
	files     map[string][]byte // path below repoPath → content
	requests  map[string]int    // path → count
}

// StartRepo starts a repository on 127.0.0.1 on a free port.
func StartRepo(opts RepoOptions) (*Repo, error) {
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	r := &Repo{opts: opts, ca: ca, index: repo.NewIndexFile(), files: map[string][]byte{}, requests: map[string]int{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	if opts.PlainHTTP {
		r.srv.Start()
		return r, nil
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		return nil, err
	}
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if opts.RequireClientCert {
		r.srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		r.srv.TLS.ClientCAs = ca.Pool()
	}
	r.srv.StartTLS()
	return r, nil
}

// URL returns the repository URL (the index is URL/index.yaml).
func (r *Repo) URL() string { return r.srv.URL + repoPath }

// CA returns the CA that signed the server's certificate.
func (r *Repo) CA() *CA { return r.ca }

// Close stops the server.
func (r *Repo) Close() error {
	r.srv.Close()
	return nil
}

// Publish packages c, serves it as URL/NAME-VERSION.tgz and adds it to the
// index (replacing an entry of the same version). It returns the package's
// SHA-256 digest in hex, as the index lists it.
func (r *Repo) Publish(c Chart) (string, error) {
	tgz, err := c.Package()
	if err != nil {
		return "", err
	}
	ch, err := c.Load()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(tgz)
	digest := hex.EncodeToString(sum[:])
	file := fmt.Sprintf("%s-%s.tgz", c.Name, c.Version)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files["/"+file] = tgz
	versions := r.index.Entries[c.Name]
	for i, v := range versions {
		if v.Version == c.Version {
			r.index.Entries[c.Name] = append(versions[:i:i], versions[i+1:]...)
			break
		}
	}
	base := r.URL()
	if r.opts.RelativeURLs {
		base = ""
	}
	md := *ch.Metadata
	if err := r.index.MustAdd(&md, file, base, digest); err != nil {
		return "", err
	}
	r.index.SortEntries()
	return digest, nil
}

// Unpublish removes a version from the index (its package stays served).
func (r *Repo) Unpublish(name, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	versions := r.index.Entries[name]
	for i, v := range versions {
		if v.Version == version {
			r.index.Entries[name] = append(versions[:i:i], versions[i+1:]...)
			return
		}
	}
}

// SetIndex serves data as index.yaml instead of the generated index; nil
// goes back to the generated one.
func (r *Repo) SetIndex(data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rawIndex = data
}

// SetIndexFile serves the file at path as index.yaml, streamed from disk
// (for indexes too large to hold in the test's memory); "" goes back to the
// generated index.
func (r *Repo) SetIndexFile(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.indexFile = path
}

// SetFile serves data at URL/name, for packages an index built with
// SetIndex points to (or corrupted ones).
func (r *Repo) SetFile(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files["/"+strings.TrimPrefix(name, "/")] = data
}

// Requests returns how many requests reached URL/name ("index.yaml",
// "app-1.0.0.tgz"), authorized or not.
func (r *Repo) Requests(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests["/"+strings.TrimPrefix(name, "/")]
}

// Metadata returns the Chart.yaml metadata of c, for building indexes.
func Metadata(c Chart) (*chart.Metadata, error) {
	ch, err := c.Load()
	if err != nil {
		return nil, err
	}
	return ch.Metadata, nil
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	p, ok := strings.CutPrefix(req.URL.Path, repoPath)
	r.mu.Lock()
	r.requests[p]++
	r.mu.Unlock()
	if !ok || req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.NotFound(w, req)
		return
	}
	if r.opts.Username != "" {
		u, pw, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pw), []byte(r.opts.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="helm"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	var data []byte
	r.mu.Lock()
	if p == "/index.yaml" && r.indexFile != "" {
		file := r.indexFile
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-yaml")
		http.ServeFile(w, req, file)
		return
	}
	if p == "/index.yaml" {
		data = r.rawIndex
		if data == nil {
			var err error
			if data, err = yaml.Marshal(r.index); err != nil {
				r.mu.Unlock()
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	} else {
		data = r.files[p]
	}
	r.mu.Unlock()
	if data == nil {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if strings.HasSuffix(p, ".yaml") {
		w.Header().Set("Content-Type", "application/x-yaml")
	} else {
		w.Header().Set("Content-Type", "application/gzip")
	}
	if req.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
