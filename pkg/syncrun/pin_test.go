package syncrun

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// TestPinnedRunGit checks the rollback pin of a Git source: a run pinned
// to a recorded revision applies that commit while the branch is ahead,
// records it as sha1:<commit>, and a pin that names no commit fails.
func TestPinnedRunGit(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	first := f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", "")
	res := f.run()
	f.mustSucceed(res)
	recorded := res.Revision
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "2")})
	f.mustSucceed(f.run())

	res = f.runWith(Options{Revision: recorded})
	f.mustSucceed(res)
	if res.Revision != "sha1:"+first {
		t.Errorf("pinned revision %q, want sha1:%s", res.Revision, first)
	}
	if a, err := f.configMap("a"); err != nil || a.Data["value"] != "1" {
		t.Errorf("ConfigMap a after the pinned run: %v, %v; want value 1", a.Data, err)
	}

	res = f.runWith(Options{Revision: "1.2.3"})
	if res.Outcome != Failed || !strings.Contains(res.Message, `revision "1.2.3": not of the form [ref@]sha1:<40 hex>`) {
		t.Errorf("a pin without a commit: %s: %s", res.Outcome, res.Message)
	}
}

// TestPinnedRunOCIChart checks the rollback pin of an OCI chart: after
// the tag was moved to other content, a run pinned to the recorded
// revision applies the recorded manifest, and an unpinned run the new one.
func TestPinnedRunOCIChart(t *testing.T) {
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "oci", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	if _, err := reg.Push("charts", appChart("0.3.0", false)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ns: env.NewNamespace(t), name: "oci"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: f.ns},
		StringData: map[string]string{"username": "oci", "password": "pw", "ca.crt": string(reg.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: oci, namespace: %s}
spec:
  source:
    helm: {url: %s, chart: app, version: "0.3.0", secretRef: {name: registry}}
  helm: {crds: Skip}
`, f.ns, reg.URL("charts")))
	res := f.run()
	f.mustSucceed(res)
	recorded := res.Revision

	moved := appChart("0.3.0", false)
	moved.Values = "value: moved\nreplicas: 1\n"
	newDigest, err := reg.Push("charts", moved)
	if err != nil {
		t.Fatal(err)
	}
	value := func() string {
		c, err := f.configMap("oci-config")
		if err != nil {
			t.Fatal(err)
		}
		return c.Data["value"]
	}
	res = f.run()
	f.mustSucceed(res)
	if res.Revision != "0.3.0@"+newDigest || value() != "moved" {
		t.Fatalf("unpinned run after the tag moved: revision %s, value %q; want 0.3.0@%s, moved", res.Revision, value(), newDigest)
	}

	res = f.runWith(Options{Revision: recorded})
	f.mustSucceed(res)
	if res.Revision != recorded || value() != "default" {
		t.Errorf("pinned run: revision %s, value %q; want %s, default", res.Revision, value(), recorded)
	}
}
