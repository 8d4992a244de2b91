package syncrun

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

const regUser, regPassword = "ci", "registry-pw"

// ociFixture is a sync of an OCI artifact in its own namespace, fed by
// its own registry.
type ociFixture struct {
	*fixture
	reg   *helmrepo.Registry
	creds source.Credentials
}

func newOCIFixture(t *testing.T, wrap func(http.Handler) http.Handler) *ociFixture {
	t.Helper()
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: regUser, Password: regPassword, Wrap: wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	f := &ociFixture{
		fixture: &fixture{t: t, ns: env.NewNamespace(t), name: "app"},
		reg:     reg,
		creds:   source.Credentials{Username: regUser, Password: regPassword, CAPEM: reg.CA().CertPEM},
	}
	return f
}

// push packs files with the package API behind `push artifact` and
// pushes them to app:latest.
func (f *ociFixture) push(files map[string]string) string {
	f.t.Helper()
	dir := f.t.TempDir()
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	pushed, err := oci.Push(f.t.Context(), oci.PushOptions{
		URL: f.reg.URL("app") + ":latest", Path: dir, Source: "https://git.example/app.git", Revision: "main@sha1:0123",
		Client: registry.Client{Auth: f.creds},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return pushed.Digest
}

// secret creates or replaces a Secret of the sync's namespace.
func (f *ociFixture) secret(name string, data map[string]string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, StringData: data}
	secrets := env.Client().CoreV1().Secrets(f.ns)
	if _, err := secrets.Get(f.t.Context(), name, metav1.GetOptions{}); err == nil {
		_ = secrets.Delete(f.t.Context(), name, metav1.DeleteOptions{})
	}
	if _, err := secrets.Create(f.t.Context(), s, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// dockerConfig is a .dockerconfigjson for the registry with user and pw.
func (f *ociFixture) dockerConfig(user, pw string) string {
	b, err := json.Marshal(map[string]any{"auths": map[string]any{
		f.reg.Host(): map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))},
	}})
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// installOCI writes the spec; extra is YAML under spec.source.oci.
func (f *ociFixture) installOCI(extra string) {
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: %s, namespace: %s}
spec:
  source:
    oci:
      url: %s
      ref: {tag: latest}
      secretRef: {name: registry}
%s
  path: ./deploy
`, f.name, f.ns, f.reg.URL("app"), extra))
}

// state is what a failed run must leave as it was: the applied objects
// and the sync's inventory and last applied state. (The last run's record
// is the failed run's.)
type state struct {
	Value                 string
	Entries               []inventory.Entry
	LastApplied, Verified string
	LastAppliedSpecDigest string
}

// refusedRun returns a check that the next run fails with a message
// saying each of want, and leaves the state of ConfigMap cmName as it is
// now.
func (f *ociFixture) refusedRun(cmName string) func(what string, want ...string) {
	t := f.t
	before := f.state(cmName)
	return func(what string, want ...string) {
		t.Helper()
		res := f.run()
		if res.Outcome != Failed {
			t.Fatalf("%s: outcome %s, want Failed", what, res.Outcome)
		}
		for _, w := range want {
			if !strings.Contains(res.Message, w) {
				t.Errorf("%s: message %q does not say %q", what, res.Message, w)
			}
		}
		if diff := cmp.Diff(before, f.state(cmName)); diff != "" {
			t.Errorf("%s: the refused run changed the state (-before +after):\n%s", what, diff)
		}
	}
}

func (f *ociFixture) state(cmName string) state {
	f.t.Helper()
	c, err := f.configMap(cmName)
	if err != nil {
		f.t.Fatal(err)
	}
	inv := f.inventory()
	return state{Value: c.Data["value"], Entries: inv.Entries, LastApplied: inv.Record.LastAppliedRevision,
		LastAppliedSpecDigest: inv.Record.LastAppliedSpecDigest}
}

func TestOCIArtifact(t *testing.T) {
	f := newOCIFixture(t, nil)
	f.secret("registry", map[string]string{".dockerconfigjson": f.dockerConfig(regUser, regPassword), "ca.crt": string(f.reg.CA().CertPEM)})
	d1 := f.push(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1"), "README.md": "not applied"})
	f.installOCI("")

	res := f.run()
	f.mustSucceed(res)
	if res.Revision != "latest@"+d1 || !res.Rendered {
		t.Errorf("revision %s (rendered %v), want latest@%s", res.Revision, res.Rendered, d1)
	}
	f.mustHave("a", "b")

	// Nothing changed: one registry request, no download, no render.
	f.reg.ResetRequests()
	res = f.run()
	f.mustSucceed(res)
	if res.Rendered {
		t.Error("an unchanged artifact was rendered again")
	}
	if diff := cmp.Diff([]string{"HEAD /v2/app/manifests/latest"}, f.reg.Requests()); diff != "" {
		t.Errorf("registry requests of an unchanged run (-want +got):\n%s", diff)
	}

	// A new artifact under the same tag: a changes, b is pruned.
	d2 := f.push(map[string]string{"deploy/a.yaml": cm("a", "2")})
	res = f.run()
	f.mustSucceed(res)
	if res.Revision != "latest@"+d2 {
		t.Errorf("revision %s, want latest@%s", res.Revision, d2)
	}
	if c, _ := f.configMap("a"); c == nil || c.Data["value"] != "2" {
		t.Errorf("a not updated: %v", c)
	}
	f.mustNotHave("b")
	before := f.state("a")

	// Wrong credentials are refused, naming the reason, not the password.
	d3 := f.push(map[string]string{"deploy/a.yaml": cm("a", "3")})
	f.secret("registry", map[string]string{".dockerconfigjson": f.dockerConfig(regUser, "WRONG-PW"), "ca.crt": string(f.reg.CA().CertPEM)})
	res = f.run()
	if res.Outcome != Failed || !strings.Contains(res.Message, "authentication failed") || strings.Contains(res.Message, "WRONG-PW") {
		t.Errorf("wrong password: %s: %s", res.Outcome, res.Message)
	}
	if diff := cmp.Diff(before, f.state("a")); diff != "" {
		t.Errorf("a refused run changed the state (-before +after):\n%s", diff)
	}

	// A registry whose certificate is not trusted is refused.
	f.secret("registry", map[string]string{"username": regUser, "password": regPassword})
	res = f.run()
	if res.Outcome != Failed || !strings.Contains(res.Message, "certificate") {
		t.Errorf("untrusted certificate: %s: %s", res.Outcome, res.Message)
	}
	if diff := cmp.Diff(before, f.state("a")); diff != "" {
		t.Errorf("a refused run changed the state (-before +after):\n%s", diff)
	}

	// Basic auth from username and password, with the CA: applied.
	f.secret("registry", map[string]string{"username": regUser, "password": regPassword, "ca.crt": string(f.reg.CA().CertPEM)})
	res = f.run()
	f.mustSucceed(res)
	if c, _ := f.configMap("a"); res.Revision != "latest@"+d3 || c.Data["value"] != "3" {
		t.Errorf("revision %s, value %q", res.Revision, c.Data["value"])
	}
}

// signer is a cosign key pair.
type signer struct {
	key *ecdsa.PrivateKey
	pub string // PEM, as cosign.pub
}

func newSigner(t *testing.T) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, pub: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

func TestOCIVerification(t *testing.T) {
	var tamper string // the blob digest the registry's man in the middle flips a byte of
	f := newOCIFixture(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tamper == "" || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+tamper) {
				next.ServeHTTP(w, r)
				return
			}
			rec := &bodyRecorder{header: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			if n := len(rec.body); n > 40 {
				rec.body[n-30] ^= 0xff
			}
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body)
		})
	})
	trusted, stranger := newSigner(t), newSigner(t)
	f.secret("registry", map[string]string{"username": regUser, "password": regPassword, "ca.crt": string(f.reg.CA().CertPEM)})
	f.secret("cosign-keys", map[string]string{"cosign.pub": trusted.pub})
	f.installOCI("      verify: {provider: cosign, secretRef: {name: cosign-keys}}")

	d1 := f.push(map[string]string{"deploy/a.yaml": cm("a", "1")})
	if err := f.reg.SignCosign("app", d1, trusted.key, ""); err != nil {
		t.Fatal(err)
	}
	res := f.run()
	f.mustSucceed(res)
	inv := f.inventory()
	if !strings.HasPrefix(res.VerifiedBy, "cosign cosign.pub sha256:") || inv.Record.LastRun.VerifiedBy != res.VerifiedBy {
		t.Errorf("verified %q, recorded %q", res.VerifiedBy, inv.Record.LastRun.VerifiedBy)
	}
	// Unchanged: the drift check only, and the record keeps the key.
	res = f.run()
	f.mustSucceed(res)
	if res.Rendered || f.inventory().Record.LastRun.VerifiedBy != inv.Record.LastRun.VerifiedBy {
		t.Errorf("unchanged run: rendered %v, recorded key %q", res.Rendered, f.inventory().Record.LastRun.VerifiedBy)
	}
	refused := f.refusedRun("a")

	// Unsigned.
	d2 := f.push(map[string]string{"deploy/a.yaml": cm("a", "unsigned")})
	refused("unsigned", d2, "is not signed", "cosign.pub (sha256:")

	// Signed by a key the sync does not trust.
	if err := f.reg.SignCosign("app", d2, stranger.key, ""); err != nil {
		t.Fatal(err)
	}
	refused("unknown key", d2, "by none of the keys", "cosign.pub (sha256:")

	// Signed by the trusted key, but the layer is tampered with on the way.
	d3 := f.push(map[string]string{"deploy/a.yaml": cm("a", "tampered")})
	if err := f.reg.SignCosign("app", d3, trusted.key, ""); err != nil {
		t.Fatal(err)
	}
	tamper = ociLayerDigest(t, f, d3)
	refused("tampered layer", tamper, "digest mismatch")
	tamper = ""

	// The same artifact, untampered, is applied.
	res = f.run()
	f.mustSucceed(res)
	if c, _ := f.configMap("a"); c.Data["value"] != "tampered" || res.Revision != "latest@"+d3 {
		t.Errorf("revision %s, value %q", res.Revision, c.Data["value"])
	}

	// A changed key set verifies again: the revision did not change, the
	// run fetches and fails, because the new key did not sign it.
	refused = f.refusedRun("a")
	f.secret("cosign-keys", map[string]string{"cosign.pub": stranger.pub})
	refused("revoked key", d3, "by none of the keys")
}

// ociLayerDigest returns the digest of the first layer of the manifest
// digest in the fixture's registry.
func ociLayerDigest(t *testing.T, f *ociFixture, digest string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "x")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	art, err := oci.Fetch(t.Context(), oci.Options{URL: f.reg.URL("app"), Auth: f.creds, Layer: oci.LayerSelector{Operation: oci.OperationCopy}},
		source.Revision(digest), dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, art.Path))
	if err != nil {
		t.Fatal(err)
	}
	return sha256Digest(data)
}

type bodyRecorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *bodyRecorder) Header() http.Header { return r.header }
func (r *bodyRecorder) WriteHeader(s int)   { r.status = s }
func (r *bodyRecorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
