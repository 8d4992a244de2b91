package syncrun

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// A Flux repository as `flux bootstrap` and Flux's example repositories
// lay it out, with no Flux CRD in the cluster:
//
//	clusters/staging, clusters/production
//	  flux-system/   gotk-components.yaml, gotk-sync.yaml, kustomization.yaml
//	  infrastructure.yaml   Kustomizations infra-controllers, then infra-configs (dependsOn)
//	  apps.yaml             Kustomization apps (dependsOn infra-configs)
//	infrastructure/controllers  a HelmRepository (OCI registry) and a HelmRelease, a ConfigMap
//	infrastructure/configs      ConfigMaps with ${vars}; rendered with targetNamespace,
//	                            components and postBuild.substituteFrom
//	apps/base/{podinfo,web}     a HelmRepository (HTTP) and a HelmRelease each
//	apps/{staging,production}   overlays patching the HelmReleases' values
//
// Namespaces are placeholders, so that tests of one cluster do not share
// them: FLUXNS (the sync's, Flux's flux-system), INFRANS, CFGNS, APPNS.

// fluxTree is the placeholders' values and the chart servers of one test.
type fluxTree struct {
	fluxNS, infraNS, cfgNS, appNS string
	repo                          *helmrepo.Repo
	reg                           *helmrepo.Registry
}

func (ft *fluxTree) expand(s string) string {
	return strings.NewReplacer("FLUXNS", ft.fluxNS, "INFRANS", ft.infraNS, "CFGNS", ft.cfgNS, "APPNS", ft.appNS,
		"HELMREPO", ft.repo.URL(), "OCIREPO", "oci://"+ft.reg.Host()+"/charts").Replace(s)
}

// valueChart is a chart of one ConfigMap, RELEASE-config, holding the
// value .Values.value.
func valueChart(name, version string) helmrepo.Chart {
	return helmrepo.Chart{
		Name: name, Version: version, Values: "value: default\n",
		Templates: map[string]string{"config.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  value: {{ .Values.value | quote }}
  chart: {{ .Chart.Name }}-{{ .Chart.Version }}
`},
	}
}

const gotkComponents = `apiVersion: v1
kind: Namespace
metadata:
  name: FLUXNS
  labels:
    app.kubernetes.io/instance: FLUXNS
    app.kubernetes.io/part-of: flux
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kustomizations.kustomize.toolkit.fluxcd.io
  labels:
    app.kubernetes.io/part-of: flux
spec:
  group: kustomize.toolkit.fluxcd.io
  names: {kind: Kustomization, plural: kustomizations, singular: kustomization, listKind: KustomizationList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller
  namespace: FLUXNS
  labels:
    app.kubernetes.io/component: kustomize-controller
    app.kubernetes.io/instance: FLUXNS
    app.kubernetes.io/part-of: flux
spec:
  replicas: 1
  selector:
    matchLabels: {app: kustomize-controller}
  template:
    metadata:
      labels: {app: kustomize-controller}
    spec:
      containers:
      - name: manager
        image: ghcr.io/fluxcd/kustomize-controller:v1.6.0
`

// gotkSync is what flux bootstrap writes; its URL is the SSH form of the
// repository, not the one the sync uses: the run still reads its own
// checkout for it.
const gotkSync = `---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: FLUXNS
  namespace: FLUXNS
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ssh://git@github.com/example/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: FLUXNS
  namespace: FLUXNS
spec:
  interval: 10m0s
  path: ./clusters/CLUSTER
  prune: true
  sourceRef:
    kind: GitRepository
    name: FLUXNS
`

func (ft *fluxTree) files(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, cluster := range []string{"staging", "production"} {
		c := "clusters/" + cluster + "/"
		files[c+"flux-system/gotk-components.yaml"] = gotkComponents
		files[c+"flux-system/gotk-sync.yaml"] = strings.ReplaceAll(gotkSync, "CLUSTER", cluster)
		files[c+"flux-system/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\n"
		files[c+"infrastructure.yaml"] = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-controllers
  namespace: FLUXNS
spec:
  interval: 1h
  retryInterval: 1m
  timeout: 5m
  sourceRef:
    kind: GitRepository
    name: FLUXNS
  path: ./infrastructure/controllers
  prune: true
  wait: true
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-configs
  namespace: FLUXNS
spec:
  dependsOn:
  - name: infra-controllers
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: FLUXNS
  path: ./infrastructure/configs
  prune: true
  targetNamespace: CFGNS
  components:
  - ../components/audit
  postBuild:
    substituteFrom:
    - kind: ConfigMap
      name: cluster-vars
`
		files[c+"apps.yaml"] = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: FLUXNS
spec:
  interval: 10m0s
  dependsOn:
  - name: infra-configs
  sourceRef:
    kind: GitRepository
    name: FLUXNS
  path: ./apps/` + cluster + `
  prune: true
  wait: true
  timeout: 5m0s
`
		files["apps/"+cluster+"/kustomization.yaml"] = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../base/podinfo
- ../base/web
patches:
- path: podinfo-values.yaml
  target:
    kind: HelmRelease
    name: podinfo
`
		files["apps/"+cluster+"/podinfo-values.yaml"] = valuesPatch("podinfo", cluster)
	}
	files["infrastructure/controllers/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ingress.yaml\n- controller.yaml\n"
	files["infrastructure/controllers/ingress.yaml"] = `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: INFRANS
spec:
  type: oci
  interval: 1h
  url: OCIREPO
  secretRef:
    name: registry
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ingress
  namespace: INFRANS
spec:
  interval: 1h
  chart:
    spec:
      chart: ingress
      version: "1.x"
      sourceRef:
        kind: HelmRepository
        name: charts
  install:
    remediation:
      retries: 3
  values:
    value: from-oci
`
	files["infrastructure/controllers/controller.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: controller\n  namespace: INFRANS\ndata:\n  role: controller\n"
	files["infrastructure/configs/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- settings.yaml\n"
	files["infrastructure/configs/settings.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\ndata:\n  name: ${cluster_name}\n  region: ${region:=eu-west-1}\n"
	files["infrastructure/components/audit/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- audit.yaml\n"
	files["infrastructure/components/audit/audit.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: audit\ndata:\n  level: full\n"
	for _, app := range []string{"podinfo", "web"} {
		b := "apps/base/" + app + "/"
		files[b+"kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- repository.yaml\n- release.yaml\n"
		files[b+"repository.yaml"] = `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: ` + app + `
  namespace: APPNS
spec:
  interval: 1h
  url: HELMREPO
  certSecretRef:
    name: charts-ca
`
		files[b+"release.yaml"] = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ` + app + `
  namespace: APPNS
spec:
  interval: 10m
  chart:
    spec:
      chart: ` + app + `
      version: ">=1.0.0 <2.0.0"
      sourceRef:
        kind: HelmRepository
        name: ` + app + `
  values:
    value: base
`
	}
	for p, c := range files {
		files[p] = ft.expand(c)
	}
	return files
}

func valuesPatch(app, value string) string {
	return fmt.Sprintf("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: %s\n  namespace: APPNS\nspec:\n  values:\n    value: %s\n", app, value)
}

// newFluxTree starts the chart servers, creates the namespaces and the
// Secrets and ConfigMaps the tree reads, and returns the sync's fixture.
func newFluxTree(t *testing.T) (*fixture, *fluxTree) {
	t.Helper()
	ctx := t.Context()
	repo, err := helmrepo.StartRepo(helmrepo.RepoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	reg, err := helmrepo.StartRegistry(ctx, helmrepo.RegistryOptions{Username: "oci", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	for _, c := range []helmrepo.Chart{valueChart("podinfo", "1.0.0"), valueChart("web", "1.2.0")} {
		if _, err := repo.Publish(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Push("charts", valueChart("ingress", "1.4.0")); err != nil {
		t.Fatal(err)
	}
	ft := &fluxTree{fluxNS: env.NewNamespace(t), infraNS: env.NewNamespace(t), cfgNS: env.NewNamespace(t), appNS: env.NewNamespace(t), repo: repo, reg: reg}
	mk := func(obj any) {
		t.Helper()
		var err error
		switch o := obj.(type) {
		case *corev1.Secret:
			_, err = env.Client().CoreV1().Secrets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = env.Client().CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "charts-ca", Namespace: ft.appNS}, StringData: map[string]string{"ca.crt": string(repo.CA().CertPEM)}})
	mk(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ft.infraNS},
		StringData: map[string]string{"username": "oci", "password": "pw", "ca.crt": string(reg.CA().CertPEM)}})
	mk(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-vars", Namespace: ft.fluxNS}, Data: map[string]string{"cluster_name": "staging-1"}})

	git := gitserver.StartTest(t, gitserver.Options{})
	r, err := git.CreateRepo(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ns: ft.fluxNS, name: "fleet", git: git, repo: r}
	f.commit(ft.files(t))
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: fleet, namespace: %s}
spec:
  source:
    git:
      url: %s
      insecure: true
      ref: {branch: main}
  path: ./clusters/staging
`, ft.fluxNS, git.HTTPURL("fleet")))
	return f, ft
}

// units indexes a run's units by Kind/namespace/name.
func units(res *Result) map[string]UnitResult {
	out := map[string]UnitResult{}
	for _, u := range res.Units {
		out[u.ID.String()] = u
	}
	return out
}

func (f *fixture) configMapIn(ns, name string) (*corev1.ConfigMap, error) {
	return env.Client().CoreV1().ConfigMaps(ns).Get(f.t.Context(), name, metav1.GetOptions{})
}

func mustUnitsSucceed(t *testing.T, res *Result) {
	t.Helper()
	if res.Outcome != Succeeded {
		for _, u := range res.Units {
			t.Logf("unit %s: %s %s", u.ID, u.Outcome, u.Message)
		}
		t.Fatalf("run %s: %v", res.Outcome, res.Err)
	}
}

// TestFluxRepository syncs clusters/staging of a Flux repository: the
// whole tree in one run, in dependency order, without Flux's installation;
// then nothing to do; then a commit that changes one app renders only that
// app; then removing a HelmRelease deletes its objects and its state.
func TestFluxRepository(t *testing.T) {
	f, ft := newFluxTree(t)
	ks := func(name string) string { return "Kustomization/" + ft.fluxNS + "/" + name }
	hr := func(ns, name string) string { return "HelmRelease/" + ns + "/" + name }

	res := f.run()
	mustUnitsSucceed(t, res)
	got := units(res)
	want := []string{ks("infra-controllers"), ks("infra-configs"), ks("apps"), hr(ft.infraNS, "ingress"), hr(ft.appNS, "podinfo"), hr(ft.appNS, "web")}
	for _, id := range want {
		if u, ok := got[id]; !ok || u.Outcome != Succeeded || !u.Rendered {
			t.Errorf("unit %s: %+v, want Succeeded and rendered", id, u)
		}
	}
	if len(res.Units) != len(want) {
		t.Errorf("%d units, want %d: %v", len(res.Units), len(want), slices.Collect(func(yield func(string) bool) {
			for _, u := range res.Units {
				yield(u.ID.String())
			}
		}))
	}
	// Dependency order, from the recorded start and end times.
	rec := f.inventory().Record
	byID := map[string]inventory.UnitRecord{}
	for _, u := range rec.Units {
		byID[u.Kind+"/"+u.Namespace+"/"+u.Name] = u
	}
	for _, pair := range [][2]string{
		{ks("infra-controllers"), ks("infra-configs")},
		{ks("infra-configs"), ks("apps")},
		{ks("apps"), hr(ft.appNS, "podinfo")}, // a child runs after its parent rendered it
		{ks("infra-controllers"), hr(ft.infraNS, "ingress")},
	} {
		before, after := byID[pair[0]], byID[pair[1]]
		if before.End.IsZero() || after.Start.Before(before.End) {
			t.Errorf("%s started at %s, before %s ended at %s", pair[1], after.Start, pair[0], before.End)
		}
	}
	if u := byID[hr(ft.appNS, "podinfo")]; u.Parent != ks("apps") || u.State != flux.StateName("fleet", flux.ID{Kind: "HelmRelease", Namespace: ft.appNS, Name: "podinfo"}) ||
		u.Source != "HelmRepository/"+ft.appNS+"/podinfo" || u.DeletionPolicy != inventory.DeletionDelete {
		t.Errorf("podinfo's record: %+v", u)
	}
	if u := byID[ks("apps")]; !slices.Equal(u.DependsOn, []string{ks("infra-configs")}) || u.Objects != 0 {
		t.Errorf("apps' record: %+v", u)
	}
	// Flux's installation is left out, and said so.
	if !strings.Contains(res.FluxInstallation, "Flux's own installation is not applied") || !strings.Contains(res.Message, "gotk-sync.yaml") {
		t.Errorf("installation: %q; message %q", res.FluxInstallation, res.Message)
	}
	if _, err := env.Client().AppsV1().Deployments(ft.fluxNS).Get(t.Context(), "kustomize-controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Flux's controller was applied: %v", err)
	}
	// What the units applied.
	check := func(ns, name, key, want string) {
		t.Helper()
		c, err := f.configMapIn(ns, name)
		if err != nil {
			t.Errorf("ConfigMap %s/%s: %v", ns, name, err)
			return
		}
		if c.Data[key] != want {
			t.Errorf("ConfigMap %s/%s: %s=%q, want %q", ns, name, key, c.Data[key], want)
		}
	}
	check(ft.appNS, "podinfo-config", "value", "staging") // the overlay's values patch
	check(ft.appNS, "web-config", "value", "base")
	check(ft.infraNS, "ingress-config", "value", "from-oci")
	check(ft.infraNS, "controller", "role", "controller")
	check(ft.cfgNS, "cluster-settings", "name", "staging-1") // substituteFrom, targetNamespace
	check(ft.cfgNS, "cluster-settings", "region", "eu-west-1")
	check(ft.cfgNS, "audit", "level", "full") // the component
	pod, err := f.configMapIn(ft.appNS, "podinfo-config")
	if err != nil {
		t.Fatal(err)
	}
	podinfoState := flux.StateName("fleet", flux.ID{Kind: "HelmRelease", Namespace: ft.appNS, Name: "podinfo"})
	if l := pod.Labels; l[LabelUnit] != podinfoState || l[inventory.LabelSync] != "fleet" || l[names.LabelSyncNamespace] != ft.fluxNS ||
		l[inventory.LabelApplySetPartOf] != inventory.ApplySetID(inventory.InventoryName(podinfoState), ft.fluxNS) {
		t.Errorf("podinfo-config labels %v", l)
	}
	state, err := f.configMap(inventory.InventoryName(podinfoState))
	if err != nil {
		t.Fatalf("podinfo's state: %v", err)
	}
	if state.Labels[inventory.LabelUnitOf] != "fleet" {
		t.Errorf("podinfo's state labels %v", state.Labels)
	}

	// Build renders the sync (its Flux objects lifted out) or one unit.
	rs, err := Render(t.Context(), RenderOptions{Name: "fleet", Namespace: ft.fluxNS, Config: env.Config()})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(rs.Objects) != 0 || len(rs.Flux) != 3 {
		t.Errorf("Render of the sync: %d objects, %d Flux objects; want 0 and the 3 Kustomizations", len(rs.Objects), len(rs.Flux))
	}
	ru, err := Render(t.Context(), RenderOptions{Name: "fleet", Namespace: ft.fluxNS, Config: env.Config(),
		Unit: flux.ID{Kind: "HelmRelease", Namespace: ft.appNS, Name: "podinfo"}})
	if err != nil {
		t.Fatalf("Render of a unit: %v", err)
	}
	if len(ru.Objects) != 1 || ru.Objects[0].GetName() != "podinfo-config" || ru.Labels[LabelUnit] == "" || len(ru.Inventory) != 1 || len(ru.Stale) != 0 {
		t.Errorf("Render of podinfo: %d objects, labels %v, inventory %v, stale %v", len(ru.Objects), ru.Labels, ru.Inventory, ru.Stale)
	} else if v, _, _ := unstructured.NestedString(ru.Objects[0].Object, "data", "value"); v != "staging" {
		t.Errorf("Render of podinfo: value %q", v)
	}
	if _, err := Render(t.Context(), RenderOptions{Name: "fleet", Namespace: ft.fluxNS, Config: env.Config(),
		Unit: flux.ID{Kind: "HelmRelease", Namespace: ft.appNS, Name: "nope"}}); err == nil || !strings.Contains(err.Error(), "no unit of the sync's tree renders it") {
		t.Errorf("Render of a unit that does not exist: %v", err)
	}

	// Nothing changed: every unit only checks drift, and the run writes
	// nothing (noop.go).
	recorded := &recorder{}
	res = f.runWith(Options{Config: recorded.config()})
	mustUnitsSucceed(t, res)
	if w := recorded.writes(); len(w) != 0 {
		t.Errorf("a run with nothing changed wrote %d times: %v", len(w), w)
	}
	// The units' drift checks share one LIST per resource (apply.SharedLists).
	lists := map[string]int{}
	for _, r := range recorded.all() {
		if path := strings.TrimPrefix(r, "GET "); path != r && !strings.Contains(path, "/namespaces/") && strings.Count(path, "/") <= 4 &&
			path != "/api" && path != "/apis" {
			lists[path]++
		}
	}
	for path, n := range lists {
		if n > 1 {
			t.Errorf("%d LISTs of %s with nothing changed; want the units to share one", n, path)
		}
	}
	if len(lists) == 0 {
		t.Errorf("no drift LIST in %v", recorded.all())
	}
	if res.Rendered {
		t.Error("the sync rendered again with nothing changed")
	}
	for _, u := range res.Units {
		if u.Rendered {
			t.Errorf("%s rendered again with nothing changed", u.ID)
		}
	}

	// Drift in a Kustomization's object (its render substituted from a
	// ConfigMap) is corrected from the stored render: the unit neither
	// fetches nor renders (rendercache.go).
	settings, err := f.configMapIn(ft.cfgNS, "cluster-settings")
	if err != nil {
		t.Fatal(err)
	}
	settings.Data["region"] = "edited"
	if _, err := env.Client().CoreV1().ConfigMaps(ft.cfgNS).Update(t.Context(), settings, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := env.WatchCacheCaughtUp(t.Context(), schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, ft.cfgNS); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[ks("infra-configs")]; len(u.Drifted) != 1 || !u.RenderStored {
		t.Errorf("infra-configs: drifted %v, from the stored render %v; want cluster-settings, from it", u.Drifted, u.RenderStored)
	}
	check(ft.cfgNS, "cluster-settings", "region", "eu-west-1")

	// A commit that changes one app: only the Kustomization that renders
	// the overlay and the app's HelmRelease render; the others check drift.
	f.commit(map[string]string{"apps/staging/podinfo-values.yaml": ft.expand(valuesPatch("podinfo", "staging-2"))})
	res = f.run()
	mustUnitsSucceed(t, res)
	var rendered []string
	for _, u := range res.Units {
		if u.Rendered {
			rendered = append(rendered, u.ID.String())
		}
	}
	slices.Sort(rendered)
	if w := []string{hr(ft.appNS, "podinfo"), ks("apps")}; !slices.Equal(rendered, w) {
		t.Errorf("rendered %v, want %v", rendered, w)
	}
	check(ft.appNS, "podinfo-config", "value", "staging-2")

	// Removing a HelmRelease from Git deletes its objects and its state.
	webState := flux.StateName("fleet", flux.ID{Kind: "HelmRelease", Namespace: ft.appNS, Name: "web"})
	f.commit(map[string]string{"apps/staging/kustomization.yaml": strings.Replace(ft.files(t)["apps/staging/kustomization.yaml"], "- ../base/web\n", "", 1)})
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[hr(ft.appNS, "web")]; !u.Removed || u.Outcome != Succeeded {
		t.Errorf("web: %+v, want removed", u)
	}
	if _, err := f.configMapIn(ft.appNS, "web-config"); !apierrors.IsNotFound(err) {
		t.Errorf("web-config after its HelmRelease left Git: %v", err)
	}
	f.mustNotHave(inventory.InventoryName(webState))
	for _, u := range f.inventory().Record.Units {
		if u.Name == "web" {
			t.Errorf("the sync's record still lists %+v", u)
		}
	}
	check(ft.appNS, "podinfo-config", "value", "staging-2")
}
