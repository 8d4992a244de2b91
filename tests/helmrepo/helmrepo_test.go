package helmrepo

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

func testChart(version string) Chart {
	return Chart{
		Name:    "demo",
		Version: version,
		Values:  "replicas: 1\n",
		Templates: map[string]string{
			"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
		},
		CRDs: map[string]string{"crd.yaml": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"},
		Subcharts: []Chart{{Name: "sub", Version: "0.1.0", Templates: map[string]string{
			"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
		}}},
		Dependencies: []Dependency{{Name: "sub", Version: "0.1.x"}},
		Lock:         true,
	}
}

func httpsClient(ca *CA) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}
}

func TestPackageIsReproducibleAndLoadable(t *testing.T) {
	a, err := testChart("1.0.0").Package()
	if err != nil {
		t.Fatal(err)
	}
	b, err := testChart("1.0.0").Package()
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Error("packaging the same chart twice gave different bytes")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "demo.tgz")
	if err := os.WriteFile(p, a, 0o600); err != nil {
		t.Fatal(err)
	}
	ch, err := chartloader.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{ch.Name(), ch.Metadata.Version, ch.Dependencies()[0].Name(), ch.CRDObjects()[0].Name}
	if d := cmp.Diff([]string{"demo", "1.0.0", "sub", "crds/crd.yaml"}, got); d != "" {
		t.Errorf("loaded chart (-want +got):\n%s", d)
	}
	if ch.Lock == nil || len(ch.Lock.Dependencies) != 1 || ch.Lock.Dependencies[0].Version != "0.1.0" {
		t.Errorf("Chart.lock: %+v", ch.Lock)
	}

	// WriteDir gives a directory Helm loads as the same chart.
	if err := testChart("1.0.0").WriteDir(filepath.Join(dir, "src")); err != nil {
		t.Fatal(err)
	}
	ch2, err := chartloader.Load(filepath.Join(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	if ch2.Name() != "demo" || len(ch2.Dependencies()) != 1 || len(ch2.Templates) != 1 {
		t.Errorf("directory chart: name %s, %d deps, %d templates", ch2.Name(), len(ch2.Dependencies()), len(ch2.Templates))
	}
}

func TestRepoServesIndexAndPackages(t *testing.T) {
	r, err := StartRepo(RepoOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("r.Close: %v", err)
		}
	})
	digest, err := r.Publish(testChart("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(testChart("1.1.0")); err != nil {
		t.Fatal(err)
	}
	client := httpsClient(r.CA())

	get := func(name string, auth bool) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL()+"/"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth("u", "p")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	if code, _ := get("index.yaml", false); code != http.StatusUnauthorized {
		t.Errorf("index without credentials: status %d, want 401", code)
	}
	code, idx := get("index.yaml", true)
	if code != http.StatusOK {
		t.Fatalf("index: status %d", code)
	}
	// Helm itself reads the index.
	p := filepath.Join(t.TempDir(), "index.yaml")
	if err := os.WriteFile(p, idx, 0o600); err != nil {
		t.Fatal(err)
	}
	index, err := repo.LoadIndexFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := index.Get("demo", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if cv.Digest != digest || cv.URLs[0] != r.URL()+"/demo-1.0.0.tgz" {
		t.Errorf("index entry: digest %s url %s; want %s %s", cv.Digest, cv.URLs[0], digest, r.URL()+"/demo-1.0.0.tgz")
	}
	code, tgz := get("demo-1.0.0.tgz", true)
	sum := sha256.Sum256(tgz)
	if code != http.StatusOK || hex.EncodeToString(sum[:]) != digest {
		t.Errorf("package: status %d, digest %x, want %s", code, sum, digest)
	}
	if n := r.Requests("index.yaml"); n != 2 {
		t.Errorf("index requests = %d, want 2", n)
	}
}

func TestRegistryAcceptsHelmPush(t *testing.T) {
	reg, err := StartRegistry(t.Context(), RegistryOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("reg.Close: %v", err)
		}
	})
	d1, err := reg.Push("charts", testChart("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("charts", testChart("1.2.0")); err != nil {
		t.Fatal(err)
	}
	client, err := registry.NewClient(
		registry.ClientOptHTTPClient(httpsClient(reg.CA())),
		registry.ClientOptBasicAuth("u", "p"),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "creds.json")),
	)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := client.Tags(reg.Host() + "/charts/demo")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"1.2.0", "1.0.0"}, tags); d != "" {
		t.Errorf("tags (-want +got):\n%s", d)
	}
	res, err := client.Pull(reg.Host() + "/charts/demo:1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Digest != d1 || res.Chart.Meta.Version != "1.0.0" {
		t.Errorf("pull: digest %s version %s, want %s 1.0.0", res.Manifest.Digest, res.Chart.Meta.Version, d1)
	}

	// Without credentials the registry refuses.
	anon, err := registry.NewClient(
		registry.ClientOptHTTPClient(httpsClient(reg.CA())),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "creds.json")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Tags(reg.Host() + "/charts/demo"); err == nil {
		t.Error("anonymous tag listing succeeded, want an authentication error")
	}
}
