package apply

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

var crdTestGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// discoveryRequests counts the discovery requests among reqs: GETs of /api
// and /apis and of their group versions' resource lists.
func discoveryRequests(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		path, _, _ := strings.Cut(strings.TrimPrefix(r, "GET "), "?")
		if !strings.HasPrefix(r, "GET ") {
			continue
		}
		parts := strings.Split(strings.Trim(path, "/"), "/")
		switch {
		case path == "/api" || path == "/apis",
			parts[0] == "api" && len(parts) == 2,  // /api/v1
			parts[0] == "apis" && len(parts) == 3: // /apis/group/version
			out = append(out, r)
		}
	}
	return out
}

// crdDoc is a namespaced CRD of kind in group, served at v1.
func crdDoc(group, kind string) string {
	plural := strings.ToLower(kind) + "s"
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s.%s
spec:
  group: %s
  names: {kind: %s, plural: %s, singular: %s, listKind: %sList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, plural, group, group, kind, plural, strings.ToLower(kind), kind)
}

// installCRDs creates groups × kinds CRDs (named after ns) directly, waits
// until they are Established and deletes them when the test ends. It
// returns the groups.
func installCRDs(t *testing.T, ns string, groups, kinds int) []string {
	t.Helper()
	client := env.Dynamic().Resource(crdTestGVR)
	var names, groupNames []string
	var docs []*unstructured.Unstructured
	for g := range groups {
		group := fmt.Sprintf("g%02d.%s.example.com", g, strings.ReplaceAll(ns, "-", ""))
		groupNames = append(groupNames, group)
		for k := range kinds {
			u := objs(t, "", crdDoc(group, fmt.Sprintf("Gadget%02d", k)))[0]
			docs = append(docs, u)
			names = append(names, u.GetName())
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		forEach(ctx, names, 8, func(ctx context.Context, name string) {
			_ = client.Delete(ctx, name, metav1.DeleteOptions{})
		})
	})
	var (
		mu   sync.Mutex
		errs []error
	)
	forEach(t.Context(), docs, 8, func(ctx context.Context, u *unstructured.Unstructured) {
		if _, err := client.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		t.Fatalf("creating CRDs: %v", errs[0])
	}
	targets := make([]Target, len(names))
	for i, name := range names {
		targets[i] = Target{ID: object.ID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: name}, Version: "v1", Resource: "customresourcedefinitions"}
	}
	e, _ := newEngine(t, nil)
	for i, err := range e.waitAll(t.Context(), targets, WaitOptions{Timeout: 2 * time.Minute}) {
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
	}
	return groupNames
}

// TestDiscoveryManyCRDs resolves objects of built-in and custom kinds on a
// cluster with 300 CRDs: one discovery read of 2 requests (aggregated
// discovery), however many CRDs and objects.
func TestDiscoveryManyCRDs(t *testing.T) {
	ns := env.NewNamespace(t)
	groups := installCRDs(t, ns, 30, 10)
	var docs strings.Builder
	for i := range 200 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&docs, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\n---\n", i)
		case 1:
			fmt.Fprintf(&docs, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d-%03d\n---\n", i)
		case 2:
			fmt.Fprintf(&docs, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: %s-cr-%03d\n---\n", ns, i)
		case 3:
			fmt.Fprintf(&docs, "apiVersion: %s/v1\nkind: Gadget%02d\nmetadata:\n  name: g-%03d\n---\n", groups[i%len(groups)], i%10, i)
		}
	}
	e, c := newEngine(t, nil)
	targets, err := e.Targets(objs(t, ns, docs.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := discoveryRequests(c.requests()); len(got) > 2 {
		t.Errorf("discovery took %d requests, want ≤ 2 (aggregated /api and /apis): %v", len(got), got)
	}
	if got := len(c.requests()); got > 2 {
		t.Errorf("resolving took %d requests, want 2: %v", got, c.requests())
	}
	got := map[string]string{}
	for _, tg := range targets {
		got[tg.Kind] = fmt.Sprintf("%s/%s namespaced=%v", tg.GroupVersionResource().GroupResource(), tg.Version, tg.Namespaced)
	}
	want := map[string]string{
		"ConfigMap":   "configmaps/v1 namespaced=true",
		"Deployment":  "deployments.apps/v1 namespaced=true",
		"ClusterRole": "clusterroles.rbac.authorization.k8s.io/v1 namespaced=false",
	}
	for i := 3; i < 200; i += 4 {
		want[fmt.Sprintf("Gadget%02d", i%10)] = fmt.Sprintf("gadget%02ds.%s/v1 namespaced=true", i%10, groups[i%len(groups)])
	}
	// Every Gadget kind of one number is in several groups: compare the
	// last one's by kind, and the count of resolved objects.
	if len(targets) != 200 {
		t.Fatalf("resolved %d objects, want 200", len(targets))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}

	// Many objects of kinds nobody serves: one more read, not one each.
	c.reset()
	var unknown strings.Builder
	for i := range 50 {
		fmt.Fprintf(&unknown, "apiVersion: nothere%d.example.com/v1\nkind: Missing\nmetadata:\n  name: m-%02d\n---\n", i%5, i)
	}
	if _, err := e.Targets(objs(t, ns, unknown.String())); err == nil || !strings.Contains(err.Error(), "Missing.nothere0.example.com") {
		t.Fatalf("unknown kinds: error %v, want one naming Missing.nothere0.example.com", err)
	}
	if got := discoveryRequests(c.requests()); len(got) != 2 {
		t.Errorf("50 objects of 5 unknown kinds: %d discovery requests, want 2 (one read again): %v", len(got), got)
	}
}

// TestDiscoveryCRDAppliedInRun applies, with an engine that has already
// read discovery (a run resolves its targets first), a CRD and objects of
// its kind: they map after one more read, and the CRD's kind resolves
// without discovery in Targets.
func TestDiscoveryCRDAppliedInRun(t *testing.T) {
	ns := env.NewNamespace(t)
	installCRDs(t, ns, 10, 10)
	group := "late." + strings.ReplaceAll(ns, "-", "") + ".example.com"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.Dynamic().Resource(crdTestGVR).Delete(ctx, "latecomers."+group, metav1.DeleteOptions{})
	})
	docs := crdDoc(group, "Latecomer") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
	for i := range 20 {
		docs += fmt.Sprintf("---\napiVersion: %s/v1\nkind: Latecomer\nmetadata:\n  name: l-%02d\nspec:\n  i: %d\n", group, i, i)
	}
	in := objs(t, ns, docs)
	e, c := newEngine(t, nil)
	targets, err := e.Targets(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := discoveryRequests(c.requests()); len(got) != 2 {
		t.Errorf("Targets: %d discovery requests, want 2 (the kind comes from the rendered CRD): %v", len(got), got)
	}
	for _, tg := range targets {
		if tg.Kind == "Latecomer" && (tg.Resource != "latecomers" || !tg.Namespaced) {
			t.Errorf("%s: target %+v, want latecomers, namespaced", tg.ID, tg)
		}
	}
	c.reset()
	cs := mustApply(t, e, in, Options{Labels: testLabels(ns)})
	for _, ch := range cs.Changes {
		if ch.Action != Created {
			t.Errorf("%s: %s, want Created", ch.ID, ch.Action)
		}
	}
	if _, err := env.Dynamic().Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "latecomers"}).
		Namespace(ns).Get(t.Context(), "l-19", metav1.GetOptions{}); err != nil {
		t.Errorf("Latecomer l-19: %v", err)
	}
	// One read when the kind is first missing after the CRD is
	// Established; more only if discovery lags behind (each retry reads
	// once, not once per object).
	if got := discoveryRequests(c.requests()); len(got) < 2 || len(got) > 6 {
		t.Errorf("Apply: %d discovery requests, want 2 (one more read), at most 6 if discovery lagged: %v", len(got), got)
	}
}

// TestDiscoverAhead: Discover reads discovery once (2 requests with
// aggregated discovery), concurrent calls included; a later Targets needs
// no request, and Discover again none.
func TestDiscoverAhead(t *testing.T) {
	ns := env.NewNamespace(t)
	e, c := newEngine(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = e.Discover(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := discoveryRequests(c.requests()); len(got) != 2 {
		t.Fatalf("3 concurrent Discovers: %d discovery requests %v; want 2", len(got), got)
	}
	c.reset()
	targets, err := e.Targets(objs(t, ns, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Resource != "deployments" {
		t.Errorf("targets %v; want the Deployment's resource", targets)
	}
	if err := e.Discover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := c.requests(); len(got) != 0 {
		t.Errorf("Targets and Discover after Discover sent %v; want nothing", got)
	}
}
