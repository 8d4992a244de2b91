package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestDrift(t *testing.T) {
	ns := env.NewNamespace(t)
	e, requests := newEngine(t, nil)
	labels := testLabels(ns)
	var manifests strings.Builder
	manifests.WriteString(configMaps(ns, 15, "v"))
	for i := range 5 {
		fmt.Fprintf(&manifests, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-%d\nstringData:\n  k: v\n---\n", i)
	}
	applied := mustApply(t, e, objs(t, ns, manifests.String()), Options{Labels: labels})
	recorded := applied.Targets()
	if len(recorded) != 20 {
		t.Fatalf("%d targets, want 20", len(recorded))
	}
	const resources = 2 // configmaps, secrets
	drift := func(t *testing.T) []object.ID {
		t.Helper()
		requests.reset()
		cacheCaughtUp(t, recorded)
		got, err := e.Drift(t.Context(), recorded, DriftOptions{Selector: labels})
		if err != nil {
			t.Fatal(err)
		}
		// One LIST per resource from the watch cache, and one consistent
		// GET of each object it shows drifted.
		var lists, gets []string
		for _, r := range requests.requests() {
			path, query, _ := strings.Cut(r, "?")
			switch {
			case strings.HasSuffix(path, "/configmaps") || strings.HasSuffix(path, "/secrets"):
				lists = append(lists, r)
				if !strings.Contains(query, "resourceVersion=0") {
					t.Errorf("drift LIST %s: want it from the watch cache (resourceVersion=0)", r)
				}
			case strings.HasPrefix(r, "GET ") && !strings.Contains(query, "resourceVersion"):
				gets = append(gets, r)
			default:
				t.Errorf("drift check sent %s", r)
			}
		}
		if len(lists) != resources {
			t.Errorf("%d LISTs for %d resources: %v", len(lists), resources, lists)
		}
		if len(gets) != len(got) {
			t.Errorf("%d GETs for %d drifted objects: %v", len(gets), len(got), gets)
		}
		return got
	}

	if got := drift(t); len(got) != 0 {
		t.Fatalf("drift right after apply: %v", got)
	}

	// Changes that are not drift: a label gitsync does not own, and a
	// status-like write by another manager to a field it does not own.
	cm := getCM(t, ns, "cm-01")
	cm.SetLabels(mergeMaps(cm.GetLabels(), map[string]string{"team": "blue"}))
	if err := update(t.Context(), cmGVR, cm, "kubectl-label"); err != nil {
		t.Fatal(err)
	}
	if got := drift(t); len(got) != 0 {
		t.Fatalf("drift after an unrelated label: %v", got)
	}

	// kubectl edit of a field gitsync owns.
	cm = getCM(t, ns, "cm-03")
	if err := unstructured.SetNestedField(cm.Object, "edited", "data", "key"); err != nil {
		t.Fatal(err)
	}
	if err := update(t.Context(), cmGVR, cm, "kubectl-edit"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]object.ID{cmID(ns, "cm-03")}, drift(t)); diff != "" {
		t.Errorf("after kubectl edit (-want +got):\n%s", diff)
	}

	// A deleted object, and one deleted and recreated by someone else with
	// our labels and the same content.
	if err := env.Client().CoreV1().Secrets(ns).Delete(t.Context(), "s-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), "cm-07", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, e, objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-07\ndata:\n  key: \"v\"\n"), Options{Labels: labels})
	want := []object.ID{cmID(ns, "cm-03"), cmID(ns, "cm-07"), {Kind: "Secret", Namespace: ns, Name: "s-2"}}
	if diff := cmp.Diff(want, drift(t)); diff != "" {
		t.Errorf("after deletes (-want +got):\n%s", diff)
	}

	// Re-applying corrects the drift; the new fingerprints match again.
	again := mustApply(t, e, objs(t, ns, manifests.String()), Options{Labels: labels})
	if got, _, _ := unstructured.NestedString(getCM(t, ns, "cm-03").Object, "data", "key"); got != "v" {
		t.Errorf("drift not corrected: data.key = %q", got)
	}
	recorded = again.Targets()
	if got := drift(t); len(got) != 0 {
		t.Errorf("drift after re-apply: %v", got)
	}

	// Targets without a fingerprint are not checked.
	unchecked := Target{ID: cmID(ns, "never-applied"), Version: "v1", Resource: "configmaps", Namespaced: true}
	got, err := e.Drift(t.Context(), append(recorded, unchecked), DriftOptions{Selector: labels})
	if err != nil || len(got) != 0 {
		t.Errorf("Drift with an unfingerprinted target: %v %v", got, err)
	}
}

// cacheCaughtUp waits until the API server's watch cache of every resource
// and namespace of targets holds all writes made so far. The drift check
// lists from that cache, which may lag by moments: what it does not show
// yet is found by the next run, so a test expecting drift right after a
// write waits for it first.
func cacheCaughtUp(t *testing.T, targets []Target) {
	t.Helper()
	type key struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	seen := map[key]bool{}
	for _, tg := range targets {
		k := key{tg.GroupVersionResource(), tg.Namespace}
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := env.WatchCacheCaughtUp(t.Context(), k.gvr, k.ns); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWait(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}
	cs := mustApply(t, e, objs(t, ns, deploymentYAML("idle", 0, "example.invalid/x:1")+"---\n"+configMaps(ns, 2, "x")), opts)
	if err := e.Wait(t.Context(), cs.Targets(), WaitOptions{Timeout: 30 * time.Second, Selector: testLabels(ns)}); err != nil {
		t.Fatalf("Wait: %v", err)
	}

	// Without a node, one replica never becomes available.
	cs = mustApply(t, e, objs(t, ns, deploymentYAML("stuck", 1, "example.invalid/x:1")), opts)
	begin := time.Now()
	err := e.Wait(t.Context(), append(cs.Targets(), Target{ID: cmID(ns, "cm-00"), Version: "v1", Resource: "configmaps", Namespaced: true}),
		WaitOptions{Timeout: 2 * time.Second})
	if err == nil {
		t.Fatal("Wait succeeded for a Deployment that cannot become available")
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Wait took %s with a 2s timeout", took)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "Deployment.apps/"+ns+"/stuck: not Current after 2s: InProgress:") || strings.Contains(msg, "cm-00") {
		t.Errorf("error %q: want only the Deployment, with its status", msg)
	}

	// A missing object is not Current either.
	missing := Target{ID: cmID(ns, "missing"), Version: "v1", Resource: "configmaps", Namespaced: true}
	if err := e.Wait(t.Context(), []Target{missing}, WaitOptions{Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("Wait for a missing object: %v", err)
	}

	// A wait whose context has ended may read nothing; it fails with the
	// context's error for each target it did not read (once it panicked).
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	for range 20 {
		err := e.Wait(ended, cs.Targets(), WaitOptions{Timeout: time.Second, Selector: testLabels(ns)})
		if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("Wait with an ended context: %v", err)
		}
	}
}

// TestApplyEndedContext: an apply whose context ends while it applies
// reports every object it did not apply as failed; none is left without a
// result, as if it had nothing to report.
func TestApplyEndedContext(t *testing.T) {
	ns := env.NewNamespace(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := env.Config()
	// The first apply request ends the context.
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch {
				cancel()
			}
			return rt.RoundTrip(r)
		})
	})
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := e.Apply(ctx, objs(t, ns, configMaps(ns, 12, "v")), Options{Labels: testLabels(ns), Concurrency: 1})
	if cs == nil {
		t.Fatalf("Apply: no changes (%v)", err)
	}
	failed := 0
	for _, c := range cs.Changes {
		if c.Err == nil && c.Action != Created {
			t.Errorf("%s: %q without an error after the context ended", c.ID, c.Action)
		}
		if c.Err != nil {
			failed++
		}
	}
	if failed < 11 {
		t.Errorf("%d of 12 objects failed after the first apply request ended the context", failed)
	}
}
