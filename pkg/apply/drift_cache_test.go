package apply

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// staleCache stands for an API server whose watch cache has not caught up:
// once frozen, it answers every LIST from the watch cache (resourceVersion
// 0) with what that LIST answered before, and passes every other request.
type staleCache struct {
	next http.RoundTripper

	mu     sync.Mutex
	frozen bool
	header map[string]http.Header
	body   map[string][]byte
}

func (s *staleCache) RoundTrip(req *http.Request) (*http.Response, error) {
	cached := req.Method == http.MethodGet && req.URL.Query().Get("resourceVersion") == "0"
	key := req.URL.String()
	s.mu.Lock()
	if cached && s.frozen && s.body[key] != nil {
		res := &http.Response{StatusCode: http.StatusOK, Header: s.header[key].Clone(), Request: req,
			Body: io.NopCloser(bytes.NewReader(s.body[key]))}
		s.mu.Unlock()
		return res, nil
	}
	s.mu.Unlock()
	res, err := s.next.RoundTrip(req)
	if err != nil || !cached || res.StatusCode != http.StatusOK {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.frozen {
		s.header[key], s.body[key] = res.Header.Clone(), body
	}
	return res, nil
}

func (s *staleCache) freeze() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = true
}

// TestDriftStaleCache: what the watch cache's LIST shows drifted is read
// again consistently before it counts. A cache that has not seen the
// latest applies (objects recreated since, with new UIDs) reports no
// drift: with a few such objects, after a GET of each; with more than
// confirmByGet of one resource, after one consistent LIST. Real drift the
// stale cache cannot show is still found by the reads again.
func TestDriftStaleCache(t *testing.T) {
	ns := env.NewNamespace(t)
	cache := &staleCache{header: map[string]http.Header{}, body: map[string][]byte{}}
	cfg := env.Config()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { cache.next = rt; return cache })
	e, requests := newEngine(t, cfg)
	labels := testLabels(ns)
	const n = 12
	manifests := configMaps(ns, n, "v")
	recorded := mustApply(t, e, objs(t, ns, manifests), Options{Labels: labels}).Targets()

	type sent struct{ cached, consistent, gets int }
	drift := func(t *testing.T, recorded []Target) ([]object.ID, sent) {
		t.Helper()
		requests.reset()
		got, err := e.Drift(t.Context(), recorded, DriftOptions{Selector: labels})
		if err != nil {
			t.Fatal(err)
		}
		var s sent
		for _, r := range requests.requests() {
			path, query, _ := strings.Cut(r, "?")
			switch {
			case strings.HasSuffix(path, "/configmaps") && strings.Contains(query, "resourceVersion=0"):
				s.cached++
			case strings.HasSuffix(path, "/configmaps"):
				s.consistent++
			default:
				s.gets++
			}
		}
		return got, s
	}
	// The cache is frozen below as it is now: first let it hold the apply
	// (right after a write it may lag by moments, and the check would read
	// the objects again).
	if err := env.WatchCacheCaughtUp(t.Context(), schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, ns); err != nil {
		t.Fatal(err)
	}
	if got, s := drift(t, recorded); len(got) != 0 || s != (sent{cached: 1}) {
		t.Fatalf("before any change: drift %v, requests %+v; want none and one LIST from the cache", got, s)
	}
	cache.freeze() // from now on the cache shows the objects as first applied

	recreate := func(t *testing.T, count int) []Target {
		t.Helper()
		for i := range count {
			if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), fmt.Sprintf("cm-%02d", i), metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return mustApply(t, e, objs(t, ns, manifests), Options{Labels: labels}).Targets()
	}

	// 3 objects recreated since the cache's view: 3 GETs, no drift.
	recorded = recreate(t, 3)
	if got, s := drift(t, recorded); len(got) != 0 || s != (sent{cached: 1, gets: 3}) {
		t.Errorf("3 objects newer than the cache: drift %v, requests %+v; want none, 1 LIST from the cache and 3 GETs", got, s)
	}

	// All 12 recreated: more than confirmByGet, one consistent LIST.
	recorded = recreate(t, n)
	if got, s := drift(t, recorded); len(got) != 0 || s != (sent{cached: 1, consistent: 1}) {
		t.Errorf("%d objects newer than the cache: drift %v, requests %+v; want none, 1 LIST from the cache and 1 consistent LIST", n, got, s)
	}

	// A deletion the stale cache does not show is found by the consistent
	// read the other suspects caused.
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), "cm-05", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := drift(t, recorded)
	if diff := cmp.Diff([]object.ID{cmID(ns, "cm-05")}, got); diff != "" {
		t.Errorf("cm-05 deleted behind a stale cache (-want +got):\n%s", diff)
	}
}
