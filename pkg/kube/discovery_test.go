package kube_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/kube"
)

// counted returns a config for the test cluster that counts its requests
// and, with legacy, asks for unaggregated discovery only, as a client of
// an API server without aggregated discovery gets it.
func counted(n *atomic.Int64, legacy bool) *rest.Config {
	cfg := env.Config()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			n.Add(1)
			if legacy && strings.Contains(req.Header.Get("Accept"), "apidiscovery") {
				req = req.Clone(req.Context())
				req.Header.Set("Accept", "application/json")
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// flatten lists "group/version resource Kind namespaced verbs" of every
// resource.
func flatten(lists []*metav1.APIResourceList) []string {
	var out []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			out = append(out, fmt.Sprintf("%s %s %s %v %v", l.GroupVersion, r.Name, r.Kind, r.Namespaced, r.Verbs))
		}
	}
	slices.Sort(out)
	return out
}

// TestDiscoveryMatchesClientGo reads the real API server's discovery with
// and without aggregation, and compares both with client-go's discovery
// client: the same groups, preferred versions and resources, for the
// requests each form costs.
func TestDiscoveryMatchesClientGo(t *testing.T) {
	ctx := t.Context()
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	wantGroups, wantResources, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	want := flatten(wantResources)
	var wantPreferred []string
	for _, g := range wantGroups {
		wantPreferred = append(wantPreferred, g.Name+" "+g.PreferredVersion.Version)
	}

	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			var n atomic.Int64
			d, err := kube.NewDiscovery(counted(&n, legacy), nil)
			if err != nil {
				t.Fatal(err)
			}
			g, err := d.GroupsAndMaybeResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n.Load() != 2 {
				t.Errorf("groups: %d requests, want 2 (/api and /apis)", n.Load())
			}
			if legacy != (g.Resources == nil) {
				t.Errorf("resources read with the groups: %v, want %v", g.Resources != nil, !legacy)
			}
			if len(g.List.Groups) == 0 || g.List.Groups[0].Name != "" || g.List.Groups[0].PreferredVersion.Version != "v1" {
				t.Fatalf("the core group is not first: %+v", g.List.Groups)
			}
			var preferred []string
			for _, gr := range g.List.Groups {
				preferred = append(preferred, gr.Name+" "+gr.PreferredVersion.Version)
			}
			if diff := cmp.Diff(wantPreferred, preferred); diff != "" {
				t.Errorf("groups and preferred versions (-client-go +kube):\n%s", diff)
			}

			n.Store(0)
			groups, resources, err := d.ServerGroupsAndResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			versions := 0
			for _, gr := range groups.Groups {
				versions += len(gr.Versions)
			}
			wantRequests := int64(2)
			if legacy {
				wantRequests += int64(versions)
			}
			if n.Load() != wantRequests {
				t.Errorf("groups and resources: %d requests, want %d", n.Load(), wantRequests)
			}
			if diff := cmp.Diff(want, flatten(resources)); diff != "" {
				t.Errorf("resources (-client-go +kube):\n%s", diff)
			}
		})
	}

	d, err := kube.NewDiscovery(env.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantV, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if *v != *wantV || !strings.HasPrefix(v.GitVersion, "v1.") {
		t.Errorf("server version %+v, client-go read %+v", v, wantV)
	}
	apps, err := d.ServerResourcesForGroupVersion(ctx, schema.GroupVersion{Group: "apps", Version: "v1"})
	if err != nil || !slices.ContainsFunc(apps.APIResources, func(r metav1.APIResource) bool { return r.Kind == "Deployment" && r.Namespaced }) {
		t.Errorf("apps/v1: %v, %+v", err, apps)
	}
	if _, err := d.ServerResourcesForGroupVersion(ctx, schema.GroupVersion{Group: "example.com", Version: "v1"}); !apierrors.IsNotFound(err) {
		t.Errorf("a group version not served: %v, want NotFound", err)
	}
}

// aggregatedType is the content type of aggregated discovery.
const aggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// standIn serves fixed discovery documents by path; "" content type is
// plain JSON.
func standIn(t *testing.T, docs map[string][2]string) *kube.Discovery {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"%s not found"}`, r.URL.Path)
			return
		}
		ct := doc[0]
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		if strings.HasPrefix(doc[1], "500:") {
			w.WriteHeader(http.StatusInternalServerError)
			doc[1] = strings.TrimPrefix(doc[1], "500:")
		}
		fmt.Fprint(w, doc[1])
	}))
	t.Cleanup(srv.Close)
	d, err := kube.NewDiscovery(&rest.Config{Host: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDiscoveryStaleAndPartial covers what the test cluster does not
// show: an aggregated API server that is down (a stale group version), a
// resource without a kind, and an API server without the core group.
func TestDiscoveryStaleAndPartial(t *testing.T) {
	apis := `{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[
	  {"metadata":{"name":"metrics.example.com"},"versions":[
	    {"version":"v2","freshness":"Stale","resources":[{"resource":"nodes","responseKind":{"group":"metrics.example.com","version":"v2","kind":"NodeMetrics"},"scope":"Cluster","verbs":["get"]}]},
	    {"version":"v1","resources":[
	      {"resource":"pods","responseKind":{"group":"metrics.example.com","version":"v1","kind":"PodMetrics"},"scope":"Namespaced","verbs":["get","list"],
	       "subresources":[{"subresource":"status","responseKind":{"group":"metrics.example.com","version":"v1","kind":"PodMetrics"},"verbs":["get"]}]},
	      {"resource":"nokind","scope":"Cluster","verbs":["get"]}]}]}]}`
	d := standIn(t, map[string][2]string{"/apis": {aggregatedType, apis}})
	g, err := d.GroupsAndMaybeResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.List.Groups) != 1 || g.List.Groups[0].PreferredVersion.Version != "v1" || len(g.List.Groups[0].Versions) != 1 {
		t.Errorf("groups %+v, want metrics.example.com with v1 only (v2 is stale)", g.List.Groups)
	}
	stale := schema.GroupVersion{Group: "metrics.example.com", Version: "v2"}
	var se *kube.StaleGroupVersionError
	if !errors.As(g.Failed[stale], &se) || len(g.Failed) != 1 {
		t.Errorf("failed %v, want %s stale", g.Failed, stale)
	}
	got := flatten(slices.Collect(func(yield func(*metav1.APIResourceList) bool) {
		for _, l := range g.Resources {
			yield(l)
		}
	}))
	want := []string{
		"metrics.example.com/v1 pods PodMetrics true [get list]",
		"metrics.example.com/v1 pods/status PodMetrics true [get]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	_, lists, err := d.ServerGroupsAndResources(t.Context())
	if !kube.IsGroupDiscoveryFailed(err) || !strings.Contains(err.Error(), "metrics.example.com/v2") {
		t.Errorf("groups and resources: %v, want the stale group version named", err)
	}
	if diff := cmp.Diff(want, flatten(lists)); diff != "" {
		t.Errorf("resources with a stale group version (-want +got):\n%s", diff)
	}
}

// TestDiscoveryUnaggregatedFailures: a server without aggregated discovery
// whose one group version fails keeps the others, and a failing /apis is
// an error.
func TestDiscoveryUnaggregatedFailures(t *testing.T) {
	docs := map[string][2]string{
		"/api":                   {"", `{"kind":"APIVersions","versions":["v1"]}`},
		"/apis":                  {"", `{"kind":"APIGroupList","groups":[{"name":"a.example.com","versions":[{"groupVersion":"a.example.com/v1","version":"v1"}],"preferredVersion":{"groupVersion":"a.example.com/v1","version":"v1"}},{"name":"b.example.com","versions":[{"groupVersion":"b.example.com/v1","version":"v1"}],"preferredVersion":{"groupVersion":"b.example.com/v1","version":"v1"}}]}`},
		"/api/v1":                {"", `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[{"name":"configmaps","namespaced":true,"kind":"ConfigMap","verbs":["get"]}]}`},
		"/apis/a.example.com/v1": {"", `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"a.example.com/v1","resources":[{"name":"widgets","namespaced":false,"kind":"Widget","verbs":["get"]}]}`},
		"/apis/b.example.com/v1": {"", `500:{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500,"message":"b is down"}`},
	}
	d := standIn(t, docs)
	g, err := d.GroupsAndMaybeResources(t.Context())
	if err != nil || g.Resources != nil || len(g.List.Groups) != 3 {
		t.Fatalf("groups: %v, %+v", err, g)
	}
	_, lists, err := d.ServerGroupsAndResources(t.Context())
	if !kube.IsGroupDiscoveryFailed(err) || !strings.Contains(err.Error(), "b.example.com/v1") || !strings.Contains(err.Error(), "b is down") {
		t.Errorf("groups and resources: %v, want b.example.com/v1 named with the server's message", err)
	}
	want := []string{"a.example.com/v1 widgets Widget false [get]", "v1 configmaps ConfigMap true [get]"}
	if diff := cmp.Diff(want, flatten(lists)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}

	docs["/apis"] = [2]string{"", `500:{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500,"message":"apis broken"}`}
	if _, err := d.GroupsAndMaybeResources(t.Context()); err == nil || !strings.Contains(err.Error(), "apis broken") {
		t.Errorf("a failing /apis: %v, want its error", err)
	}
	delete(docs, "/api")
	docs["/apis"] = [2]string{aggregatedType, `{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[]}`}
	if g, err := d.GroupsAndMaybeResources(t.Context()); err != nil || len(g.List.Groups) != 0 || g.Resources == nil {
		t.Errorf("a server without the core group: %v, %+v", err, g)
	}
}
