package apply

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/tests/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.Run(m, cluster.Options{}, &env))
}

// counter counts the requests of every client built from a config it
// wrapped, and remembers them for failure messages.
type counter struct {
	mu   sync.Mutex
	reqs []string
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = nil
}

func (c *counter) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.reqs...)
}

type countingRT struct {
	c    *counter
	next http.RoundTripper
}

func (rt countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.c.mu.Lock()
	rt.c.reqs = append(rt.c.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	rt.c.mu.Unlock()
	return rt.next.RoundTrip(req)
}

// newEngine returns an engine for cfg (the cluster's admin config when nil)
// and a counter of its requests.
func newEngine(t testing.TB, cfg *rest.Config) (*Engine, *counter) {
	t.Helper()
	if cfg == nil {
		cfg = env.Config()
	}
	c := &counter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRT{c, rt} })
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// objs decodes a multi-document YAML, putting namespaced-looking objects
// without a namespace into ns (the caller writes cluster-scoped ones
// without a namespace and lists their kinds in clusterKinds).
func objs(t testing.TB, ns, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(manifests, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("decoding %q: %v", doc, err)
		}
		if u.GetNamespace() == "" && !clusterKinds[u.GetKind()] {
			u.SetNamespace(ns)
		}
		out = append(out, u)
	}
	return out
}

var clusterKinds = map[string]bool{"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "PriorityClass": true}

// testLabels returns the labels Apply is given in a test: unique per test,
// so cluster-wide lists do not mix tests.
func testLabels(ns string) map[string]string {
	return map[string]string{"applyset.kubernetes.io/part-of": "applyset-" + ns, "gitsync.io/sync-name": "test"}
}

func actions(cs *ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, c := range cs.Changes {
		out[c.ID.String()] = c.Action
	}
	return out
}

func mustApply(t testing.TB, e *Engine, in []*unstructured.Unstructured, opts Options) *ChangeSet {
	t.Helper()
	cs, err := e.Apply(t.Context(), in, opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := cs.Err(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return cs
}

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func getCM(t testing.TB, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := env.Dynamic().Resource(cmGVR).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ConfigMap/%s/%s: %v", ns, name, err)
	}
	return u
}

func cmExists(t testing.TB, ns, name string) bool {
	t.Helper()
	_, err := env.Dynamic().Resource(cmGVR).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("ConfigMap/%s/%s: %v", ns, name, err)
	}
	return true
}

func cmID(ns, name string) object.ID { return object.ID{Kind: "ConfigMap", Namespace: ns, Name: name} }

func configMaps(ns string, n int, value string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata:\n  key: %q\n---\n", i, value)
	}
	return b.String()
}

// update writes u with a plain Update (PUT) as manager, like kubectl edit.
func update(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, manager string) error {
	_, err := env.Dynamic().Resource(gvr).Namespace(u.GetNamespace()).Update(ctx, u, metav1.UpdateOptions{FieldManager: manager})
	return err
}
