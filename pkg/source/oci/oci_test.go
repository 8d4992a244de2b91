package oci_test

import (
	"archive/tar"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

const user, password = "ci", "s3cret-pw"

// startRegistry starts a registry (HTTPS with basic auth unless opts say
// plain HTTP) and returns it with the credentials that reach it.
func startRegistry(t *testing.T, opts helmrepo.RegistryOptions) (*helmrepo.Registry, source.Credentials) {
	t.Helper()
	if !opts.PlainHTTP {
		opts.Username, opts.Password = user, password
	}
	reg, err := helmrepo.StartRegistry(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	creds := source.Credentials{Username: opts.Username, Password: opts.Password}
	if !opts.PlainHTTP {
		creds.CAPEM = reg.CA().CertPEM
	}
	return reg, creds
}

// tree lists dir as "path: content" and "path/".
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, filepath.ToSlash(rel)+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		out = append(out, filepath.ToSlash(rel)+": "+string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fetch resolves and fetches o into a new directory below a private
// parent, as source.Cache does.
// mustRefuse checks that a fetch with o fails verification, with an error
// that says each of want, and returns no artifact.
func mustRefuse(t *testing.T, o oci.Options, want ...string) {
	t.Helper()
	art, _, err := fetch(t, o)
	if !errors.Is(err, source.ErrVerification) {
		t.Fatalf("err = %v, want ErrVerification", err)
	}
	t.Log(err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if art != nil {
		t.Errorf("an artifact was returned: %+v", art)
	}
}

func fetch(t *testing.T, o oci.Options) (*source.Artifact, source.Revision, error) {
	t.Helper()
	src := oci.NewSource(o)
	rev, err := src.Resolve(t.Context())
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(t.TempDir(), "art")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	art, err := src.Fetch(t.Context(), rev, dir)
	return art, rev, err
}

var files = map[string]string{"deploy/app.yaml": "kind: ConfigMap\n", "deploy/sub/b.yaml": "b: 1\n", "README.md": "hello\n"}

// TestFluxPushedArtifactIsPulled pulls an artifact laid out exactly as
// `flux push artifact` lays it out.
func TestFluxPushedArtifactIsPulled(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	digest, err := reg.PushArtifact("team/app", "v1", helmrepo.Artifact{Files: files, Source: "https://git.example/app.git", Revision: "main@sha1:0123"})
	if err != nil {
		t.Fatal(err)
	}
	art, rev, err := fetch(t, oci.Options{URL: reg.URL("team/app"), Ref: oci.Ref{Tag: "v1"}, Auth: creds})
	if err != nil {
		t.Fatal(err)
	}
	if want := source.Revision("v1@" + digest); rev != want || art.Revision != want {
		t.Errorf("revision %s (artifact %s), want %s", rev, art.Revision, want)
	}
	want := []string{"README.md: hello\n", "deploy/", "deploy/app.yaml: kind: ConfigMap\n", "deploy/sub/", "deploy/sub/b.yaml: b: 1\n"}
	if diff := cmp.Diff(want, tree(t, art.Dir)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if art.Path != "" || art.VerifiedBy != "" {
		t.Errorf("artifact %+v: no path and no verification expected", art)
	}
}

// TestPushIsFluxFormat pushes with Push and reads the result the way
// Flux's puller does: the manifest's media types and annotations, the
// config, and the first layer untarred.
func TestPushIsFluxFormat(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	dir := writeTree(t, files)
	if err := os.Symlink("deploy/app.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	pushed, err := oci.Push(t.Context(), oci.PushOptions{
		URL: reg.URL("team/app") + ":v2", Path: dir, Source: "https://git.example/app.git", Revision: "main@sha1:abcd",
		Annotations: map[string]string{"org.example/team": "blue"}, Ignore: []string{"README.md"},
		Client: registry.Client{Auth: creds},
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(pushed.Ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithTransport(transport(t, reg)), remote.WithAuthFromKeychain(nil), remoteAuth())
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != oci.ConfigMediaType ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != oci.ContentMediaType {
		t.Errorf("manifest %s, config %s, layers %v", m.MediaType, m.Config.MediaType, m.Layers)
	}
	for k, v := range map[string]string{oci.AnnotationSource: "https://git.example/app.git", oci.AnnotationRevision: "main@sha1:abcd", "org.example/team": "blue"} {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, m.Annotations[oci.AnnotationCreated]); err != nil {
		t.Errorf("created annotation: %v", err)
	}
	// The config blob is byte for byte the one of an artifact laid out
	// as Flux lays it out.
	fluxDigest, err := reg.PushArtifact("team/flux", "v1", helmrepo.Artifact{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	fluxRef, err := name.NewDigest(reg.Host() + "/team/flux@" + fluxDigest)
	if err != nil {
		t.Fatal(err)
	}
	fluxImg, err := remote.Image(fluxRef, remote.WithTransport(transport(t, reg)), remoteAuth())
	if err != nil {
		t.Fatal(err)
	}
	ours, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := fluxImg.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if string(ours) != string(theirs) {
		t.Errorf("config blob\n%s\nFlux's\n%s", ours, theirs)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Uname != "" || !h.ModTime.IsZero() && h.ModTime.Unix() != 0 {
			t.Errorf("%s: owner or time not cleared: %+v", h.Name, h)
		}
		got = append(got, h.Name)
	}
	// The root as ".", then the walk in lexical order; the symlink and
	// the ignored file are left out.
	if diff := cmp.Diff([]string{".", "deploy", "deploy/app.yaml", "deploy/sub", "deploy/sub/b.yaml"}, got); diff != "" {
		t.Errorf("tar entries (-want +got):\n%s", diff)
	}
	if pushed.Tag != "v2" || !strings.HasSuffix(pushed.Ref, "@"+pushed.Digest) {
		t.Errorf("pushed %+v", pushed)
	}

	// And it round-trips through gitsync's own Fetch.
	art, rev, err := fetch(t, oci.Options{URL: reg.URL("team/app"), Ref: oci.Ref{Tag: "v2"}, Auth: creds})
	if err != nil {
		t.Fatal(err)
	}
	if rev != source.Revision("v2@"+pushed.Digest) {
		t.Errorf("revision %s", rev)
	}
	if diff := cmp.Diff([]string{"deploy/", "deploy/app.yaml: kind: ConfigMap\n", "deploy/sub/", "deploy/sub/b.yaml: b: 1\n"}, tree(t, art.Dir)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}

	// Tag points a new tag at the same manifest.
	newRef, d, err := oci.Tag(t.Context(), oci.TagOptions{URL: reg.URL("team/app") + ":v2", Tag: "production", Client: registry.Client{Auth: creds}})
	if err != nil {
		t.Fatal(err)
	}
	if d != pushed.Digest || !strings.HasSuffix(newRef, "team/app:production") {
		t.Errorf("tag: %s %s", newRef, d)
	}
	res, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("team/app"), Ref: oci.Ref{Tag: "production"}, Auth: creds})
	if err != nil || res.Digest != pushed.Digest {
		t.Errorf("production resolves to %v, %v", res, err)
	}
}

func transport(t *testing.T, reg *helmrepo.Registry) http.RoundTripper {
	t.Helper()
	c := registry.Client{Auth: source.Credentials{CAPEM: reg.CA().CertPEM}}
	rt, err := c.Transport()
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func remoteAuth() remote.Option {
	c := registry.Client{Auth: source.Credentials{Username: user, Password: password}}
	a, _ := c.Authenticator("x")
	return remote.WithAuth(a)
}

// TestResolveCostsOneRequest checks that resolving a tag or a digest, the
// check of every scheduled run, is one HEAD request and downloads
// nothing, with a basic login and anonymously.
func TestResolveCostsOneRequest(t *testing.T) {
	for _, anonymous := range []bool{false, true} {
		opts := helmrepo.RegistryOptions{Username: user, Password: password}
		if anonymous {
			opts = helmrepo.RegistryOptions{}
		}
		reg, err := helmrepo.StartRegistry(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Close() })
		creds := source.Credentials{Username: opts.Username, Password: opts.Password, CAPEM: reg.CA().CertPEM}
		digest, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files})
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []oci.Ref{{}, {Digest: digest}} {
			reg.ResetRequests()
			res, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Ref: ref, Auth: creds})
			if err != nil {
				t.Fatal(err)
			}
			got := reg.Requests()
			want := []string{"HEAD /v2/app/manifests/latest"}
			if ref.Digest != "" {
				want = []string{"HEAD /v2/app/manifests/" + digest}
			}
			if diff := cmp.Diff(want, got); diff != "" || res.Requests != 1 {
				t.Errorf("anonymous %v, ref %+v: requests (-want +got):\n%s(counted %d)", anonymous, ref, diff, res.Requests)
			}
		}
	}
}

// TestRefPrecedence checks Flux's precedence (digest > semver > tag >
// latest) and what semver and semverFilter select.
func TestRefPrecedence(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	digests := map[string]string{}
	for _, tag := range []string{"latest", "v1.0.0", "v1.2.0", "1.3.0-rc.1", "v2.0.0", "dev", "1.4.0-rc.2", "1.4.0-beta.1"} {
		d, err := reg.PushArtifact("app", tag, helmrepo.Artifact{Files: map[string]string{"tag.txt": tag}})
		if err != nil {
			t.Fatal(err)
		}
		digests[tag] = d
	}
	tests := []struct {
		name string
		ref  oci.Ref
		want string // the tag selected; "@tag" for a digest ref of that tag
		err  error
	}{
		{"default is latest", oci.Ref{}, "latest", nil},
		{"tag", oci.Ref{Tag: "dev"}, "dev", nil},
		{"semver wins over tag", oci.Ref{Tag: "dev", SemVer: "1.x"}, "v1.2.0", nil},
		{"semver highest stable", oci.Ref{SemVer: ">=1.0.0"}, "v2.0.0", nil},
		{"semver with prerelease", oci.Ref{SemVer: ">=1.2.1-0 <1.4.0-0"}, "1.3.0-rc.1", nil},
		{"without semverFilter", oci.Ref{SemVer: ">=1.0.0-0"}, "v2.0.0", nil},
		{"semverFilter before semver", oci.Ref{SemVer: ">=1.0.0-0", SemverFilter: ".*-rc.*"}, "1.4.0-rc.2", nil},
		{"semverFilter excludes all", oci.Ref{SemVer: ">=1.0.0-0", SemverFilter: "^nightly-"}, "", source.ErrRefNotFound},
		{"digest wins over all", oci.Ref{Tag: "dev", SemVer: "1.x", Digest: digests["v1.0.0"]}, "@v1.0.0", nil},
		{"no match", oci.Ref{SemVer: ">=3"}, "", source.ErrRefNotFound},
		{"missing tag", oci.Ref{Tag: "nope"}, "", source.ErrRefNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Ref: tt.ref, Auth: creds})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := source.Revision(tt.want + "@" + digests[tt.want])
			if tag, ok := strings.CutPrefix(tt.want, "@"); ok {
				want = source.Revision(digests[tag])
			}
			if res.Revision != want {
				t.Errorf("revision %s, want %s", res.Revision, want)
			}
		})
	}
	// The error of a semver ref lists what there is.
	_, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Ref: oci.Ref{SemVer: ">=3"}, Auth: creds})
	if err == nil || !strings.Contains(err.Error(), "v2.0.0") {
		t.Errorf("error does not list the versions: %v", err)
	}
}

// TestLayerSelector checks extract and copy, by media type and by
// default.
func TestLayerSelector(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	chart := []byte("\x1f\x8bnot really a chart")
	_, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files,
		Layers: []helmrepo.StaticLayer{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Blob: chart}, {MediaType: "text/plain", Blob: []byte("notes")}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		layer oci.LayerSelector
		path  string
		want  []string
		err   error
	}{
		{"default: first layer extracted", oci.LayerSelector{}, "", []string{"README.md: hello\n", "deploy/", "deploy/app.yaml: kind: ConfigMap\n", "deploy/sub/", "deploy/sub/b.yaml: b: 1\n"}, nil},
		{"copy the first layer", oci.LayerSelector{Operation: oci.OperationCopy}, "layer.tgz", nil, nil},
		{"copy by media type", oci.LayerSelector{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Operation: oci.OperationCopy}, "layer.tgz", []string{"layer.tgz: " + string(chart)}, nil},
		{"copy a plain layer", oci.LayerSelector{MediaType: "text/plain", Operation: oci.OperationCopy}, "layer", []string{"layer: notes"}, nil},
		{"extract a layer that is no archive", oci.LayerSelector{MediaType: "text/plain"}, "", nil, errors.New("read archive")},
		{"missing media type", oci.LayerSelector{MediaType: "application/x-none"}, "", nil, source.ErrRefNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			art, _, err := fetch(t, oci.Options{URL: reg.URL("app"), Layer: tt.layer, Auth: creds})
			if tt.err != nil {
				if err == nil || !errors.Is(err, tt.err) && !strings.Contains(err.Error(), tt.err.Error()) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if art.Path != tt.path {
				t.Errorf("path %q, want %q", art.Path, tt.path)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, tree(t, art.Dir)); diff != "" {
					t.Errorf("tree (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestWrongCredentialsAndTLS(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	if _, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files}); err != nil {
		t.Fatal(err)
	}
	bad := creds
	bad.Password = "WRONG-PASSWORD"
	_, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Auth: bad})
	if !errors.Is(err, source.ErrAuthentication) {
		t.Errorf("wrong password: %v, want ErrAuthentication", err)
	}
	if err != nil && strings.Contains(err.Error(), "WRONG-PASSWORD") {
		t.Errorf("the error shows the password: %v", err)
	}
	none := creds
	none.Username, none.Password = "", ""
	if _, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Auth: none}); !errors.Is(err, source.ErrAuthentication) {
		t.Errorf("anonymous: %v, want ErrAuthentication", err)
	}
	// Without the CA the server's certificate is not trusted.
	noCA := creds
	noCA.CAPEM = nil
	_, err = oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Auth: noCA})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	// Insecure does not disable TLS verification.
	if _, err := oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app"), Auth: noCA, Insecure: true}); err == nil {
		t.Error("insecure: true skipped TLS verification")
	}
}

func TestPlainHTTPNeedsInsecure(t *testing.T) {
	reg, _ := startRegistry(t, helmrepo.RegistryOptions{PlainHTTP: true})
	digest, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	_, err = oci.Resolve(t.Context(), oci.Options{URL: reg.URL("app")})
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") && !strings.Contains(err.Error(), "http: server gave HTTP response to HTTPS client") {
		t.Errorf("plain HTTP without insecure: %v", err)
	}
	art, rev, err := fetch(t, oci.Options{URL: reg.URL("app"), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if rev != source.Revision("latest@"+digest) || len(tree(t, art.Dir)) != 5 {
		t.Errorf("revision %s, tree %v", rev, tree(t, art.Dir))
	}
}

// tamper returns a Wrap that flips a byte of every blob the registry
// serves whose digest is in *digests, as a man in the middle would.
func tamper(digest *string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *digest == "" || !strings.HasSuffix(r.URL.Path, "/blobs/"+*digest) || r.Method != http.MethodGet {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			body := rec.body
			if len(body) > 40 {
				body[len(body)-30] ^= 0xff
			}
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(body)
		})
	}
}

type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}
func (r *recorder) WriteHeader(s int) { r.status = s }

func TestTamperedLayerIsRefused(t *testing.T) {
	var victim string
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{Wrap: tamper(&victim)})
	digest, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	o := oci.Options{URL: reg.URL("app"), Auth: creds}
	src := oci.NewSource(o)
	rev, err := src.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	layer := layerDigest(t, reg, digest)
	victim = layer
	dir := filepath.Join(t.TempDir(), "art")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(t.Context(), rev, dir)
	if !errors.Is(err, source.ErrDigestMismatch) || !strings.Contains(err.Error(), layer) {
		t.Fatalf("tampered layer: %v, want ErrDigestMismatch naming %s", err, layer)
	}
	if got := tree(t, dir); len(got) != 0 {
		t.Errorf("a tampered layer was extracted: %v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".gitsync-layer-*")); len(left) != 0 {
		t.Errorf("the downloaded blob was left behind: %v", left)
	}
}

// layerDigest returns the digest of the first layer of manifest digest.
func layerDigest(t *testing.T, reg *helmrepo.Registry, digest string) string {
	t.Helper()
	ref, err := name.NewDigest(reg.Host() + "/app@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithTransport(transport(t, reg)), remoteAuth())
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers[0].Digest.String()
}

func TestSizeCap(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	if _, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: map[string]string{"big": strings.Repeat("z", 100_000)}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := fetch(t, oci.Options{URL: reg.URL("app"), Auth: creds, MaxSize: 50_000})
	if !errors.Is(err, source.ErrTooLarge) || !strings.Contains(err.Error(), "big") {
		t.Errorf("err %v, want ErrTooLarge naming the entry", err)
	}
}

func TestPin(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	first, err := reg.PushArtifact("app", "v1", helmrepo.Artifact{Files: map[string]string{"v": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushArtifact("app", "v1", helmrepo.Artifact{Files: map[string]string{"v": "2"}}); err != nil {
		t.Fatal(err)
	}
	o, err := oci.Pin(oci.Options{URL: reg.URL("app"), Ref: oci.Ref{Tag: "v1"}, Auth: creds}, source.Revision("v1@"+first))
	if err != nil {
		t.Fatal(err)
	}
	art, rev, err := fetch(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if rev != source.Revision("v1@"+first) || !cmp.Equal(tree(t, art.Dir), []string{"v: 1"}) {
		t.Errorf("pinned: revision %s, tree %v", rev, tree(t, art.Dir))
	}
	if _, err := oci.Pin(o, "v1"); !errors.Is(err, source.ErrInvalidOptions) {
		t.Errorf("a revision without digest pinned: %v", err)
	}
}

// keyPair returns a signer and its PEM public key.
func keyPair(t *testing.T, kind string) (crypto.Signer, []byte) {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestCosignVerification(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	signer, pub := keyPair(t, "ecdsa")
	other, otherPub := keyPair(t, "ecdsa")
	push := func(repo string) string {
		d, err := reg.PushArtifact(repo, "latest", helmrepo.Artifact{Files: map[string]string{"repo.txt": repo}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	opts := func(repo string, keys map[string][]byte) oci.Options {
		return oci.Options{URL: reg.URL(repo), Auth: creds, Verify: &oci.Verification{Provider: oci.ProviderCosign, Keys: keys}}
	}

	signed := push("signed")
	if err := reg.SignCosign("signed", signed, signer, ""); err != nil {
		t.Fatal(err)
	}
	art, _, err := fetch(t, opts("signed", map[string][]byte{"cosign.pub": pub}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(art.VerifiedBy, "cosign cosign.pub sha256:") {
		t.Errorf("verified %q", art.VerifiedBy)
	}
	// Any of several keys; keys not named *.pub are ignored.
	art, _, err = fetch(t, opts("signed", map[string][]byte{"a.pub": otherPub, "b.pub": pub, "notes.txt": []byte("x")}))
	if err != nil || !strings.HasPrefix(art.VerifiedBy, "cosign b.pub ") {
		t.Errorf("second key: %v, %v", art, err)
	}

	for _, tt := range []struct {
		name, repo string
		keys       map[string][]byte
		sign       func(digest string) error
		want       []string
	}{
		{"unsigned", "unsigned", map[string][]byte{"cosign.pub": pub}, nil, []string{"is not signed", "cosign.pub (sha256:"}},
		{"unknown key", "other-key", map[string][]byte{"cosign.pub": pub},
			func(d string) error { return reg.SignCosign("other-key", d, other, "") }, []string{"by none of the keys", "cosign.pub (sha256:"}},
		{"signature of another artifact", "copied", map[string][]byte{"cosign.pub": pub},
			func(d string) error { return reg.SignCosign("copied", d, signer, signed) }, []string{"signs \"" + signed + "\", not this artifact"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := push(tt.repo)
			if tt.sign != nil {
				if err := tt.sign(d); err != nil {
					t.Fatal(err)
				}
			}
			art, _, err := fetch(t, opts(tt.repo, tt.keys))
			if !errors.Is(err, source.ErrVerification) {
				t.Fatalf("err %v, want ErrVerification", err)
			}
			for _, w := range append(tt.want, d) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if art != nil {
				t.Errorf("an artifact was returned: %+v", art)
			}
		})
	}

	// RSA and Ed25519 keys, as cosign signs with them.
	for _, kind := range []string{"rsa", "ed25519"} {
		k, p := keyPair(t, kind)
		d := push(kind)
		if err := reg.SignCosign(kind, d, k, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := fetch(t, opts(kind, map[string][]byte{kind + ".pub": p})); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}

	// Keys that are not keys are refused before anything is sent.
	_, err = oci.Resolve(t.Context(), opts("signed", map[string][]byte{"cosign.pub": []byte("garbage")}))
	if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "cosign.pub") {
		t.Errorf("bad key: %v", err)
	}
	_, err = oci.Resolve(t.Context(), opts("signed", map[string][]byte{"readme": []byte("x")}))
	if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "no public key") {
		t.Errorf("no key: %v", err)
	}
}

// TestContentDigestFollowsKeys checks that the trusted keys are part of
// the source's content digest: a changed key set makes a run verify again.
func TestContentDigestFollowsKeys(t *testing.T) {
	digest := func(keys map[string][]byte) string {
		src := oci.NewSource(oci.Options{URL: "oci://r.example/app", Verify: &oci.Verification{Provider: oci.ProviderCosign, Keys: keys}})
		cd, ok := src.(source.ContentDigester)
		if !ok {
			t.Fatal("a verified source is no ContentDigester")
		}
		return cd.ContentDigest("latest@sha256:00")
	}
	a, b := digest(map[string][]byte{"cosign.pub": []byte("A")}), digest(map[string][]byte{"cosign.pub": []byte("B")})
	if a == "" || a == b || a != digest(map[string][]byte{"cosign.pub": []byte("A")}) {
		t.Errorf("digests %q %q", a, b)
	}
	if _, ok := oci.NewSource(oci.Options{URL: "oci://r.example/app"}).(source.ContentDigester); ok {
		t.Error("an unverified source has a content digest")
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, o := range map[string]oci.Options{
		"no scheme":      {URL: "r.example/app"},
		"tag in url":     {URL: "oci://r.example/app:v1"},
		"creds in url":   {URL: "oci://u:S3CRET@r.example/app"},
		"no repo":        {URL: "oci://r.example"},
		"bad digest":     {URL: "oci://r.example/app", Ref: oci.Ref{Digest: "sha256:zz"}},
		"bad semver":     {URL: "oci://r.example/app", Ref: oci.Ref{SemVer: "not a range"}},
		"bad filter":     {URL: "oci://r.example/app", Ref: oci.Ref{SemVer: "*", SemverFilter: "("}},
		"bad tag":        {URL: "oci://r.example/app", Ref: oci.Ref{Tag: "-x"}},
		"long tag":       {URL: "oci://r.example/app", Ref: oci.Ref{Tag: strings.Repeat("t", 129)}},
		"bad operation":  {URL: "oci://r.example/app", Layer: oci.LayerSelector{Operation: "unpack"}},
		"other provider": {URL: "oci://r.example/app", Verify: &oci.Verification{Provider: "notation"}},
	} {
		_, err := oci.Resolve(t.Context(), o)
		if !errors.Is(err, source.ErrInvalidOptions) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

// BenchmarkFetch measures a fetch of a small artifact with and without
// cosign verification: what the verification costs in time and memory
// (the signature manifest, one payload, one ECDSA check).
func BenchmarkFetch(b *testing.B) {
	reg, creds, d := benchArtifact(b)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	if err := reg.SignCosign("app", d, k, ""); err != nil {
		b.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, verify := range []bool{false, true} {
		b.Run(fmt.Sprintf("verify=%v", verify), func(b *testing.B) {
			o := oci.Options{URL: reg.URL("app"), Auth: creds}
			if verify {
				o.Verify = &oci.Verification{Provider: oci.ProviderCosign, Keys: map[string][]byte{"cosign.pub": pub}}
			}
			b.ReportAllocs()
			for b.Loop() {
				dir := filepath.Join(b.TempDir(), "art")
				if err := os.Mkdir(dir, 0o700); err != nil {
					b.Fatal(err)
				}
				if _, err := oci.Fetch(b.Context(), o, source.Revision("latest@"+d), dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchArtifact starts a registry for a benchmark and pushes the test
// files to it as app:latest: the registry, its credentials and the
// artifact's digest.
func benchArtifact(b *testing.B) (*helmrepo.Registry, source.Credentials, string) {
	b.Helper()
	reg, err := helmrepo.StartRegistry(b.Context(), helmrepo.RegistryOptions{Username: user, Password: password})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close() })
	creds := source.Credentials{Username: user, Password: password, CAPEM: reg.CA().CertPEM}
	d, err := reg.PushArtifact("app", "latest", helmrepo.Artifact{Files: files})
	if err != nil {
		b.Fatal(err)
	}
	return reg, creds, d
}
