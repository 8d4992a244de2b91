package syncrun

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/s3test"
)

// Flux sources other than the sync's own repository, as units read them:
// OCIRepository and Bucket as a Kustomization's sourceRef, and a
// GitRepository with verify, ignore and include.

// sourceKustomization is a Flux Kustomization of path in the source
// kind/name of namespace NS.
func sourceKustomization(name, path, kind, source string) string {
	return fmt.Sprintf(`---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: NS}
spec:
  interval: 10m
  path: %s
  prune: true
  sourceRef: {kind: %s, name: %s}
`, name, path, kind, source)
}

// startRegistry starts an OCI registry with the test login.
func startRegistry(t *testing.T) *helmrepo.Registry {
	t.Helper()
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: regUser, Password: regPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	return reg
}

// pushArtifact pushes files as a Flux artifact (what `flux push artifact`
// and `kubectl gitsync push artifact` push) to repo:latest.
func pushArtifact(t *testing.T, reg *helmrepo.Registry, repo string, files map[string]string) string {
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
	pushed, err := oci.Push(t.Context(), oci.PushOptions{
		URL: reg.URL(repo) + ":latest", Path: dir, Source: "https://git.example/app.git", Revision: "main@sha1:0123",
		Client: registry.Client{Auth: source.Credentials{Username: regUser, Password: regPassword, CAPEM: reg.CA().CertPEM}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pushed.Digest
}

// dockerConfigFor is a .dockerconfigjson for reg with the test login.
func dockerConfigFor(t *testing.T, reg *helmrepo.Registry) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"auths": map[string]any{
		reg.Host(): map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPassword))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configValue returns ConfigMap name's value, failing the test when it is
// missing.
func (f *fixture) configValue(name string) string {
	f.t.Helper()
	c, err := f.configMap(name)
	if err != nil {
		f.t.Fatalf("ConfigMap %s: %v", name, err)
	}
	return c.Data["value"]
}

// TestFluxOCIRepositorySource: two Kustomizations read one OCIRepository
// with cosign verification, ignore rules and its credentials in
// secretRef and certSecretRef. The artifact is resolved once per run
// however many units read it; an unsigned artifact fails both units,
// naming the OCIRepository, and applies nothing.
func TestFluxOCIRepositorySource(t *testing.T) {
	reg := startRegistry(t)
	trusted := newSigner(t)
	d1 := pushArtifact(t, reg, "app", map[string]string{
		"deploy/a.yaml":       cm("a", "1"),
		"deploy/ignored.yaml": cm("ignored", "1"),
		"other/b.yaml":        cm("b", "1"),
	})
	if err := reg.SignCosign("app", d1, trusted.key, ""); err != nil {
		t.Fatal(err)
	}
	ociRepository := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  url: %s
  ref: {tag: latest}
  secretRef: {name: registry}
  certSecretRef: {name: registry-tls}
  verify: {provider: cosign, secretRef: {name: cosign-keys}}
  ignore: /deploy/ignored.yaml
`, reg.URL("app"))
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/oci.yaml":                   ociRepository,
		"clusters/test/units.yaml": sourceKustomization("oci-a", "./deploy", "OCIRepository", "app") +
			sourceKustomization("oci-b", "./other", "OCIRepository", "app"),
	})
	registrySecrets(f, reg, trusted)

	reg.ResetRequests()
	res := f.run()
	mustUnitsSucceed(t, res)
	for _, name := range []string{"oci-a", "oci-b"} {
		if u := units(res)["Kustomization/"+f.ns+"/"+name]; !u.Rendered || u.Revision != "latest@"+d1 {
			t.Errorf("%s: rendered %v, revision %s; want latest@%s", name, u.Rendered, u.Revision, d1)
		}
	}
	f.mustHave("a", "b")
	f.mustNotHave("ignored")
	resolves := func() int {
		return len(slices.DeleteFunc(reg.Requests(), func(r string) bool { return !strings.HasSuffix(r, "/v2/app/manifests/latest") }))
	}
	if n := resolves(); n != 1 {
		t.Errorf("the tag was resolved %d times for two units, want once: %v", n, reg.Requests())
	}

	// Unsigned: both units fail naming the source, nothing changes.
	d2 := pushArtifact(t, reg, "app", map[string]string{"deploy/a.yaml": cm("a", "2"), "other/b.yaml": cm("b", "2")})
	res = f.run()
	if res.Outcome != Failed {
		t.Fatalf("unsigned artifact: outcome %s", res.Outcome)
	}
	for _, name := range []string{"oci-a", "oci-b"} {
		u := units(res)["Kustomization/"+f.ns+"/"+name]
		if u.Outcome != Failed || !strings.Contains(u.Message, "OCIRepository/"+f.ns+"/app") ||
			!strings.Contains(u.Message, "is not signed") || !strings.Contains(u.Message, d2) {
			t.Errorf("%s: %s: %s", name, u.Outcome, u.Message)
		}
	}
	if a, b := f.configValue("a"), f.configValue("b"); a != "1" || b != "1" {
		t.Errorf("an unsigned artifact was applied: a=%s b=%s", a, b)
	}

	// Signed: applied.
	if err := reg.SignCosign("app", d2, trusted.key, ""); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	mustUnitsSucceed(t, res)
	if a, b := f.configValue("a"), f.configValue("b"); a != "2" || b != "2" {
		t.Errorf("the signed artifact was not applied: a=%s b=%s", a, b)
	}

	// The OCIRepository's ignore rules change, the artifact does not: the
	// units render again, and what was ignored is applied.
	d3 := pushArtifact(t, reg, "app", map[string]string{"deploy/a.yaml": cm("a", "2"), "deploy/ignored.yaml": cm("ignored", "1"), "other/b.yaml": cm("b", "2")})
	if err := reg.SignCosign("app", d3, trusted.key, ""); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	mustUnitsSucceed(t, res)
	f.mustNotHave("ignored")
	f.commit(expandNS(map[string]string{"clusters/test/oci.yaml": strings.Replace(ociRepository, "  ignore: /deploy/ignored.yaml\n", "", 1)}, f.ns))
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)["Kustomization/"+f.ns+"/oci-a"]; !u.Rendered || u.Revision != "latest@"+d3 {
		t.Errorf("changed ignore rules: rendered %v, revision %s", u.Rendered, u.Revision)
	}
	f.mustHave("ignored")
}

// TestFluxBucketSource: a Kustomization and a HelmRelease (a chart
// directory) read a Bucket of a real S3 server with the access keys in
// secretRef and the CA in certSecretRef; an unchanged bucket costs one
// listing for both and no render.
func TestFluxBucketSource(t *testing.T) {
	if os.Getenv(s3test.BinaryEnv) == "" {
		if _, err := s3test.Binary(); err != nil {
			t.Skipf("%s is not set and no S3 server is built: %v", s3test.BinaryEnv, err)
		}
	}
	s3 := s3test.StartTest(t, s3test.Options{TLS: true})
	if err := s3.CreateBucket(t.Context(), "config"); err != nil {
		t.Fatal(err)
	}
	if err := s3.Put(t.Context(), "config", map[string]string{
		"apps/deploy/a.yaml":                    cm("a", "1"),
		"apps/deploy/b.yaml":                    cm("b", "1"),
		"apps/deploy/skip.yml":                  cm("skip", "1"),
		"other/c.yaml":                          cm("c", "1"),
		"apps/charts/app/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"apps/charts/app/values.yaml":           "value: one\n",
		"apps/charts/app/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-config'}\ndata: {value: '{{ .Values.value }}'}\n",
	}); err != nil {
		t.Fatal(err)
	}
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/bucket.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: Bucket
metadata: {name: config, namespace: NS}
spec:
  interval: 5m
  provider: generic
  endpoint: %s
  bucketName: config
  prefix: apps/
  secretRef: {name: s3-keys}
  certSecretRef: {name: s3-tls}
  ignore: "*.yml"
`, s3.Endpoint()),
		"clusters/test/units.yaml": sourceKustomization("from-bucket", "./apps/deploy", "Bucket", "config") + `---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: chart, namespace: NS}
spec:
  interval: 5m
  chart:
    spec:
      chart: ./apps/charts/app
      sourceRef: {kind: Bucket, name: config}
`,
	})
	ak, sk := s3.ReaderKeys()
	f.secret("s3-keys", map[string][]byte{"accesskey": []byte(ak), "secretkey": []byte(sk)})
	f.secret("s3-tls", map[string][]byte{"ca.crt": s3.CA().CertPEM})
	id := "Kustomization/" + f.ns + "/from-bucket"

	res := f.run()
	mustUnitsSucceed(t, res)
	first := units(res)[id]
	if !first.Rendered || !strings.HasPrefix(first.Revision, "sha256:") {
		t.Errorf("first run: %+v", first)
	}
	f.mustHave("a", "b")
	f.mustNotHave("skip", "c")
	if v := f.configValue("chart-config"); v != "one" {
		t.Errorf("the chart from the bucket rendered value %q, want one", v)
	}
	if u := units(res)["HelmRelease/"+f.ns+"/chart"]; !strings.HasPrefix(u.Revision, "0.1.0@sha256:") {
		t.Errorf("HelmRelease revision %s, want 0.1.0@<the bucket's digest>", u.Revision)
	}

	s3.ResetRequests()
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[id]; u.Rendered || u.Revision != first.Revision {
		t.Errorf("unchanged bucket: rendered %v, revision %s (was %s)", u.Rendered, u.Revision, first.Revision)
	}
	if reqs := s3.Requests(); !maps.Equal(reqs, map[string]int{"LIST": 1}) {
		t.Errorf("unchanged bucket read by two units: the run sent %v, want one LIST", reqs)
	}

	if err := s3.Put(t.Context(), "config", map[string]string{"apps/deploy/a.yaml": cm("a", "2")}); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[id]; !u.Rendered || u.Revision == first.Revision {
		t.Errorf("changed bucket: %+v", u)
	}
	if v := f.configValue("a"); v != "2" {
		t.Errorf("a = %s, want 2", v)
	}

	// Wrong keys: the unit fails naming the Bucket; nothing changes.
	f.secret("s3-keys", map[string][]byte{"accesskey": []byte(ak), "secretkey": []byte("WRONG-SECRET")})
	if err := s3.Put(t.Context(), "config", map[string]string{"apps/deploy/a.yaml": cm("a", "3")}); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	u := units(res)[id]
	if u.Outcome != Failed || !strings.Contains(u.Message, "Bucket/"+f.ns+"/config") || strings.Contains(u.Message, "WRONG-SECRET") {
		t.Errorf("wrong keys: %s: %s", u.Outcome, u.Message)
	}
	if v := f.configValue("a"); v != "2" {
		t.Errorf("a = %s after a refused run, want 2", v)
	}
}

// TestFluxGitRepositoryVerify: a GitRepository with verify, ignore and
// include. A signed commit is applied with the included repository's
// files and without the ignored ones; an unsigned commit fails every unit
// that reads the repository, naming the commit, and applies nothing, not
// even what changed in the included repository.
func TestFluxGitRepositoryVerify(t *testing.T) {
	alicePub, _, alice := pgpSigner(t, "alice")
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": sourceKustomization("app", "./deploy", "GitRepository", "app") +
			sourceKustomization("lib", "./vendor/lib", "GitRepository", "app"),
	})
	ctx := t.Context()
	app, err := f.git.CreateRepo(ctx, "signed")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := f.git.CreateRepo(ctx, "lib")
	if err != nil {
		t.Fatal(err)
	}
	commit := func(r *gitserver.Repo, files map[string]string, sign gitserver.Signer) string {
		t.Helper()
		id, err := r.Commit(ctx, "update", files)
		if err == nil && sign != nil {
			id, err = r.SignHead(ctx, sign)
		}
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	commit(lib, map[string]string{"deploy/c.yaml": cm("c", "1"), "README.md": "not copied"}, nil)
	commit(app, map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/ignored.yaml": cm("ignored", "1")}, alice)
	f.commit(expandNS(map[string]string{"clusters/test/sources.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: app, namespace: NS}
spec:
  interval: 1m
  url: %s
  ref: {branch: main}
  secretRef: {name: git-ca}
  verify: {mode: HEAD, secretRef: {name: signers}}
  ignore: /deploy/ignored.yaml
  include:
  - repository: {name: lib}
    fromPath: deploy
    toPath: vendor/lib
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: lib, namespace: NS}
spec:
  interval: 1m
  url: %s
  ref: {branch: main}
  secretRef: {name: git-ca}
`, f.git.HTTPSURL("signed"), f.git.HTTPSURL("lib"))}, f.ns))
	f.secret("signers", map[string][]byte{"alice.asc": alicePub})
	f.secret("git-ca", map[string][]byte{"ca.crt": f.git.CACert()})

	res := f.run()
	mustUnitsSucceed(t, res)
	f.mustHave("a", "c")
	f.mustNotHave("ignored")

	// An unsigned commit: both units fail, naming the commit; the
	// included repository's change is not applied either.
	commit(lib, map[string]string{"deploy/c.yaml": cm("c", "2")}, nil)
	id := commit(app, map[string]string{"deploy/a.yaml": cm("a", "2")}, nil)
	res = f.run()
	if res.Outcome != Failed {
		t.Fatalf("unsigned commit: outcome %s", res.Outcome)
	}
	for _, name := range []string{"app", "lib"} {
		u := units(res)["Kustomization/"+f.ns+"/"+name]
		if u.Outcome != Failed || !strings.Contains(u.Message, "GitRepository/"+f.ns+"/app") ||
			!strings.Contains(u.Message, "is not signed") || !strings.Contains(u.Message, id) {
			t.Errorf("%s: %s: %s", name, u.Outcome, u.Message)
		}
	}
	if a, c := f.configValue("a"), f.configValue("c"); a != "1" || c != "1" {
		t.Errorf("an unsigned commit was applied: a=%s c=%s", a, c)
	}

	// Signed again: applied, with the include's change.
	commit(app, map[string]string{"deploy/a.yaml": cm("a", "3")}, alice)
	res = f.run()
	mustUnitsSucceed(t, res)
	if a, c := f.configValue("a"), f.configValue("c"); a != "3" || c != "2" {
		t.Errorf("signed commit: a=%s c=%s, want 3 and 2", a, c)
	}
}

// registrySecrets creates the Secrets the OCI tests' sources name:
// registry (its login), registry-tls (its CA) and cosign-keys (trusted's
// public key).
func registrySecrets(f *fixture, reg *helmrepo.Registry, trusted signer) {
	f.t.Helper()
	f.secret("registry", map[string][]byte{".dockerconfigjson": dockerConfigFor(f.t, reg)})
	f.secret("registry-tls", map[string][]byte{"ca.crt": reg.CA().CertPEM})
	f.secret("cosign-keys", map[string][]byte{"cosign.pub": []byte(trusted.pub)})
}

// chartPusher returns a function that pushes version of the chart app to
// reg's repository charts/app, as `helm push` does, and signs it with
// signer when asked; it returns the manifest's digest.
func chartPusher(t *testing.T, reg *helmrepo.Registry, signer signer) func(version string, sign bool) string {
	return func(version string, sign bool) string {
		t.Helper()
		d, err := reg.Push("charts", valueChart("app", version))
		if err == nil && sign {
			err = reg.SignCosign("charts/app", d, signer.key, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
}

// TestFluxChartRefOCIRepository: a HelmRelease's chartRef to an
// OCIRepository holding charts pushed as `helm push` does, selected by
// semver with semverFilter and verified with cosign: the chart layer is
// pulled, verified and rendered; a new matching version is rendered; an
// unsigned one fails the unit naming the OCIRepository, applying nothing.
func TestFluxChartRefOCIRepository(t *testing.T) {
	reg := startRegistry(t)
	trusted := newSigner(t)
	push := chartPusher(t, reg, trusted)
	d1 := push("1.0.0", true)
	push("1.5.0-rc.1", true) // filtered out by semverFilter
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/release.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: app-chart, namespace: NS}
spec:
  interval: 5m
  url: %s
  ref: {semver: ">=1.0.0-0", semverFilter: '^\d+\.\d+\.\d+$'}
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
  secretRef: {name: registry}
  certSecretRef: {name: registry-tls}
  verify: {provider: cosign, secretRef: {name: cosign-keys}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  chartRef: {kind: OCIRepository, name: app-chart}
  values: {value: from-release}
`, reg.URL("charts/app")),
	})
	registrySecrets(f, reg, trusted)
	id := "HelmRelease/" + f.ns + "/app"
	chart := func() string {
		t.Helper()
		c, err := f.configMap("app-config")
		if err != nil {
			t.Fatal(err)
		}
		if c.Data["value"] != "from-release" {
			t.Errorf("value %q, want the HelmRelease's", c.Data["value"])
		}
		return c.Data["chart"]
	}

	res := f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[id]; u.Revision != "1.0.0@"+d1 {
		t.Errorf("revision %s, want 1.0.0@%s (the release candidate is filtered out)", u.Revision, d1)
	}
	if c := chart(); c != "app-1.0.0" {
		t.Errorf("chart %s, want app-1.0.0", c)
	}

	d2 := push("1.1.0", true)
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[id]; u.Revision != "1.1.0@"+d2 || !u.Rendered {
		t.Errorf("new version: %+v", u)
	}
	if c := chart(); c != "app-1.1.0" {
		t.Errorf("chart %s, want app-1.1.0", c)
	}

	d3 := push("1.2.0", false)
	res = f.run()
	u := units(res)[id]
	if u.Outcome != Failed || !strings.Contains(u.Message, "OCIRepository/"+f.ns+"/app-chart") ||
		!strings.Contains(u.Message, "is not signed") || !strings.Contains(u.Message, d3) {
		t.Errorf("unsigned chart: %s: %s", u.Outcome, u.Message)
	}
	if c := chart(); c != "app-1.1.0" {
		t.Errorf("chart %s after an unsigned one, want app-1.1.0", c)
	}
}

// TestFluxOwnSourceVerify: the sync's own GitRepository (gotk-sync.yaml)
// is the sync's checkout; a verify there that the Sync does not have
// fails its units, naming the field, instead of being dropped.
func TestFluxOwnSourceVerify(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository + "  verify: {mode: HEAD, secretRef: {name: keys}}\n",
		"clusters/test/units.yaml":                 kustomization("app", "./deploy", ""),
		"deploy/a.yaml":                            cm("a", "1"),
	})
	res := f.run()
	u := units(res)["Kustomization/"+f.ns+"/app"]
	if u.Outcome != Failed || !strings.Contains(u.Message, "GitRepository/"+f.ns+"/"+f.ns) ||
		!strings.Contains(u.Message, "spec.verify: this is the sync's own repository") {
		t.Errorf("%s: %s", u.Outcome, u.Message)
	}
	f.mustNotHave("a")
}

// TestFluxGitRepositorySparseSubmodules: a GitRepository with
// sparseCheckout and recurseSubmodules: a unit reading a checked-out
// directory gets the submodule's files; a unit reading a directory the
// sparse checkout left out fails and applies nothing.
func TestFluxGitRepositorySparseSubmodules(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": sourceKustomization("app", "./deploy", "GitRepository", "app") +
			sourceKustomization("outside", "./outside", "GitRepository", "app"),
	})
	ctx := t.Context()
	app, err := f.git.CreateRepo(ctx, "sparse")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := f.git.CreateRepo(ctx, "lib")
	if err != nil {
		t.Fatal(err)
	}
	libID, err := lib.Commit(ctx, "l1", map[string]string{"l.yaml": cm("l", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.CommitEntries(ctx, "app",
		gitserver.Entry{Path: "deploy/a.yaml", Content: cm("a", "1")},
		gitserver.Entry{Path: "outside/o.yaml", Content: cm("outside", "1")},
		gitserver.Entry{Path: ".gitmodules", Content: "[submodule \"lib\"]\n\tpath = deploy/lib\n\turl = ../lib.git\n"},
		gitserver.Entry{Path: "deploy/lib", Content: libID, Mode: gitserver.Gitlink},
	); err != nil {
		t.Fatal(err)
	}
	f.commit(expandNS(map[string]string{"clusters/test/sources.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: app, namespace: NS}
spec:
  interval: 1m
  url: %s
  ref: {branch: main}
  secretRef: {name: git-ca}
  sparseCheckout: [deploy]
  recurseSubmodules: true
`, f.git.HTTPSURL("sparse"))}, f.ns))
	f.secret("git-ca", map[string][]byte{"ca.crt": f.git.CACert()})

	res := f.run()
	if u := units(res)["Kustomization/"+f.ns+"/app"]; u.Outcome != Succeeded {
		t.Errorf("app: %s: %s", u.Outcome, u.Message)
	}
	f.mustHave("a", "l")
	if u := units(res)["Kustomization/"+f.ns+"/outside"]; u.Outcome != Failed || !strings.Contains(u.Message, "render: outside") {
		t.Errorf("a unit reading a directory outside the sparse checkout: %s: %s", u.Outcome, u.Message)
	}
	f.mustNotHave("outside")
}

// TestFluxHelmRepositoryChartVerify: a HelmRelease's chart template from
// an OCI HelmRepository with verify is checked as Flux checks its
// HelmChart: the chart's manifest must carry a cosign signature by a
// trusted key before it is rendered; an unsigned version fails the unit,
// naming the digest, and leaves the release as it was; verify on a chart
// of an HTTP repository is refused, naming it.
func TestFluxHelmRepositoryChartVerify(t *testing.T) {
	reg := startRegistry(t)
	trusted := newSigner(t)
	push := chartPusher(t, reg, trusted)
	d1 := push("1.0.0", true)
	release := func(version string) string {
		return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: NS}
spec:
  type: oci
  interval: 1h
  url: %s
  secretRef: {name: registry}
  certSecretRef: {name: registry-tls}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  chart:
    spec:
      chart: app
      version: %q
      sourceRef: {kind: HelmRepository, name: charts}
      verify: {provider: cosign, secretRef: {name: cosign-keys}}
  values: {value: from-release}
`, reg.URL("charts"), version)
	}
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/release.yaml":               release("1.0.0"),
	})
	registrySecrets(f, reg, trusted)
	id := "HelmRelease/" + f.ns + "/app"
	chart := func() string { return f.configMapData("app-config")["chart"] }
	res := f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[id]; !strings.HasSuffix(u.Revision, d1) {
		t.Errorf("revision %s, want the signed 1.0.0 (%s)", u.Revision, d1)
	}
	if c := chart(); c != "app-1.0.0" {
		t.Errorf("chart %s, want app-1.0.0", c)
	}

	d2 := push("1.1.0", false)
	f.commit(expandNS(map[string]string{"clusters/test/release.yaml": release("1.1.0")}, f.ns))
	res = f.run()
	u := units(res)[id]
	if u.Outcome != Failed || !strings.Contains(u.Message, "is not signed") || !strings.Contains(u.Message, d2) {
		t.Errorf("unsigned chart: %s: %s", u.Outcome, u.Message)
	}
	if c := chart(); c != "app-1.0.0" {
		t.Errorf("chart %s after an unsigned one, want app-1.0.0", c)
	}

	// An HTTP repository's chart is not verified, as in Flux: refused.
	other := strings.Replace(reg.URL("charts"), "oci://", "https://", 1)
	f.commit(expandNS(map[string]string{"clusters/test/release.yaml": strings.Replace(strings.Replace(release("1.0.0"), "  type: oci\n", "", 1), reg.URL("charts"), other, 1)}, f.ns))
	res = f.run()
	u = units(res)[id]
	if u.Outcome != Failed || !strings.Contains(u.Message, "verify: only a chart of an OCI HelmRepository is verified") {
		t.Errorf("verify of an HTTP repository's chart: %s: %s", u.Outcome, u.Message)
	}
}
