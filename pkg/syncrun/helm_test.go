package syncrun

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// appChart is a small chart: a ConfigMap from values, an extra ConfigMap
// only while withExtra, a CRD, and a pre-install/pre-upgrade hook that
// records the order it ran in.
func appChart(version string, withExtra bool) helmrepo.Chart {
	c := helmrepo.Chart{
		Name:    "app",
		Version: version,
		Values:  "value: default\nreplicas: 1\n",
		Templates: map[string]string{
			"config.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  value: {{ .Values.value | quote }}
  version: {{ .Chart.Version | quote }}
  upgrade: {{ .Release.IsUpgrade | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
`,
			"hook.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hook
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
data:
  ran: {{ .Release.IsUpgrade | ternary "pre-upgrade" "pre-install" | quote }}
`,
		},
		CRDs: map[string]string{"gadgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.helm.gitsync.test
spec:
  group: helm.gitsync.test
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`},
	}
	if withExtra {
		c.Templates["extra.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\n"
	}
	return c
}

func TestHelmChartFromRepository(t *testing.T) {
	repo, err := helmrepo.StartRepo(helmrepo.RepoOptions{Username: "charts", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := repo.Close(); err != nil {
			t.Errorf("repo.Close: %v", err)
		}
	})
	if _, err := repo.Publish(appChart("1.0.0", true)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ns: env.NewNamespace(t), name: "web"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "charts", Namespace: f.ns},
		StringData: map[string]string{"username": "charts", "password": "pw", "ca.crt": string(repo.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vals := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-values", Namespace: f.ns},
		Data: map[string]string{"values.yaml": "value: from-configmap\n"}}
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Create(t.Context(), vals, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	doc := func(version, extra string) string {
		return fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: web, namespace: %s}
spec:
  source:
    helm:
      url: %s
      chart: app
      version: %q
      secretRef: {name: charts}
  helm:
    valuesFrom:
    - kind: ConfigMap
      name: web-values
%s`, f.ns, repo.URL(), version, extra)
	}

	// Install.
	f.writeSpec(doc(">=1.0.0 <2.0.0", ""))
	res := f.run()
	f.mustSucceed(res)
	if res.Revision != "1.0.0" {
		t.Errorf("revision %q, want 1.0.0", res.Revision)
	}
	c, err := f.configMap("web-config")
	if err != nil {
		t.Fatal(err)
	}
	if c.Data["value"] != "from-configmap" || c.Data["upgrade"] != "false" || !strings.HasPrefix(c.Data["kube"], "v1.37") {
		t.Errorf("rendered data %v", c.Data)
	}
	f.mustHave("web-extra")
	hook, err := f.configMap("web-hook")
	if err != nil {
		t.Fatalf("pre-install hook not applied: %v", err)
	}
	if hook.Data["ran"] != "pre-install" || hook.Labels[inventory.LabelApplySetPartOf] != "" {
		t.Errorf("hook: data %v, labels %v (a hook must not be part of the ApplySet)", hook.Data, hook.Labels)
	}
	if !hook.CreationTimestamp.Before(&c.CreationTimestamp) && !hook.CreationTimestamp.Equal(&c.CreationTimestamp) {
		t.Error("the pre-install hook was created after the chart's objects")
	}
	crd, err := env.Dynamic().Resource(crdGVR).Get(t.Context(), "gadgets.helm.gitsync.test", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("chart CRD not created: %v", err)
	}
	t.Cleanup(func() {
		_ = env.Dynamic().Resource(crdGVR).Delete(t.Context(), crd.GetName(), metav1.DeleteOptions{})
	})
	for _, e := range f.inventory().Entries {
		if strings.HasSuffix(e.Name, "-hook") {
			t.Errorf("hook %s is in the inventory", e.ID)
		}
	}

	// Nothing changed: no render.
	res = f.run()
	f.mustSucceed(res)
	if res.Rendered {
		t.Error("an unchanged chart was rendered again")
	}

	// A new version within the range drops extra.yaml: upgrade and prune.
	if _, err := repo.Publish(appChart("1.1.0", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Publish(appChart("2.0.0", false)); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	f.mustSucceed(res)
	if res.Revision != "1.1.0" {
		t.Errorf("revision %q, want 1.1.0 (2.0.0 is outside the range)", res.Revision)
	}
	c, _ = f.configMap("web-config")
	if c.Data["version"] != "1.1.0" || c.Data["upgrade"] != "true" {
		t.Errorf("after upgrade: %v", c.Data)
	}
	f.mustNotHave("web-extra")
	if hook, _ := f.configMap("web-hook"); hook == nil || hook.Data["ran"] != "pre-upgrade" {
		t.Errorf("pre-upgrade hook did not run: %v", hook)
	}

	// A changed valuesFrom ConfigMap renders again.
	vals.Data["values.yaml"] = "value: changed\n"
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(t.Context(), vals, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	f.mustSucceed(res)
	if c, _ := f.configMap("web-config"); !res.Rendered || c.Data["value"] != "changed" {
		t.Errorf("valuesFrom change: rendered %v, value %q", res.Rendered, c.Data["value"])
	}

	// Drift in a chart object is corrected.
	c, _ = f.configMap("web-config")
	c.Data["value"] = "edited"
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(t.Context(), c, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	f.mustSucceed(res)
	if c, _ := f.configMap("web-config"); c.Data["value"] != "changed" || len(res.Drifted) != 1 {
		t.Errorf("drift: value %q, drifted %v", c.Data["value"], res.Drifted)
	}

	// No version in range: a clear error, nothing applied or pruned.
	f.writeSpec(doc(">=5.0.0", ""))
	res = f.run()
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "available: 2.0.0, 1.1.0, 1.0.0") {
		t.Errorf("missing version: %s, %v", res.Outcome, res.Err)
	}
	f.mustHave("web-config")

	// Values that are not a map fail, naming the source.
	vals.Data["values.yaml"] = "- a\n- list\n"
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(t.Context(), vals, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.writeSpec(doc("1.1.0", ""))
	res = f.run()
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "valuesFrom[0]") {
		t.Errorf("non-map values: %s, %v", res.Outcome, res.Err)
	}
}

func TestHelmChartFromOCIRegistry(t *testing.T) {
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "oci", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("reg.Close: %v", err)
		}
	})
	if _, err := reg.Push("charts", appChart("0.3.0", true)); err != nil {
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
    helm:
      url: %s
      chart: app
      version: "0.x"
      secretRef: {name: registry}
  helm:
    crds: Skip
    values: {value: inline}
`, f.ns, reg.URL("charts")))
	res := f.run()
	f.mustSucceed(res)
	if !strings.HasPrefix(res.Revision, "0.3.0@sha256:") {
		t.Errorf("revision %q, want 0.3.0@sha256:…", res.Revision)
	}
	if c, err := f.configMap("oci-config"); err != nil || c.Data["value"] != "inline" {
		t.Errorf("oci-config: %v, %v", c, err)
	}
	for _, e := range f.inventory().Entries {
		if e.Kind == "CustomResourceDefinition" {
			t.Errorf("crds: Skip applied %s", e.ID)
		}
	}
}

// TestHelmChartFromGit renders a chart directory of the Git source, with
// the CreateReplace CRD policy and a post-install hook.
func TestHelmChartFromGit(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	files, err := appChart("0.1.0", false).FileMap()
	if err != nil {
		t.Fatal(err)
	}
	commit := map[string]string{"README.md": "not the chart"}
	for p, content := range files {
		c := string(content)
		if p == "crds/gadgets.yaml" {
			// Another CRD name than the repository test's, with a field the
			// CreateReplace policy must keep up to date.
			c = strings.ReplaceAll(c, "gadget", "widget")
			c = strings.ReplaceAll(c, "Gadget", "Widget")
			c = strings.ReplaceAll(c, "listKind: WidgetList}", "listKind: WidgetList, shortNames: [wg]}")
			if !strings.Contains(c, "shortNames: [wg]") {
				t.Fatalf("test CRD not rewritten:\n%s", c)
			}
		}
		if p == "templates/hook.yaml" {
			c = strings.ReplaceAll(c, "pre-install,pre-upgrade", "post-install")
		}
		commit["charts/app/"+p] = c
	}
	f.commit(commit)
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  source:
    git:
      url: %s
      insecure: true
      ref: {branch: main}
  path: ./charts/app
  helm:
    releaseName: rel
    crds: CreateReplace
    values: {value: from-git}
`, f.ns, f.git.HTTPURL("app")))
	res := f.run()
	f.mustSucceed(res)
	t.Cleanup(func() {
		_ = env.Dynamic().Resource(crdGVR).Delete(context.WithoutCancel(t.Context()), "widgets.helm.gitsync.test", metav1.DeleteOptions{})
	})
	c, err := f.configMap("rel-config")
	if err != nil || c.Data["value"] != "from-git" {
		t.Fatalf("rel-config: %v, %v", c, err)
	}
	hook, err := f.configMap("rel-hook")
	if err != nil {
		t.Fatalf("post-install hook: %v", err)
	}
	if hook.CreationTimestamp.Before(&c.CreationTimestamp) {
		t.Error("the post-install hook ran before the chart's objects")
	}
	crd, err := env.Dynamic().Resource(crdGVR).Get(t.Context(), "widgets.helm.gitsync.test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sn, _, _ := unstructured.NestedStringSlice(crd.Object, "spec", "names", "shortNames"); len(sn) != 1 {
		t.Errorf("CRD shortNames %v", sn)
	}
	// CreateReplace updates the CRD when the chart changes it.
	f.commit(map[string]string{"charts/app/crds/gadgets.yaml": strings.ReplaceAll(commit["charts/app/crds/gadgets.yaml"], "shortNames: [wg]", "shortNames: [wg, wgt]")})
	f.mustSucceed(f.run())
	crd, _ = env.Dynamic().Resource(crdGVR).Get(t.Context(), "widgets.helm.gitsync.test", metav1.GetOptions{})
	if sn, _, _ := unstructured.NestedStringSlice(crd.Object, "spec", "names", "shortNames"); len(sn) != 2 {
		t.Errorf("CreateReplace did not update the CRD: shortNames %v", sn)
	}
}

// TestHelmFailedPreHookAppliesNothing: a pre-install Job that never
// completes (the control-plane test cluster has no node) fails the run at
// the sync's timeout; the chart's objects are not applied, the failed hook
// is deleted (hook-failed), and so is the earlier hook that succeeded
// (hook-succeeded).
func TestHelmFailedPreHookAppliesNothing(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{
		"chart/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n",
		"chart/templates/first.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: first-hook
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-weight: "-1"
    helm.sh/hook-delete-policy: hook-succeeded
`,
		"chart/templates/job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: never-done
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-delete-policy: hook-failed
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: wait
        image: example.invalid/never:1
`,
	})
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./chart
  timeout: 8s
  helm: {}
`, f.ns, f.git.HTTPURL("app")))
	res := f.run()
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "pre-install hook Job.batch/"+f.ns+"/never-done") {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	f.mustNotHave("app-config", "first-hook")
	if _, err := env.Client().BatchV1().Jobs(f.ns).Get(t.Context(), "never-done", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("failed hook with hook-failed not deleted: %v", err)
	}
}
