package action

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/spec"
)

// convertInputs parses YAML documents separated by "---" lines.
func convertInputs(t *testing.T, docs string) []ConvertInput {
	t.Helper()
	var out []ConvertInput
	for i, d := range strings.Split(docs, "\n---\n") {
		u := &unstructured.Unstructured{}
		must(t, yaml.Unmarshal([]byte(d), &u.Object))
		out = append(out, ConvertInput{Object: u, Origin: "doc" + string(rune('1'+i))})
	}
	return out
}

func TestConvertMapping(t *testing.T) {
	res, err := Convert(ConvertOptions{Inputs: convertInputs(t, `apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata: {name: manifests, namespace: apps}
spec:
  interval: 5m
  url: oci://ghcr.io/example/manifests
  ref: {semver: ">=1.0.0"}
  secretRef: {name: ghcr}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: podinfo, namespace: apps}
spec:
  interval: 1h
  sourceRef: {kind: OCIRepository, name: manifests}
  prune: false
  suspend: true
  timeout: 2m
  healthCheckExprs: [{apiVersion: example.com/v1, kind: Widget, current: "status.ready == true"}]
  unknownField: true
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: charts, namespace: apps}
spec:
  interval: 5m
  url: oci://ghcr.io/example/charts/podinfo
  ref: {tag: 6.5.4}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: apps}
spec:
  interval: 10m
  chartRef: {kind: OCIRepository, name: charts}
  targetNamespace: web
  values: {replicaCount: 3}
  test: {enable: true, timeout: 3m, filters: [{name: slow, exclude: true}]}
  install: {remediation: {ignoreTestFailures: true}}
  driftDetection: {mode: warn, ignore: [{paths: [/spec/replicas]}]}`)})
	must(t, err)
	if len(res.Syncs) != 2 || len(res.Notes) != 0 {
		t.Fatalf("syncs %d, notes %q", len(res.Syncs), res.Notes)
	}
	ks, hr := res.Syncs[0], res.Syncs[1]
	prune := false
	want := spec.SyncSpec{
		Source: spec.Source{OCI: &spec.OCISource{URL: "oci://ghcr.io/example/manifests", Ref: spec.OCIRef{SemVer: ">=1.0.0"},
			SecretRef: &spec.LocalObjectReference{Name: "ghcr"}}},
		Path: "./", Schedule: ks.Sync.Spec.Schedule, Suspend: true, Prune: &prune, Timeout: spec.NewDuration(2 * 60e9),
		HealthCheckExprs: []spec.CustomHealthCheck{{APIVersion: "example.com/v1", Kind: "Widget", Current: "status.ready == true"}},
	}
	wantYAML, err := yaml.Marshal(want)
	must(t, err)
	gotYAML, err := yaml.Marshal(ks.Sync.Spec)
	must(t, err)
	if diff := cmp.Diff(string(wantYAML), string(gotYAML)); diff != "" {
		t.Errorf("Kustomization's sync (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(ks.Sync.Spec.Schedule, " * * * *") || strings.Contains(ks.Sync.Spec.Schedule, "/") {
		t.Errorf("interval 1h: schedule %q, want once an hour", ks.Sync.Spec.Schedule)
	}
	if diff := cmp.Diff([]flux.FieldNote{{Path: "spec.unknownField", Note: "unknown field"}}, ks.NotConverted); diff != "" {
		t.Errorf("not converted (-want +got):\n%s", diff)
	}
	// The HelmRelease takes the Kustomization's name with its kind.
	if hr.Sync.Name != "podinfo-helmrelease" || hr.Sync.Namespace != "apps" {
		t.Errorf("HelmRelease's sync is %s/%s", hr.Sync.Namespace, hr.Sync.Name)
	}
	h := hr.Sync.Spec
	if h.Source.Helm == nil || h.Source.Helm.URL != "oci://ghcr.io/example/charts/podinfo" || h.Source.Helm.Version != "6.5.4" ||
		h.TargetNamespace != "web" || h.Helm == nil || h.Helm.ReleaseName != "web-podinfo" || h.Helm.Values["replicaCount"] != float64(3) {
		t.Errorf("HelmRelease's sync: %+v, helm %+v", h, h.Helm)
	}
	wantTest := &spec.HelmTest{Enable: true, Timeout: spec.NewDuration(3 * time.Minute), Filters: spec.HelmTestFilters{{Name: "slow", Exclude: true}}}
	if diff := cmp.Diff(wantTest, h.Helm.Test, cmpopts.IgnoreUnexported(spec.Duration{})); diff != "" {
		t.Errorf("HelmRelease's tests (-want +got):\n%s", diff)
	}
	var notConverted []string
	for _, n := range hr.NotConverted {
		notConverted = append(notConverted, n.Path)
	}
	if diff := cmp.Diff([]string{"spec.install.remediation.ignoreTestFailures, spec.upgrade.remediation.ignoreTestFailures",
		"spec.driftDetection.mode", "spec.driftDetection.ignore"}, notConverted); diff != "" {
		t.Errorf("HelmRelease not converted (-want +got):\n%s", diff)
	}
	if hr.Objects == nil || hr.Objects.CronJob == nil {
		t.Errorf("no objects generated for %s", hr.From)
	}
}

// TestConvertVerifiedChart: a HelmRelease whose chart is verified is not
// converted (a sync's Helm source would drop the check), saying why.
func TestConvertVerifiedChart(t *testing.T) {
	res, err := Convert(ConvertOptions{Inputs: convertInputs(t, `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: apps}
spec: {interval: 1h, type: oci, url: oci://ghcr.io/example/charts}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  interval: 10m
  chart:
    spec:
      chart: web
      sourceRef: {kind: HelmRepository, name: charts}
      verify: {provider: cosign}`)})
	must(t, err)
	if len(res.Syncs) != 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "HelmRelease/apps/web: not converted: its chart's verify") {
		t.Errorf("syncs %d, notes %q", len(res.Syncs), res.Notes)
	}
}

func TestConvertNotes(t *testing.T) {
	res, err := Convert(ConvertOptions{Inputs: convertInputs(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: p, namespace: flux-system}
spec: {}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps}
spec:
  interval: 7m
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./apps
  prune: true
  decryption: {provider: sops}
  dependsOn: [{name: infra}]
  deletionPolicy: Orphan
  ignore: [{paths: [/spec/replicas], target: {kind: Deployment}}]
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system}
spec:
  interval: 1m
  url: https://github.com/example/fleet
  ref: {tag: v1.0.0}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: al, namespace: flux-system}
spec: {providerRef: {name: slack}, eventSources: [{kind: Kustomization, name: '*'}]}
---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: gen, namespace: flux-system}
spec:
  sources: [{alias: repo, kind: GitRepository, name: flux-system}]
  artifacts: [{name: apps, copy: [{from: "@repo/apps/**", to: "@artifact/"}]}]
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: tenants, namespace: flux-system}
spec:
  inputs: [{name: a}]
  resources: [{apiVersion: v1, kind: Namespace, metadata: {name: "<< inputs.name >>"}}]`)})
	must(t, err)
	if len(res.Syncs) != 1 {
		t.Fatalf("syncs: %+v\nnotes: %q", res.Syncs, res.Notes)
	}
	s := res.Syncs[0]
	if s.Sync.Namespace != "flux-system" || s.Sync.Spec.Source.Git == nil || s.Sync.Spec.Source.Git.Ref.Tag != "v1.0.0" {
		t.Errorf("sync %s/%s: %+v", s.Sync.Namespace, s.Sync.Name, s.Sync.Spec.Source)
	}
	var paths []string
	for _, n := range s.NotConverted {
		paths = append(paths, n.Path)
	}
	if diff := cmp.Diff([]string{"spec.interval", "spec.decryption", "spec.dependsOn", "spec.deletionPolicy", "spec.ignore"}, paths); diff != "" {
		t.Errorf("not converted (-want +got):\n%s", diff)
	}
	if s.Sync.Spec.Decryption != nil {
		t.Errorf("decryption without secretRef converted: %+v", s.Sync.Spec.Decryption)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"doc1 ConfigMap//plain: not a Flux object", "doc2: not converted: ImagePolicy/flux-system/p: spec.imageRepositoryRef: required",
		"doc5 Alert/flux-system/al: not converted: write its Provider and Alert fields as a spec.notify entry",
		"doc6 ArtifactGenerator/flux-system/gen: not converted: a sync reads one source",
		"doc7 ResourceSet/flux-system/tenants: not converted: a sync does not template"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}
