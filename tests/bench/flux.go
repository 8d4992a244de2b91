package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// The Flux workload: a repository laid out as Flux's are, synced as one
// sync whose run executes every Kustomization and HelmRelease as a unit,
// and the same objects as one flat sync.
const (
	fluxKustomizations = 20 // one of them renders the HelmRepository and the HelmReleases
	fluxReleases       = 5
	fluxChartObjects   = 40 // ConfigMaps each release renders
)

// bulkChart renders .Values.count ConfigMaps named RELEASE-NNN.
func bulkChart() helmrepo.Chart {
	return helmrepo.Chart{
		Name: "bulk", Version: "1.0.0", Values: "count: 1\n",
		Templates: map[string]string{"cms.yaml": `{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-{{ printf "%03d" $i }}
data:
  index: {{ $i | quote }}
{{- end }}
`},
	}
}

// fluxFiles returns the Flux repository (the sync renders clusters/bench)
// and the same objects as one flat directory (deploy/), for namespace ns
// and the chart repository url: 19 Kustomizations of mixed kinds
// (manifests) in four levels of dependsOn, and one rendering a
// HelmRepository and fluxReleases HelmReleases.
func fluxFiles(ns, url string, total int) (tree, flat map[string]string) {
	tree, flat = map[string]string{}, map[string]string{}
	tree["clusters/bench/flux-system/gotk-sync.yaml"] = fmt.Sprintf("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: %s\nspec:\n  interval: 1m\n  url: ssh://git@example.com/fleet\n  ref: {branch: main}\n", ns)
	var units strings.Builder
	plain := fluxKustomizations - 1
	perUnit := (total - fluxReleases*fluxChartObjects) / plain
	for k := 0; k < fluxKustomizations; k++ {
		name := fmt.Sprintf("k%02d", k)
		fmt.Fprintf(&units, "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  interval: 10m\n  path: ./units/%s\n  prune: true\n  timeout: 5m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", name, ns, name)
		if k >= 5 {
			fmt.Fprintf(&units, "  dependsOn:\n  - name: k%02d\n", k-5)
		}
		if k == plain {
			continue
		}
		n := perUnit
		if k == plain-1 {
			n = total - fluxReleases*fluxChartObjects - perUnit*(plain-1)
		}
		for p, c := range manifests(n, name) {
			tree["units/"+name+"/"+strings.TrimPrefix(p, "deploy/")] = c
			flat[p] = c
		}
	}
	tree["clusters/bench/units.yaml"] = units.String()
	apps := fmt.Sprintf("units/k%02d/", plain)
	tree[apps+"repository.yaml"] = fmt.Sprintf("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: %s\nspec:\n  interval: 1h\n  url: %s\n  certSecretRef:\n    name: charts-ca\n", ns, url)
	var cms strings.Builder
	for i := 0; i < fluxReleases; i++ {
		tree[fmt.Sprintf("%srelease-%d.yaml", apps, i)] = fmt.Sprintf("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: bulk-%d\n  namespace: %s\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: bulk\n      version: 1.x\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n  values:\n    count: %d\n", i, ns, fluxChartObjects)
		for j := 0; j < fluxChartObjects; j++ {
			fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bulk-%d-%03d\ndata:\n  index: \"%d\"\n", i, j, j)
		}
	}
	flat["deploy/charts.yaml"] = cms.String()
	return tree, flat
}

// flux measures the Flux workload and the same objects as a flat sync.
func (b *bench) flux(ctx context.Context, total int) error {
	repo, err := helmrepo.StartRepo(helmrepo.RepoOptions{})
	if err != nil {
		return err
	}
	defer func() { _ = repo.Close() }()
	if _, err := repo.Publish(bulkChart()); err != nil {
		return err
	}
	ns := fmt.Sprintf("bench-flux-%d", time.Now().UnixNano()%100000)
	tree, flat := fluxFiles(ns, repo.URL(), total)
	f, err := b.newSyncIn(ctx, ns, "fleet", tree, "./clusters/bench", "")
	if err != nil {
		return err
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "charts-ca", Namespace: ns}, StringData: map[string]string{"ca.crt": string(repo.CA().CertPEM)}}
	if _, err := b.env.Client().CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return err
	}
	workload := fmt.Sprintf("Flux layout: %d Kustomizations (4 levels of dependsOn) and %d HelmReleases (HTTPS repository), %d objects", fluxKustomizations, fluxReleases, total)

	fmt.Fprintln(os.Stderr, "Flux tree: cold sync ...")
	cold, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	b.add("Flux tree: cold sync", cold.wall, "≤ 6 s", fmt.Sprintf("%s; %d units; %d API requests", workload, cold.units, cold.requests))
	fmt.Fprintln(os.Stderr, "Flux tree: nothing changed ...")
	same, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	// Per unit: its inventory and one metadata LIST per kind; per
	// HelmRelease: its repository's Secret; for the sync: its spec,
	// inventory and the stored tree (no Lease, no record: nothing to write).
	kinds := 7*(fluxKustomizations-1) + fluxReleases
	state := fluxKustomizations + fluxReleases + fluxReleases + 6
	b.add("Flux tree: nothing changed", same.wall, "≤ 1 s", workload)
	b.rows = append(b.rows, row{"Flux tree: API requests, nothing changed", fmt.Sprintf("%d (%d writes)", same.requests, same.writes),
		fmt.Sprintf("≤ kinds per unit + state reads = %d + %d", kinds, state), workload})

	fmt.Fprintln(os.Stderr, "same objects, one flat sync ...")
	flatNS := fmt.Sprintf("bench-flat-%d", time.Now().UnixNano()%100000)
	ff, err := b.newSyncIn(ctx, flatNS, "flat", flat, "./deploy", "")
	if err != nil {
		return err
	}
	fcold, err := b.syncJob(ctx, ff)
	if err != nil {
		return err
	}
	fsame, err := b.syncJob(ctx, ff)
	if err != nil {
		return err
	}
	fw := fmt.Sprintf("the same %d objects as one flat sync", fcold.objects)
	b.add("flat sync: cold", fcold.wall, "", fmt.Sprintf("%s; %d API requests; units cost %.1f×", fw, fcold.requests, cold.wall.Seconds()/fcold.wall.Seconds()))
	b.add("flat sync: nothing changed", fsame.wall, "", fmt.Sprintf("%s; %d API requests (%d writes); units cost %.1f×", fw, fsame.requests, fsame.writes, same.wall.Seconds()/fsame.wall.Seconds()))
	return nil
}

// newSyncIn creates namespace ns, a repository holding files and a sync named
// name rendering path, with extra appended to its spec.
func (b *bench) newSyncIn(ctx context.Context, ns, name string, files map[string]string, path, extra string) (*syncFixture, error) {
	if _, err := b.env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	repo, err := b.git.CreateRepo(ctx, ns)
	if err != nil {
		return nil, err
	}
	if _, err := repo.Commit(ctx, "objects", files); err != nil {
		return nil, err
	}
	doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  source:\n    git:\n      url: %s\n      insecure: true\n      ref:\n        branch: main\n  path: %s\n  timeout: 10m\n%s",
		name, ns, b.git.HTTPURL(ns), path, extra)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(name), Namespace: ns}, Data: map[string]string{spec.ConfigMapKey: doc}}
	if _, err := b.env.Client().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	return &syncFixture{ns: ns, name: name, repo: repo}, nil
}
