package flux

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/spec"
)

// Builders of decoded objects for graph and schedule tests. A reference
// "name" is in the referring object's namespace, "ns/name" in ns.

func ref(kind, self, r string) ID {
	if ns, name, ok := strings.Cut(r, "/"); ok {
		return ID{Kind: kind, Namespace: ns, Name: name}
	}
	return ID{Kind: kind, Namespace: self, Name: r}
}

func ks(id, source string, deps ...string) *Kustomization {
	ns, name, _ := strings.Cut(id, "/")
	k := &Kustomization{Meta: Meta{ID: ID{KindKustomization, ns, name}}, Source: ref(KindGitRepository, ns, source)}
	for _, d := range deps {
		k.DependsOn = append(k.DependsOn, ref(KindKustomization, ns, d))
	}
	return k
}

func hr(id string, source ID, deps ...string) *HelmRelease {
	ns, name, _ := strings.Cut(id, "/")
	h := &HelmRelease{Meta: Meta{ID: ID{KindHelmRelease, ns, name}}}
	if source.Kind == KindHelmRepository || source.Kind == KindGitRepository {
		h.Chart = &ChartTemplate{Chart: name, SourceRef: source}
	} else {
		h.ChartRef = source
	}
	for _, d := range deps {
		h.DependsOn = append(h.DependsOn, ref(KindHelmRelease, ns, d))
	}
	return h
}

func withWait(k *Kustomization) *Kustomization { k.Wait = true; return k }

// dependsOnResourceSet makes k depend on ResourceSet name of its namespace.
func dependsOnResourceSet(k *Kustomization, name string) *Kustomization {
	k.DependsOn = append(k.DependsOn, ID{KindResourceSet, k.ID.Namespace, name})
	return k
}

func withHealthChecks(k *Kustomization, hcs ...spec.HealthCheck) *Kustomization {
	k.HealthChecks = hcs
	return k
}

func gitRepo(id string) *GitRepository {
	ns, name, _ := strings.Cut(id, "/")
	return &GitRepository{Meta: Meta{ID: ID{KindGitRepository, ns, name}}}
}

func helmRepo(id string) *HelmRepository {
	ns, name, _ := strings.Cut(id, "/")
	return &HelmRepository{Meta: Meta{ID: ID{KindHelmRepository, ns, name}}}
}

func helmChart(id, gitSource string) *HelmChart {
	ns, name, _ := strings.Cut(id, "/")
	return &HelmChart{Meta: Meta{ID: ID{KindHelmChart, ns, name}}, SourceRef: ID{KindGitRepository, ns, gitSource}}
}

func ids(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Metadata().ID.String())
	}
	return out
}

func TestGraphSources(t *testing.T) {
	objects := []Object{
		gitRepo("flux-system/flux-system"),
		helmRepo("flux-system/charts"),
		helmChart("apps/chart", "repo"),
		gitRepo("apps/repo"),
		ks("flux-system/infra", "flux-system"),
		ks("apps/apps", "flux-system/flux-system"),
		ks("apps/lost", "missing"),
		hr("apps/web", ID{KindHelmRepository, "flux-system", "charts"}),
		hr("apps/api", ID{KindHelmChart, "apps", "chart"}),
		hr("apps/orphan", ID{KindHelmChart, "apps", "nochart"}),
		&GitRepository{Meta: Meta{ID: ID{KindGitRepository, "apps", "main"}}, Include: []GitInclude{
			{Repository: ID{KindGitRepository, "apps", "repo"}}, {Repository: ID{KindGitRepository, "apps", "lib"}}}},
		&GitRepository{Meta: Meta{ID: ID{KindGitRepository, "apps", "lib"}}, Include: []GitInclude{
			{Repository: ID{KindGitRepository, "apps", "missing"}}}},
		ks("apps/includes", "main"),
		ks("apps/broken-include", "lib"),
	}
	tests := []struct {
		name string
		opts GraphOptions
		unit string
		want []string
		is   error
		err  string
	}{
		{name: "Kustomization, same namespace", unit: "Kustomization/flux-system/infra", want: []string{"GitRepository/flux-system/flux-system"}},
		{name: "Kustomization, other namespace", unit: "Kustomization/apps/apps", want: []string{"GitRepository/flux-system/flux-system"}},
		{name: "cross-namespace refused", opts: GraphOptions{NoCrossNamespaceRefs: true}, unit: "Kustomization/apps/apps", is: ErrCrossNamespace,
			err: "Kustomization/apps/apps: sourceRef GitRepository/flux-system/flux-system: cross-namespace reference not allowed"},
		{name: "missing source", unit: "Kustomization/apps/lost", is: ErrNotFound,
			err: "Kustomization/apps/lost: sourceRef GitRepository/apps/missing: not found in this run"},
		{name: "HelmRelease chart template", unit: "HelmRelease/apps/web", want: []string{"HelmRepository/flux-system/charts"}},
		{name: "HelmRelease chartRef to a HelmChart and its source", unit: "HelmRelease/apps/api",
			want: []string{"HelmChart/apps/chart", "GitRepository/apps/repo"}},
		{name: "included GitRepositories follow the source", unit: "Kustomization/apps/includes",
			want: []string{"GitRepository/apps/main", "GitRepository/apps/repo", "GitRepository/apps/lib"}},
		{name: "missing include", unit: "Kustomization/apps/broken-include", is: ErrNotFound,
			err: "Kustomization/apps/broken-include: sourceRef GitRepository/apps/lib: spec.include[0].repository GitRepository/apps/missing: not found in this run"},
		{name: "HelmRelease chartRef missing", unit: "HelmRelease/apps/orphan", is: ErrNotFound,
			err: "HelmRelease/apps/orphan: chartRef HelmChart/apps/nochart: not found in this run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGraph(tc.opts)
			if err := g.Add(ID{}, objects...); err != nil {
				t.Fatal(err)
			}
			kind, rest, _ := strings.Cut(tc.unit, "/")
			ns, name, _ := strings.Cut(rest, "/")
			u := g.Object(ID{kind, ns, name}).(Unit)
			got, err := g.Sources(u)
			if tc.is != nil {
				if !errors.Is(err, tc.is) || err.Error() != tc.err {
					t.Fatalf("Sources error %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("Sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGraphCycles(t *testing.T) {
	tests := []struct {
		name  string
		units []Object
		want  map[string]string
	}{
		{name: "none", units: []Object{ks("ns/a", "r"), ks("ns/b", "r", "a")}, want: map[string]string{}},
		{name: "two", units: []Object{ks("ns/a", "r", "b"), ks("ns/b", "r", "a"), ks("ns/c", "r", "a")}, want: map[string]string{
			"Kustomization/ns/a": "dependsOn cycle: Kustomization/ns/a → Kustomization/ns/b → Kustomization/ns/a",
			"Kustomization/ns/b": "dependsOn cycle: Kustomization/ns/b → Kustomization/ns/a → Kustomization/ns/b",
		}},
		{name: "self", units: []Object{ks("ns/a", "r", "a")}, want: map[string]string{
			"Kustomization/ns/a": "dependsOn cycle: Kustomization/ns/a → Kustomization/ns/a",
		}},
		{name: "across namespaces, shortest", units: []Object{
			ks("x/a", "r", "y/b"), ks("y/b", "r", "z/c", "x/a"), ks("z/c", "r", "x/a"),
		}, want: map[string]string{
			"Kustomization/x/a": "dependsOn cycle: Kustomization/x/a → Kustomization/y/b → Kustomization/x/a",
			"Kustomization/y/b": "dependsOn cycle: Kustomization/y/b → Kustomization/x/a → Kustomization/y/b",
			"Kustomization/z/c": "dependsOn cycle: Kustomization/z/c → Kustomization/x/a → Kustomization/y/b → Kustomization/z/c",
		}},
		{name: "HelmReleases", units: []Object{hr("ns/a", ID{KindHelmChart, "ns", "c"}, "b"), hr("ns/b", ID{KindHelmChart, "ns", "c"}, "a")}, want: map[string]string{
			"HelmRelease/ns/a": "dependsOn cycle: HelmRelease/ns/a → HelmRelease/ns/b → HelmRelease/ns/a",
			"HelmRelease/ns/b": "dependsOn cycle: HelmRelease/ns/b → HelmRelease/ns/a → HelmRelease/ns/b",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGraph(GraphOptions{})
			if err := g.Add(ID{}, tc.units...); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for id, err := range g.Cycles() {
				if !errors.Is(err, ErrCycle) {
					t.Errorf("%s: %v does not match ErrCycle", id, err)
				}
				got[id.String()] = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Cycles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGraphAddAndCheck(t *testing.T) {
	g := NewGraph(GraphOptions{})
	if err := g.Add(ID{}, gitRepo("ns/r"), ks("ns/root", "r")); err != nil {
		t.Fatal(err)
	}
	parent := ID{KindKustomization, "ns", "root"}
	err := g.Add(parent, ks("ns/a", "r"), gitRepo("ns/r"), ks("ns/a", "r"))
	want := "GitRepository/ns/r: defined twice: rendered by the sync and by Kustomization/ns/root\n" +
		"Kustomization/ns/a: defined twice in the render of Kustomization/ns/root"
	if !errors.Is(err, ErrDuplicate) || err.Error() != want {
		t.Fatalf("Add error %v; want %q", err, want)
	}
	if g.Object(ID{KindKustomization, "ns", "a"}) != nil {
		t.Error("a failed Add added objects")
	}
	if err := g.Add(parent, ks("ns/a", "missing", "b", "nope"), ks("ns/b", "r", "a")); err != nil {
		t.Fatal(err)
	}
	if p, ok := g.Parent(ID{KindKustomization, "ns", "a"}); !ok || p != parent {
		t.Errorf("Parent = %v, %t; want %v", p, ok, parent)
	}
	if _, ok := g.Parent(ID{KindKustomization, "ns", "root"}); ok {
		t.Error("a top-level unit has a parent")
	}
	err = g.Check()
	wantLines := []string{
		"Kustomization/ns/a: dependsOn cycle: Kustomization/ns/a → Kustomization/ns/b → Kustomization/ns/a",
		"Kustomization/ns/a: dependsOn Kustomization/ns/nope: not found: no unit of this run defines it",
		"Kustomization/ns/a: sourceRef GitRepository/ns/missing: not found in this run",
		"Kustomization/ns/b: dependsOn cycle: Kustomization/ns/b → Kustomization/ns/a → Kustomization/ns/b",
	}
	if err == nil {
		t.Fatal("Check found nothing")
	}
	if diff := cmp.Diff(wantLines, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
}

// step is what a scripted unit's run does.
type step struct {
	err      error
	children []Object
}

// outcome is a Result without times, for comparison.
type outcome struct {
	Unit, Parent, Status, Err string
}

func outcomes(rs []Result) []outcome {
	var out []outcome
	for _, r := range rs {
		o := outcome{Unit: r.Unit.String(), Status: string(r.Status)}
		if r.Parent != (ID{}) {
			o.Parent = r.Parent.String()
		}
		if r.Err != nil {
			o.Err = r.Err.Error()
		}
		out = append(out, o)
	}
	return out
}

func TestSchedule(t *testing.T) {
	boom := errors.New("apply failed")
	const root = "Kustomization/flux-system/flux-system"
	tests := []struct {
		name    string
		opts    GraphOptions
		initial []Object
		script  map[string]step
		want    []outcome
		// wantOrder, when set, is the order in which runs started
		// (Concurrency 1).
		wantOrder []string
	}{
		{
			name: "dependency order",
			initial: []Object{gitRepo("flux-system/flux-system"),
				ks("flux-system/apps", "flux-system", "infra-configs"),
				ks("flux-system/infra-configs", "flux-system", "infra-controllers"),
				ks("flux-system/infra-controllers", "flux-system")},
			want: []outcome{
				{Unit: "Kustomization/flux-system/apps", Status: "Succeeded"},
				{Unit: "Kustomization/flux-system/infra-configs", Status: "Succeeded"},
				{Unit: "Kustomization/flux-system/infra-controllers", Status: "Succeeded"},
			},
			wantOrder: []string{"Kustomization/flux-system/infra-controllers", "Kustomization/flux-system/infra-configs", "Kustomization/flux-system/apps"},
		},
		{
			name:    "a failed dependency skips its dependents, naming it",
			initial: []Object{gitRepo("ns/r"), ks("ns/a", "r"), ks("ns/b", "r", "a"), ks("ns/c", "r", "b"), ks("ns/d", "r")},
			script:  map[string]step{"Kustomization/ns/a": {err: boom}},
			want: []outcome{
				{Unit: "Kustomization/ns/a", Status: "Failed", Err: "Kustomization/ns/a: apply failed"},
				{Unit: "Kustomization/ns/b", Status: "Skipped", Err: "Kustomization/ns/b: dependency did not succeed: Kustomization/ns/a failed: Kustomization/ns/a: apply failed"},
				{Unit: "Kustomization/ns/c", Status: "Skipped", Err: "Kustomization/ns/c: dependency did not succeed: Kustomization/ns/b was skipped: " +
					"Kustomization/ns/b: dependency did not succeed: Kustomization/ns/a failed: Kustomization/ns/a: apply failed"},
				{Unit: "Kustomization/ns/d", Status: "Succeeded"},
			},
		},
		{
			name:    "a cycle fails its units, naming it, and skips what depends on them",
			initial: []Object{gitRepo("ns/r"), ks("ns/a", "r", "b"), ks("ns/b", "r", "a"), ks("ns/c", "r", "a"), ks("ns/d", "r")},
			want: []outcome{
				{Unit: "Kustomization/ns/a", Status: "Failed", Err: "Kustomization/ns/a: dependsOn cycle: Kustomization/ns/a → Kustomization/ns/b → Kustomization/ns/a"},
				{Unit: "Kustomization/ns/b", Status: "Failed", Err: "Kustomization/ns/b: dependsOn cycle: Kustomization/ns/b → Kustomization/ns/a → Kustomization/ns/b"},
				{Unit: "Kustomization/ns/c", Status: "Skipped", Err: "Kustomization/ns/c: dependency did not succeed: Kustomization/ns/a failed: " +
					"Kustomization/ns/a: dependsOn cycle: Kustomization/ns/a → Kustomization/ns/b → Kustomization/ns/a"},
				{Unit: "Kustomization/ns/d", Status: "Succeeded"},
			},
		},
		{
			name:    "app of apps: rendered units join the run under their parent",
			initial: []Object{gitRepo("flux-system/flux-system"), ks("flux-system/flux-system", "flux-system")},
			script: map[string]step{
				root: {children: []Object{
					ks("flux-system/apps", "flux-system", "infra"),
					ks("flux-system/infra", "flux-system"),
				}},
				"Kustomization/flux-system/apps": {children: []Object{
					helmRepo("podinfo/podinfo"),
					hr("podinfo/podinfo", ID{KindHelmRepository, "podinfo", "podinfo"}, "redis"),
					hr("podinfo/redis", ID{KindHelmRepository, "podinfo", "podinfo"}),
				}},
			},
			want: []outcome{
				{Unit: root, Status: "Succeeded"},
				{Unit: "Kustomization/flux-system/apps", Parent: root, Status: "Succeeded"},
				{Unit: "Kustomization/flux-system/infra", Parent: root, Status: "Succeeded"},
				{Unit: "HelmRelease/podinfo/podinfo", Parent: "Kustomization/flux-system/apps", Status: "Succeeded"},
				{Unit: "HelmRelease/podinfo/redis", Parent: "Kustomization/flux-system/apps", Status: "Succeeded"},
			},
			wantOrder: []string{root, "Kustomization/flux-system/infra", "Kustomization/flux-system/apps",
				"HelmRelease/podinfo/redis", "HelmRelease/podinfo/podinfo"},
		},
		{
			name:    "dependsOn a unit found later waits for it",
			initial: []Object{gitRepo("ns/r"), ks("ns/early", "r", "late"), ks("ns/finder", "r")},
			script: map[string]step{
				"Kustomization/ns/finder": {children: []Object{ks("ns/late", "r")}},
			},
			want: []outcome{
				{Unit: "Kustomization/ns/early", Status: "Succeeded"},
				{Unit: "Kustomization/ns/finder", Status: "Succeeded"},
				{Unit: "Kustomization/ns/late", Parent: "Kustomization/ns/finder", Status: "Succeeded"},
			},
			wantOrder: []string{"Kustomization/ns/finder", "Kustomization/ns/late", "Kustomization/ns/early"},
		},
		{
			name:    "a source found later is waited for too",
			initial: []Object{gitRepo("ns/r"), ks("ns/app", "app-repo"), ks("ns/sources", "r")},
			script: map[string]step{
				"Kustomization/ns/sources": {children: []Object{gitRepo("ns/app-repo")}},
			},
			want: []outcome{
				{Unit: "Kustomization/ns/app", Status: "Succeeded"},
				{Unit: "Kustomization/ns/sources", Status: "Succeeded"},
			},
			wantOrder: []string{"Kustomization/ns/sources", "Kustomization/ns/app"},
		},
		{
			name:    "wait: dependents wait for the units a Kustomization renders",
			initial: []Object{gitRepo("ns/r"), withWait(ks("ns/infra", "r")), ks("ns/configs", "r", "infra"), ks("ns/other", "r")},
			script: map[string]step{
				"Kustomization/ns/infra":      {children: []Object{hr("ns/cert-manager", ID{KindHelmRepository, "ns", "charts"}), helmRepo("ns/charts")}},
				"HelmRelease/ns/cert-manager": {err: boom},
			},
			want: []outcome{
				{Unit: "Kustomization/ns/infra", Status: "Succeeded"},
				{Unit: "Kustomization/ns/configs", Status: "Skipped", Err: "Kustomization/ns/configs: dependency did not succeed: HelmRelease/ns/cert-manager failed: HelmRelease/ns/cert-manager: apply failed"},
				{Unit: "Kustomization/ns/other", Status: "Succeeded"},
				{Unit: "HelmRelease/ns/cert-manager", Parent: "Kustomization/ns/infra", Status: "Failed", Err: "HelmRelease/ns/cert-manager: apply failed"},
			},
		},
		{
			name: "wait: dependents wait for the units a ResourceSet generates",
			initial: []Object{gitRepo("ns/r"), &ResourceSet{Meta: Meta{ID: ID{KindResourceSet, "ns", "tenants"}}, Wait: true},
				dependsOnResourceSet(ks("ns/configs", "r"), "tenants")},
			script: map[string]step{
				"ResourceSet/ns/tenants":  {children: []Object{ks("ns/team-a", "r")}},
				"Kustomization/ns/team-a": {err: boom},
			},
			want: []outcome{
				{Unit: "ResourceSet/ns/tenants", Status: "Succeeded"},
				{Unit: "Kustomization/ns/configs", Status: "Skipped", Err: "Kustomization/ns/configs: dependency did not succeed: Kustomization/ns/team-a failed: Kustomization/ns/team-a: apply failed"},
				{Unit: "Kustomization/ns/team-a", Parent: "ResourceSet/ns/tenants", Status: "Failed", Err: "Kustomization/ns/team-a: apply failed"},
			},
		},
		{
			name: "no wait: dependents of a ResourceSet do not wait for what it generates",
			initial: []Object{gitRepo("ns/r"), &ResourceSet{Meta: Meta{ID: ID{KindResourceSet, "ns", "tenants"}}},
				dependsOnResourceSet(ks("ns/configs", "r"), "tenants")},
			script: map[string]step{
				"ResourceSet/ns/tenants":  {children: []Object{ks("ns/team-a", "r")}},
				"Kustomization/ns/team-a": {err: boom},
			},
			want: []outcome{
				{Unit: "ResourceSet/ns/tenants", Status: "Succeeded"},
				{Unit: "Kustomization/ns/configs", Status: "Succeeded"},
				{Unit: "Kustomization/ns/team-a", Parent: "ResourceSet/ns/tenants", Status: "Failed", Err: "Kustomization/ns/team-a: apply failed"},
			},
		},
		{
			name: "healthChecks: dependents wait for the units named, not for the others",
			initial: []Object{gitRepo("ns/r"), helmRepo("ns/charts"),
				withHealthChecks(ks("ns/infra", "r"), spec.HealthCheck{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: KindHelmRelease, Name: "a", Namespace: "ns"}),
				ks("ns/configs", "r", "infra")},
			script: map[string]step{
				"Kustomization/ns/infra": {children: []Object{hr("ns/a", ID{KindHelmRepository, "ns", "charts"}), hr("ns/b", ID{KindHelmRepository, "ns", "charts"})}},
				"HelmRelease/ns/b":       {err: boom},
			},
			want: []outcome{
				{Unit: "Kustomization/ns/infra", Status: "Succeeded"},
				{Unit: "Kustomization/ns/configs", Status: "Succeeded"},
				{Unit: "HelmRelease/ns/a", Parent: "Kustomization/ns/infra", Status: "Succeeded"},
				{Unit: "HelmRelease/ns/b", Parent: "Kustomization/ns/infra", Status: "Failed", Err: "HelmRelease/ns/b: apply failed"},
			},
			wantOrder: []string{"Kustomization/ns/infra", "HelmRelease/ns/a", "Kustomization/ns/configs", "HelmRelease/ns/b"},
		},
		{
			name:    "wait: a unit does not wait for its own parent's render",
			initial: []Object{gitRepo("ns/r"), withWait(ks("ns/parent", "r"))},
			script: map[string]step{
				"Kustomization/ns/parent": {children: []Object{ks("ns/x", "r", "parent"), ks("ns/y", "r", "parent")}},
			},
			want: []outcome{
				{Unit: "Kustomization/ns/parent", Status: "Succeeded"},
				{Unit: "Kustomization/ns/x", Parent: "Kustomization/ns/parent", Status: "Succeeded"},
				{Unit: "Kustomization/ns/y", Parent: "Kustomization/ns/parent", Status: "Succeeded"},
			},
		},
		{
			// The Flux Operator creates GitRepository flux-system from its
			// FluxInstance: no file defines it. The fallback stands for it
			// once nothing could render it, and only for it; a unit that
			// renders it later conflicts with the fallback.
			name: "a fallback source, once nothing running could render it",
			opts: GraphOptions{Fallback: func(ref ID) Object {
				if ref == (ID{KindGitRepository, "flux-system", "flux-system"}) {
					return gitRepo("flux-system/flux-system")
				}
				return nil
			}},
			initial: []Object{ks("flux-system/cluster", "flux-system"), ks("flux-system/lost", "other")},
			script: map[string]step{
				"Kustomization/flux-system/cluster": {children: []Object{ks("apps/app", "flux-system/flux-system")}},
			},
			want: []outcome{
				{Unit: "Kustomization/flux-system/cluster", Status: "Succeeded"},
				{Unit: "Kustomization/flux-system/lost", Status: "Failed", Err: "Kustomization/flux-system/lost: sourceRef GitRepository/flux-system/other: not found in this run"},
				{Unit: "Kustomization/apps/app", Parent: "Kustomization/flux-system/cluster", Status: "Succeeded"},
			},
		},
		{
			name: "an ExternalArtifact waits for its generator's sources",
			initial: []Object{gitRepo("ns/r"), ks("ns/sources", "r"),
				&Kustomization{Meta: Meta{ID: ID{KindKustomization, "ns", "app"}}, Source: ID{KindExternalArtifact, "ns", "art"}},
				(&ArtifactGenerator{Meta: Meta{ID: ID{KindArtifactGenerator, "ns", "gen"}},
					Sources:   []GeneratorSource{{Alias: "a", Ref: ID{KindGitRepository, "ns", "r"}}, {Alias: "b", Ref: ID{KindGitRepository, "ns", "late"}}},
					Artifacts: []GeneratedArtifact{{Name: "art"}}}).ExternalArtifacts()[0]},
			script: map[string]step{
				"Kustomization/ns/sources": {children: []Object{gitRepo("ns/late")}},
			},
			want: []outcome{
				{Unit: "Kustomization/ns/sources", Status: "Succeeded"},
				{Unit: "Kustomization/ns/app", Status: "Succeeded"},
			},
			wantOrder: []string{"Kustomization/ns/sources", "Kustomization/ns/app"},
		},
		{
			name:    "what no unit defines fails once nothing runs",
			initial: []Object{gitRepo("ns/r"), ks("ns/a", "r", "ghost"), ks("ns/b", "nowhere"), ks("ns/c", "r", "a"), ks("ns/d", "r")},
			want: []outcome{
				{Unit: "Kustomization/ns/a", Status: "Failed", Err: "Kustomization/ns/a: dependsOn Kustomization/ns/ghost: not found: no unit of this run defines it"},
				{Unit: "Kustomization/ns/b", Status: "Failed", Err: "Kustomization/ns/b: sourceRef GitRepository/ns/nowhere: not found in this run"},
				{Unit: "Kustomization/ns/c", Status: "Skipped", Err: "Kustomization/ns/c: dependency did not succeed: Kustomization/ns/a failed: " +
					"Kustomization/ns/a: dependsOn Kustomization/ns/ghost: not found: no unit of this run defines it"},
				{Unit: "Kustomization/ns/d", Status: "Succeeded"},
			},
		},
		{
			name:    "a unit that renders an object already in the run fails",
			initial: []Object{gitRepo("ns/r"), ks("ns/a", "r")},
			script:  map[string]step{"Kustomization/ns/a": {children: []Object{gitRepo("ns/r")}}},
			want: []outcome{
				{Unit: "Kustomization/ns/a", Status: "Failed", Err: "GitRepository/ns/r: defined twice: rendered by the sync and by Kustomization/ns/a"},
			},
		},
		{
			name:    "a failed unit's rendered objects are not added",
			initial: []Object{gitRepo("ns/r"), ks("ns/a", "r"), ks("ns/b", "r", "child")},
			script:  map[string]step{"Kustomization/ns/a": {err: boom, children: []Object{ks("ns/child", "r")}}},
			want: []outcome{
				{Unit: "Kustomization/ns/a", Status: "Failed", Err: "Kustomization/ns/a: apply failed"},
				{Unit: "Kustomization/ns/b", Status: "Failed", Err: "Kustomization/ns/b: dependsOn Kustomization/ns/child: not found: no unit of this run defines it"},
			},
		},
		{
			name:    "cross-namespace references under NoCrossNamespaceRefs",
			opts:    GraphOptions{NoCrossNamespaceRefs: true},
			initial: []Object{gitRepo("a/r"), gitRepo("b/r"), ks("a/x", "b/r"), ks("a/y", "r", "b/z"), ks("b/z", "r")},
			want: []outcome{
				{Unit: "Kustomization/a/x", Status: "Failed", Err: "Kustomization/a/x: sourceRef GitRepository/b/r: cross-namespace reference not allowed"},
				{Unit: "Kustomization/a/y", Status: "Failed", Err: "Kustomization/a/y: dependsOn Kustomization/b/z: cross-namespace reference not allowed"},
				{Unit: "Kustomization/b/z", Status: "Succeeded"},
			},
		},
	}
	for _, tc := range tests {
		for _, conc := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/concurrency %d", tc.name, conc), func(t *testing.T) {
				g := NewGraph(tc.opts)
				if err := g.Add(ID{}, tc.initial...); err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				var order []string
				finished := map[ID]bool{}
				run := func(ctx context.Context, u Unit, sources []Object) ([]Object, error) {
					id := u.Metadata().ID
					mu.Lock()
					order = append(order, id.String())
					for _, d := range u.Dependencies() {
						if !finished[d] {
							t.Errorf("%s started before its dependency %s finished", id, d)
						}
					}
					mu.Unlock()
					if u.SourceRef() == (ID{}) && len(sources) == 0 {
						// A ResourceSet without providers reads no source.
					} else if len(sources) == 0 || sources[0].Metadata().ID != u.SourceRef() {
						t.Errorf("%s got sources %v", id, ids(sources))
					}
					time.Sleep(time.Millisecond)
					mu.Lock()
					finished[id] = true
					mu.Unlock()
					s := tc.script[id.String()]
					return s.children, s.err
				}
				got := Schedule(t.Context(), g, ScheduleOptions{Run: run, Concurrency: conc})
				if diff := cmp.Diff(tc.want, outcomes(got)); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
				if tc.wantOrder != nil && conc == 1 {
					if diff := cmp.Diff(tc.wantOrder, order); diff != "" {
						t.Errorf("start order (-want +got):\n%s", diff)
					}
				}
				for _, r := range got {
					switch {
					case r.Status == Succeeded && (r.Start.IsZero() || r.End.Before(r.Start)),
						r.Status == Skipped && !r.Start.IsZero():
						t.Errorf("%s: %s with start %v end %v", r.Unit, r.Status, r.Start, r.End)
					}
				}
			})
		}
	}
}

// TestScheduleConcurrency checks that independent units run at the same
// time, never more than Concurrency at once.
func TestScheduleConcurrency(t *testing.T) {
	g := NewGraph(GraphOptions{})
	objs := []Object{gitRepo("ns/r")}
	for i := range 6 {
		objs = append(objs, ks(fmt.Sprintf("ns/u%d", i), "r"))
	}
	if err := g.Add(ID{}, objs...); err != nil {
		t.Fatal(err)
	}
	started := make(chan ID)
	release := make(chan struct{})
	done := make(chan []Result)
	go func() {
		done <- Schedule(t.Context(), g, ScheduleOptions{Concurrency: 2, Run: func(ctx context.Context, u Unit, _ []Object) ([]Object, error) {
			started <- u.Metadata().ID
			<-release
			return nil, nil
		}})
	}()
	for range 2 {
		<-started
	}
	select {
	case id := <-started:
		t.Fatalf("%s started while two units ran with Concurrency 2", id)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for range 4 {
		<-started
	}
	for _, r := range <-done {
		if r.Status != Succeeded {
			t.Errorf("%s: %s %v", r.Unit, r.Status, r.Err)
		}
	}
}

func TestScheduleCancel(t *testing.T) {
	g := NewGraph(GraphOptions{})
	if err := g.Add(ID{}, gitRepo("ns/r"), ks("ns/a", "r"), ks("ns/b", "r", "a"), ks("ns/c", "r")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	got := Schedule(ctx, g, ScheduleOptions{Concurrency: 1, Run: func(ctx context.Context, u Unit, _ []Object) ([]Object, error) {
		cancel()
		return nil, nil
	}})
	want := []outcome{
		{Unit: "Kustomization/ns/a", Status: "Succeeded"},
		{Unit: "Kustomization/ns/b", Status: "Skipped", Err: "Kustomization/ns/b: not run: context canceled"},
		{Unit: "Kustomization/ns/c", Status: "Skipped", Err: "Kustomization/ns/c: not run: context canceled"},
	}
	if diff := cmp.Diff(want, outcomes(got)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestScheduleUnordered: with Unordered a unit starts without waiting for
// the units it depends on, so that a check that only reads runs a chain
// of dependsOn at once; it still waits for its source, and a dependency
// that failed still skips the units that have not started.
func TestScheduleUnordered(t *testing.T) {
	g := NewGraph(GraphOptions{})
	if err := g.Add(ID{}, gitRepo("ns/r"), ks("ns/a", "r"), ks("ns/b", "r", "a"), ks("ns/c", "r", "b")); err != nil {
		t.Fatal(err)
	}
	// a returns only once b and c have started: ordered, that never happens.
	var started sync.WaitGroup
	started.Add(2)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := Schedule(ctx, g, ScheduleOptions{Concurrency: 3, Unordered: true, Run: func(ctx context.Context, u Unit, _ []Object) ([]Object, error) {
		if u.Metadata().ID.Name == "a" {
			waited := make(chan struct{})
			go func() { started.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-ctx.Done():
				return nil, errors.New("b and c did not start while a ran")
			}
			return nil, nil
		}
		started.Done()
		return nil, nil
	}})
	for _, r := range got {
		if r.Status != Succeeded {
			t.Errorf("%s: %s %v", r.Unit, r.Status, r.Err)
		}
	}

	// A failed dependency skips what has not started yet.
	g = NewGraph(GraphOptions{})
	if err := g.Add(ID{}, gitRepo("ns/r"), ks("ns/a", "r"), ks("ns/b", "r", "a")); err != nil {
		t.Fatal(err)
	}
	got = Schedule(t.Context(), g, ScheduleOptions{Concurrency: 1, Unordered: true, Run: func(ctx context.Context, u Unit, _ []Object) ([]Object, error) {
		return nil, errors.New("broken")
	}})
	want := []outcome{
		{Unit: "Kustomization/ns/a", Status: "Failed", Err: "Kustomization/ns/a: broken"},
		{Unit: "Kustomization/ns/b", Status: "Skipped", Err: "Kustomization/ns/b: dependency did not succeed: Kustomization/ns/a failed: Kustomization/ns/a: broken"},
	}
	if diff := cmp.Diff(want, outcomes(got)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestScheduleReadyExpr: a dependsOn entry with a readyExpr makes the
// dependency ready when the expression says so, whatever its result: the
// dependent runs after a failed dependency the expression accepts, and is
// skipped after a successful one it refuses; an expression that cannot be
// evaluated fails the dependent. Each is asked once per dependency.
func TestScheduleReadyExpr(t *testing.T) {
	g := NewGraph(GraphOptions{})
	withExpr := func(k *Kustomization, dep, expr string) *Kustomization {
		k.ReadyExprs = map[ID]string{{Kind: KindKustomization, Namespace: "ns", Name: dep}: expr}
		return k
	}
	if err := g.Add(ID{}, gitRepo("ns/r"), ks("ns/broken", "r"), ks("ns/fine", "r"),
		withExpr(ks("ns/lenient", "r", "broken"), "broken", "accept"),
		withExpr(ks("ns/strict", "r", "fine"), "fine", "refuse"),
		withExpr(ks("ns/typo", "r", "fine"), "fine", "error"),
		ks("ns/plain", "r", "broken")); err != nil {
		t.Fatal(err)
	}
	asked := map[string]int{}
	got := Schedule(t.Context(), g, ScheduleOptions{Concurrency: 1,
		Run: func(ctx context.Context, u Unit, _ []Object) ([]Object, error) {
			if u.Metadata().ID.Name == "broken" {
				return nil, errors.New("broken")
			}
			return nil, nil
		},
		DependencyReady: func(_ context.Context, u Unit, dep ID, expr string, r Result) (bool, error) {
			asked[u.Metadata().ID.Name+"→"+dep.Name+":"+string(r.Status)]++
			switch expr {
			case "accept":
				return true, nil
			case "refuse":
				return false, nil
			}
			return false, errors.New("no such key: stauts")
		}})
	want := []outcome{
		{Unit: "Kustomization/ns/broken", Status: "Failed", Err: "Kustomization/ns/broken: broken"},
		{Unit: "Kustomization/ns/fine", Status: "Succeeded"},
		{Unit: "Kustomization/ns/lenient", Status: "Succeeded"},
		{Unit: "Kustomization/ns/strict", Status: "Skipped", Err: "Kustomization/ns/strict: dependency did not succeed: Kustomization/ns/fine is not ready: its readyExpr is false (it succeeded)"},
		{Unit: "Kustomization/ns/typo", Status: "Failed", Err: "Kustomization/ns/typo: spec.dependsOn Kustomization/ns/fine: readyExpr: no such key: stauts"},
		{Unit: "Kustomization/ns/plain", Status: "Skipped", Err: "Kustomization/ns/plain: dependency did not succeed: Kustomization/ns/broken failed: Kustomization/ns/broken: broken"},
	}
	if diff := cmp.Diff(want, outcomes(got)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for k, n := range asked {
		if n != 1 {
			t.Errorf("%s asked %d times", k, n)
		}
	}
	if len(asked) != 3 {
		t.Errorf("asked %v, want the three entries with a readyExpr", asked)
	}
}
