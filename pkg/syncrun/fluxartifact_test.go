package syncrun

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// artifactTree is the shape of fluxcd/flux2-kustomize-helm-example since
// Flux 2.7, reduced to what runs here: flux bootstrap's gotk-sync.yaml (an
// ssh:// URL and a Secret the cluster does not have), an ArtifactGenerator
// splitting the monorepo into the artifacts "infrastructure" and "apps",
// and Kustomizations reading them (sourceRef kind ExternalArtifact) in
// dependsOn order. infra-controllers waits (wait: true) and renders a
// nested Kustomization, which infra-configs must therefore wait for; apps'
// healthChecks name a ConfigMap no unit renders, read from the cluster.
func artifactTree(ns string) map[string]string {
	r := strings.NewReplacer("NS", ns)
	files := map[string]string{
		"clusters/prod/flux-system/kustomization.yaml": "resources: [gotk-sync.yaml]\n",
		"clusters/prod/flux-system/gotk-sync.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: NS}
spec:
  interval: 1m
  ref: {branch: main}
  secretRef: {name: flux-system}
  url: ssh://git@github.com/example/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: NS}
spec:
  interval: 10m
  path: ./clusters/prod
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
`,
		"clusters/prod/artifacts.yaml": `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: flux-system, namespace: NS}
spec:
  sources:
    - {alias: monorepo, kind: GitRepository, name: flux-system}
  artifacts:
    - name: infrastructure
      originRevision: "@monorepo"
      copy:
        - {from: "@monorepo/infrastructure/**", to: "@artifact/"}
    - name: apps
      originRevision: "@monorepo"
      copy:
        - {from: "@monorepo/apps/base/**", to: "@artifact/base/"}
        - {from: "@monorepo/apps/production/**", to: "@artifact/production/", exclude: ["*.md"]}
`,
		"clusters/prod/infrastructure.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra-controllers, namespace: NS}
spec:
  interval: 1h
  sourceRef: {kind: ExternalArtifact, name: infrastructure}
  path: ./controllers
  prune: true
  wait: true
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra-configs, namespace: NS}
spec:
  dependsOn: [{name: infra-controllers}]
  interval: 1h
  sourceRef: {kind: ExternalArtifact, name: infrastructure}
  path: ./configs
  prune: true
`,
		"clusters/prod/apps.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: NS}
spec:
  dependsOn: [{name: infra-configs}]
  interval: 1h
  sourceRef: {kind: ExternalArtifact, name: apps}
  path: ./production
  prune: true
  healthChecks:
    - {apiVersion: v1, kind: ConfigMap, name: made-outside, namespace: NS}
`,
		"infrastructure/controllers/kustomization.yaml": "resources: [controller.yaml, nested.yaml]\n",
		"infrastructure/controllers/controller.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: controller, namespace: NS}\ndata: {role: controller}\n",
		"infrastructure/controllers/nested.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: controllers-crds, namespace: NS}
spec:
  interval: 1h
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./infrastructure/crds
  prune: true
`,
		"infrastructure/crds/crd.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: crds, namespace: NS}\ndata: {from: nested}\n",
		"infrastructure/configs/kustomization.yaml": "resources: [issuer.yaml]\n",
		"infrastructure/configs/issuer.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: issuer, namespace: NS}\ndata: {server: staging}\n",
		"apps/base/podinfo/kustomization.yaml":      "resources: [podinfo.yaml]\n",
		"apps/base/podinfo/podinfo.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: podinfo, namespace: NS}\ndata: {env: base}\n",
		"apps/production/kustomization.yaml": `resources: [../base/podinfo]
patches:
  - patch: '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo", "namespace": "NS"}, "data": {"env": "production"}}'
`,
		"apps/production/README.md": "not YAML: left out by the generator's exclude\n",
	}
	for p, c := range files {
		files[p] = r.Replace(c)
	}
	return files
}

// TestArtifactGenerator runs the tree of artifactTree: the GitRepository
// of gotk-sync.yaml is the sync's own checkout (its ssh:// URL and Secret
// are not used), the generator's artifacts are assembled from it, the
// units run in dependsOn order, and a dependent of a Kustomization with
// wait starts after the units that Kustomization rendered.
func TestArtifactGenerator(t *testing.T) {
	ctx := t.Context()
	git := gitserver.StartTest(t, gitserver.Options{})
	repo, err := git.CreateRepo(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	f := &fixture{t: t, ns: ns, name: "fleet", git: git, repo: repo}
	f.commit(artifactTree(ns))
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: fleet, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./clusters/prod
`, ns, git.HTTPURL("fleet")))
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "made-outside", Namespace: ns}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	res := f.run()
	mustUnitsSucceed(t, res)
	got := units(res)
	id := func(name string) string { return "Kustomization/" + ns + "/" + name }
	for _, name := range []string{"infra-controllers", "infra-configs", "apps", "controllers-crds"} {
		if u, ok := got[id(name)]; !ok || u.Outcome != Succeeded {
			t.Errorf("unit %s: %+v", id(name), u)
		}
	}
	if u := got[id("apps")]; u.Source.String() != "ExternalArtifact/"+ns+"/apps" || !strings.HasPrefix(u.Revision, "latest@sha256:") {
		t.Errorf("apps: source %s, revision %s", u.Source, u.Revision)
	}
	rec := f.inventory().Record
	byID := map[string]inventory.UnitRecord{}
	for _, u := range rec.Units {
		byID[u.Kind+"/"+u.Namespace+"/"+u.Name] = u
	}
	for _, pair := range [][2]string{
		{id("infra-controllers"), id("controllers-crds")},
		{id("controllers-crds"), id("infra-configs")}, // infra-controllers waits: its units are part of it
		{id("infra-configs"), id("apps")},
	} {
		before, after := byID[pair[0]], byID[pair[1]]
		if before.End.IsZero() || after.Start.Before(before.End) {
			t.Errorf("%s started at %s, before %s ended at %s", pair[1], after.Start, pair[0], before.End)
		}
	}
	for name, want := range map[string]string{"controller": "controller", "issuer": "staging", "podinfo": "production", "crds": "nested"} {
		c, err := f.configMapIn(ns, name)
		if err != nil {
			t.Errorf("ConfigMap %s: %v", name, err)
			continue
		}
		for _, v := range c.Data {
			if v != want {
				t.Errorf("ConfigMap %s: %v, want %s", name, c.Data, want)
			}
		}
	}

	// A commit outside the artifacts' paths moves the artifacts'
	// revisions (they derive from the sources' revisions), and the run
	// stays green.
	f.commit(map[string]string{"docs/readme.md": "x"})
	res2 := f.run()
	mustUnitsSucceed(t, res2)
	if r1, r2 := got[id("apps")].Revision, units(res2)[id("apps")].Revision; r1 == r2 {
		t.Errorf("apps' revision did not move with its source: %s", r1)
	}
}

// TestArtifactGeneratorErrors: a copy of a path the source does not have
// fails the units reading that artifact, naming the generator, the
// artifact and the operation; other artifacts of the generator run.
func TestArtifactGeneratorErrors(t *testing.T) {
	ctx := t.Context()
	git := gitserver.StartTest(t, gitserver.Options{})
	repo, err := git.CreateRepo(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	f := &fixture{t: t, ns: ns, name: "fleet", git: git, repo: repo}
	files := artifactTree(ns)
	files["clusters/prod/artifacts.yaml"] = strings.Replace(files["clusters/prod/artifacts.yaml"], "@monorepo/apps/production/**", "@monorepo/apps/prod/**", 1)
	f.commit(files)
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: fleet, namespace: %s}\nspec:\n  source:\n    git: {url: %s, insecure: true, ref: {branch: main}}\n  path: ./clusters/prod\n",
		ns, git.HTTPURL("fleet")))
	res := f.run()
	got := units(res)
	apps := got["Kustomization/"+ns+"/apps"]
	want := "ArtifactGenerator/" + ns + "/flux-system spec.artifacts[1].copy[1] from @monorepo/apps/prod/** to @artifact/production/: no file of @monorepo matches apps/prod/**"
	if apps.Outcome != Failed || !strings.Contains(apps.Message, want) {
		t.Errorf("apps: %s %q, want Failed with %q", apps.Outcome, apps.Message, want)
	}
	if u := got["Kustomization/"+ns+"/infra-configs"]; u.Outcome != Succeeded {
		t.Errorf("infra-configs: %s %s", u.Outcome, u.Message)
	}
}

// TestOwnRepositoryWithoutGotkSync: the Flux Operator creates
// GitRepository flux-system from its FluxInstance, so no file of the tree
// defines it; units naming it read the sync's own checkout. A missing
// source of another name still fails, naming it; an object that cannot be
// decoded fails naming the field and the file it was read from.
func TestOwnRepositoryWithoutGotkSync(t *testing.T) {
	ctx := t.Context()
	git := gitserver.StartTest(t, gitserver.Options{})
	repo, err := git.CreateRepo(ctx, "home-ops")
	if err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	f := &fixture{t: t, ns: ns, name: "cluster", git: git, repo: repo}
	r := strings.NewReplacer("NS", ns)
	f.commit(map[string]string{
		"kubernetes/flux/cluster/ks.yaml": r.Replace(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: cluster-apps, namespace: NS}
spec:
  interval: 1h
  path: ./kubernetes/apps
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system, namespace: NS}
`),
		"kubernetes/apps/kustomization.yaml": "resources: [app.yaml, lost.yaml, drift.yaml]\n",
		"kubernetes/apps/drift.yaml": r.Replace(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: drift, namespace: NS}
spec:
  interval: 1h
  chartRef: {kind: OCIRepository, name: chart}
  driftDetection:
    mode: enabled
    ignore: [{paths: [spec/replicas]}]
`),
		"kubernetes/apps/app.yaml": r.Replace("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: NS}\ndata: {a: b}\n"),
		"kubernetes/apps/lost.yaml": r.Replace(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: lost, namespace: NS}
spec:
  interval: 1h
  path: ./x
  prune: true
  sourceRef: {kind: GitRepository, name: other}
`),
	})
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: cluster, namespace: %s}\nspec:\n  source:\n    git: {url: %s, insecure: true, ref: {branch: main}}\n  path: ./kubernetes/flux/cluster\n",
		ns, git.HTTPURL("home-ops")))
	res := f.run()
	got := units(res)
	if u := got["Kustomization/"+ns+"/cluster-apps"]; u.Outcome != Succeeded || u.Source != (flux.ID{Kind: flux.KindGitRepository, Namespace: ns, Name: "flux-system"}) {
		t.Fatalf("cluster-apps: %s %s (source %s)", u.Outcome, u.Message, u.Source)
	}
	if _, err := f.configMapIn(ns, "app"); err != nil {
		t.Errorf("ConfigMap app: %v", err)
	}
	// An object that cannot be decoded fails naming the field and the file.
	drift := got["HelmRelease/"+ns+"/drift"]
	for _, want := range []string{`spec.driftDetection.ignore[0].paths[0]: "spec/replicas" is not a JSON pointer`, "read from kubernetes/apps/drift.yaml"} {
		if drift.Outcome != Failed || !strings.Contains(drift.Message, want) {
			t.Errorf("drift: %s %q, want Failed with %q", drift.Outcome, drift.Message, want)
		}
	}
	lost := got["Kustomization/"+ns+"/lost"]
	if want := "sourceRef GitRepository/" + ns + "/other: not found in this run"; lost.Outcome != Failed || !strings.Contains(lost.Message, want) {
		t.Errorf("lost: %s %q, want Failed with %q", lost.Outcome, lost.Message, want)
	}
}

// TestArtifactChart: a HelmRelease's chartRef to an ExternalArtifact
// renders the chart an ArtifactGenerator composed (its directory at the
// artifact's root, values merged from two files), and renders it again
// when only the values change, the chart's version staying the same.
func TestArtifactChart(t *testing.T) {
	files := map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/chart.yaml": `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: app, namespace: NS}
spec:
  sources:
    - {alias: repo, kind: GitRepository, name: NS}
  artifacts:
    - name: app-chart
      copy:
        - {from: "@repo/charts/app/**", to: "@artifact/"}
        - {from: "@repo/env/values.yaml", to: "@artifact/values.yaml", strategy: Merge}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  chartRef: {kind: ExternalArtifact, name: app-chart}
`,
		"charts/app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"charts/app/values.yaml": "value: base\nother: kept\n",
		"charts/app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n" +
			"  value: {{ .Values.value | quote }}\n  other: {{ .Values.other | quote }}\n",
		"env/values.yaml": "value: production\n",
	}
	f := newFluxSync(t, files)
	res := f.run()
	mustUnitsSucceed(t, res)
	hr := "HelmRelease/" + f.ns + "/app"
	data := func() map[string]string { return f.configMapData("app-config") }
	if d := data(); d["value"] != "production" || d["other"] != "kept" {
		t.Errorf("values %v, want the merged ones", d)
	}
	f.commit(map[string]string{"env/values.yaml": "value: changed\n"})
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[hr]; !u.Rendered {
		t.Errorf("not rendered again after its values changed: %+v", u)
	}
	if d := data(); d["value"] != "changed" {
		t.Errorf("value %q, want changed", d["value"])
	}
}
