package flux

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

const imageTree = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: ns}
spec: {interval: 1m, url: https://git.example.com/r, ref: {branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: ns}
spec: {interval: 1m, prune: true, sourceRef: {kind: GitRepository, name: repo}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: ns}
spec: {interval: 1m, image: ghcr.io/org/app}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: ns, labels: {auto: "yes"}}
spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: ">=1.0.0"}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: other, namespace: ns}
spec: {imageRepositoryRef: {name: app}, policy: {alphabetical: {}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto, namespace: ns}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: repo}
  git: {commit: {author: {name: bot, email: bot@example.com}}}
  policySelector: {matchLabels: {auto: "yes"}}
  update: {path: ./apps}
`

func decodeDocs(t *testing.T, docs string) []Object {
	t.Helper()
	var out []Object
	for _, doc := range strings.Split(docs, "---\n") {
		o, err := Decode(obj(t, doc), DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// An automation reads its GitRepository and the policies it selects with
// their repositories; a Kustomization reading the same GitRepository
// waits for it, and is skipped when it fails.
func TestImageAutomationOrder(t *testing.T) {
	for _, fail := range []bool{false, true} {
		g := NewGraph(GraphOptions{})
		if err := g.Add(ID{}, decodeDocs(t, imageTree)...); err != nil {
			t.Fatal(err)
		}
		auto := ID{Kind: KindImageUpdateAutomation, Namespace: "ns", Name: "auto"}
		var mu sync.Mutex
		var order []string
		var autoSources []string
		results := Schedule(context.Background(), g, ScheduleOptions{Run: func(_ context.Context, u Unit, sources []Object) ([]Object, error) {
			id := u.Metadata().ID
			mu.Lock()
			order = append(order, id.Kind)
			mu.Unlock()
			if id == auto {
				for _, s := range sources {
					autoSources = append(autoSources, s.Metadata().ID.String())
				}
				if fail {
					return nil, errors.New("push rejected")
				}
			}
			return nil, nil
		}})
		if want := "GitRepository/ns/repo ImagePolicy/ns/app ImageRepository/ns/app"; strings.Join(autoSources, " ") != want {
			t.Errorf("automation sources %v, want %s", autoSources, want)
		}
		if fail {
			for _, r := range results {
				if r.Unit.Kind == KindKustomization && (r.Status != Skipped || !strings.Contains(r.Err.Error(), auto.String()+" failed")) {
					t.Errorf("Kustomization: %s %v; want Skipped naming the automation", r.Status, r.Err)
				}
			}
			continue
		}
		if strings.Join(order, ",") != "ImageUpdateAutomation,Kustomization" {
			t.Errorf("run order %v; the automation must run first", order)
		}
	}
}

// A unit that renders an automation does not wait for it (it could
// never run); the units it renders along with it do.
func TestImageAutomationRenderedByAUnit(t *testing.T) {
	objs := decodeDocs(t, imageTree)
	var root, children []Object
	for _, o := range objs {
		switch o.Metadata().ID.Kind {
		case KindGitRepository, KindKustomization:
			root = append(root, o)
		default:
			children = append(children, o)
		}
	}
	child := decodeDocs(t, strings.Replace(strings.Split(imageTree, "---\n")[1], "name: apps", "name: child", 1))
	children = append(children, child...)
	g := NewGraph(GraphOptions{})
	if err := g.Add(ID{}, root...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	results := Schedule(context.Background(), g, ScheduleOptions{Run: func(_ context.Context, u Unit, _ []Object) ([]Object, error) {
		id := u.Metadata().ID
		mu.Lock()
		order = append(order, id.Kind+"/"+id.Name)
		mu.Unlock()
		if id.Name == "apps" {
			return children, nil
		}
		return nil, nil
	}})
	for _, r := range results {
		if r.Status != Succeeded {
			t.Errorf("%s: %s %v", r.Unit, r.Status, r.Err)
		}
	}
	if got := strings.Join(order, ","); got != "Kustomization/apps,ImageUpdateAutomation/auto,Kustomization/child" {
		t.Errorf("run order %s", got)
	}
}
