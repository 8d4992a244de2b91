package syncrun

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// recorder records the API requests of one run, as "METHOD path", and can
// hold a request back (hold) until released.
type recorder struct {
	mu   sync.Mutex
	reqs []string
	// hold, when set, is called before each request is sent.
	hold func(req *http.Request)
}

// config returns a config for the test cluster whose requests rec records.
func (rec *recorder) config() *rest.Config {
	cfg := env.Config()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if rec.hold != nil {
				rec.hold(req)
			}
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, req.Method+" "+req.URL.Path)
			rec.mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

func (rec *recorder) all() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.reqs...)
}

// writes returns the recorded requests that are not reads (GET, LIST and
// WATCH are all GETs).
func (rec *recorder) writes() []string {
	var out []string
	for _, r := range rec.all() {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

// noopFixture is a sync of two ConfigMaps and a Secret that succeeded once.
func noopFixture(t *testing.T) *fixture {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{
		"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1"),
		"deploy/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n",
	})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	// The next run's drift check lists from the API server's watch cache,
	// which holds a run's writes moments after it; runs minutes apart
	// never see it behind. The tests' next run starts at once, and counts
	// requests: wait until the cache holds the first run's record.
	for _, r := range []string{"configmaps", "secrets"} {
		if err := env.WatchCacheCaughtUp(t.Context(), schema.GroupVersionResource{Version: "v1", Resource: r}, f.ns); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestNoopRunWritesNothing: a run of a sync with nothing changed takes no
// Lease, rewrites no record, emits no Event: it reads the spec, its
// Namespace (the lockdown), the inventory and one metadata LIST per kind,
// and writes nothing.
func TestNoopRunWritesNothing(t *testing.T) {
	f := noopFixture(t)
	before := f.inventory()

	rec := &recorder{}
	res := f.runWith(Options{Config: rec.config()})
	f.mustSucceed(res)
	if res.Rendered || len(res.Drifted) != 0 {
		t.Fatalf("rendered %v, drifted %v; want a drift check that found nothing", res.Rendered, res.Drifted)
	}
	if w := rec.writes(); len(w) != 0 {
		t.Errorf("a run with nothing changed wrote %d times: %v", len(w), w)
	}
	want := []string{
		"GET /api/v1/namespaces/" + f.ns + "/configmaps/gitsync-app",
		"GET /api/v1/namespaces/" + f.ns,
		"GET /api/v1/namespaces/" + f.ns + "/configmaps/gitsync-app-inventory",
		"GET /api/v1/configmaps", // metadata LISTs by the ApplySet's label
		"GET /api/v1/secrets",
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("%d requests: %v; want %d: %v", len(got), got, len(want), want)
	}
	// The spec, its Namespace (the lockdown) and the inventory are read at
	// once, then the two LISTs, concurrently.
	if !sameSet(got[:3], want[:3]) || !sameSet(got[3:], want[3:]) {
		t.Errorf("requests %v; want %v", got, want)
	}
	after := f.inventory()
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the inventory was written: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
	}
	if len(f.events("Synced")) != 1 { // the first run's
		t.Errorf("Synced Events: %d, want the first run's only", len(f.events("Synced")))
	}
	if info, err := lease.Read(t.Context(), env.Client(), f.ns, lease.Name(f.name)); err != nil || info != nil {
		t.Errorf("Lease after the run: %+v, %v; want none", info, err)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// editA changes ConfigMap a as kubectl edit would: drift.
func (f *fixture) editA() {
	f.t.Helper()
	a, err := f.configMap("a")
	if err != nil {
		f.t.Fatal(err)
	}
	a.Data["value"] = "edited"
	if _, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(f.t.Context(), a, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		f.t.Fatal(err)
	}
}

// TestDriftTakesLeaseBeforeWriting: a run that finds drift while holding no
// Lease takes the Lease before its first write, reads the spec and the
// inventory again under it, and then corrects the drift.
func TestDriftTakesLeaseBeforeWriting(t *testing.T) {
	f := noopFixture(t)
	f.editA()

	rec := &recorder{}
	res := f.runWith(Options{Config: rec.config()})
	f.mustSucceed(res)
	if len(res.Drifted) != 1 || res.Drifted[0].Name != "a" {
		t.Fatalf("drifted %v; want a", res.Drifted)
	}
	if a, _ := f.configMap("a"); a.Data["value"] != "1" {
		t.Errorf("drift not corrected: %v", a.Data)
	}
	got := rec.all()
	leases := "/apis/coordination.k8s.io/v1/namespaces/" + f.ns + "/leases"
	first := -1
	for i, r := range got {
		if !strings.HasPrefix(r, "GET ") {
			first = i
			break
		}
	}
	if first < 0 || got[first] != "POST "+leases {
		t.Fatalf("first write: %d in %v; want the Lease's create", first, got)
	}
	// API discovery and the stored render are read once, ahead of the
	// apply, beside the Lease and the reads under it (readAhead): they may
	// come anywhere before the apply.
	stored := "GET /api/v1/namespaces/" + f.ns + "/secrets/" + names.Render(f.name)
	readAhead := func(r string) bool { return r == "GET /api" || r == "GET /apis" || r == stored }
	var underLease []string
	ahead := 0
	for _, r := range got[first+1:] {
		if readAhead(r) {
			ahead++
			continue
		}
		underLease = append(underLease, r)
	}
	for _, r := range got[:first] {
		if readAhead(r) {
			ahead++
		}
	}
	if ahead != 3 {
		t.Errorf("%d reads ahead in %v; want GET /api, GET /apis and the stored render once each", ahead, got)
	}
	// Under the Lease: the spec (with its Namespace's lockdown) and the
	// inventory again, read concurrently, before anything else is written.
	spec := "GET /api/v1/namespaces/" + f.ns + "/configmaps/gitsync-app"
	again := []string{spec, "GET /api/v1/namespaces/" + f.ns, spec + "-inventory"}
	if len(underLease) < 3 || !sameSet(underLease[:3], again) {
		t.Errorf("after the Lease's create: %v; want the spec, its Namespace and the inventory read again", got[first:])
	}
	patched := false
	for _, r := range got[first:] {
		if strings.HasPrefix(r, "PATCH ") && strings.HasSuffix(r, "/configmaps/a") {
			patched = true
		}
	}
	if !patched {
		t.Errorf("requests %v; want a PATCH of a after the Lease's create", got)
	}
	// (After it, a run that changed something looks for the syncs that
	// depend on it: reads only.)
	if w := rec.writes(); len(w) == 0 || w[len(w)-1] != "DELETE "+leases+"/gitsync-app" {
		t.Errorf("writes %v; want the Lease's release last", w)
	}
	// The drift check was not repeated under the Lease: the inventory was
	// unchanged, so what the check decided stands.
	lists := 0
	for _, r := range got {
		if r == "GET /api/v1/secrets" {
			lists++
		}
	}
	if lists != 1 {
		t.Errorf("%d LISTs of Secrets; want the one of the drift check", lists)
	}
	// Nor did the apply list again what the drift check had listed, and the
	// inventory, which gains nothing, is written once, with the record.
	cmLists := 0
	for _, r := range got {
		if r == "GET /api/v1/configmaps" {
			cmLists++
		}
	}
	if cmLists != 2 {
		t.Errorf("%d cluster-wide LISTs of ConfigMaps in %v; want 2: the drift check's and the look for dependents", cmLists, got)
	}
	inventory := "PUT /api/v1/namespaces/" + f.ns + "/configmaps/gitsync-app-inventory"
	var writes []string
	for _, w := range rec.writes() {
		if !strings.Contains(w, "/events") {
			writes = append(writes, w)
		}
	}
	want := []string{"POST " + leases, "PATCH /api/v1/namespaces/" + f.ns + "/configmaps/a", inventory,
		"POST /api/v1/namespaces/" + f.ns + "/configmaps", "DELETE " + leases + "/gitsync-app"}
	if !slices.Equal(writes, want) {
		t.Errorf("writes (Events left out) %v; want %v", writes, want)
	}
}

// TestConcurrentDriftRuns: two runs that both find drift without the Lease
// at the same moment never both apply: they race for the Lease, one applies,
// the other is Busy.
func TestConcurrentDriftRuns(t *testing.T) {
	f := noopFixture(t)
	f.editA()

	// Both runs are held at the Lease's create until both got there.
	var arrived sync.WaitGroup
	arrived.Add(2)
	hold := func(req *http.Request) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/leases") {
			arrived.Done()
			arrived.Wait()
		}
	}
	recs := []*recorder{{hold: hold}, {hold: hold}}
	results := make([]*Result, 2)
	var done sync.WaitGroup
	for i := range recs {
		done.Add(1)
		go func() {
			defer done.Done()
			res, err := Run(t.Context(), Options{Name: f.name, Namespace: f.ns, Config: recs[i].config(), Holder: []string{"one", "two"}[i]})
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
			results[i] = res
		}()
	}
	done.Wait()
	if t.Failed() {
		return
	}
	outcomes := map[Outcome]int{}
	patches := 0
	for i, res := range results {
		outcomes[res.Outcome]++
		for _, r := range recs[i].writes() {
			if strings.HasPrefix(r, "PATCH ") && strings.Contains(r, "/configmaps/") {
				patches++
			}
		}
	}
	if outcomes[Succeeded] != 1 || outcomes[Busy] != 1 {
		t.Fatalf("outcomes %v; want one Succeeded and one Busy", outcomes)
	}
	if patches != 1 {
		t.Errorf("%d PATCHes of ConfigMaps; want 1, by the run that holds the Lease", patches)
	}
	if a, _ := f.configMap("a"); a.Data["value"] != "1" {
		t.Errorf("drift not corrected: %v", a.Data)
	}
}

// TestLateRunStartsOver: a run that found drift, but takes the Lease only
// after another run corrected it and released the Lease, finds the
// inventory changed, checks again under the Lease, finds nothing to do and
// writes nothing but its Lease.
func TestLateRunStartsOver(t *testing.T) {
	f := noopFixture(t)
	f.editA()

	reached, release := make(chan struct{}), make(chan struct{})
	late := &recorder{hold: func(req *http.Request) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/leases") {
			close(reached)
			<-release
		}
	}}
	var res *Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if res, err = Run(t.Context(), Options{Name: f.name, Namespace: f.ns, Config: late.config(), Holder: "late"}); err != nil {
			t.Errorf("late run: %v", err)
		}
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the late run did not reach the Lease")
	}
	first := f.run()
	f.mustSucceed(first)
	if len(first.Drifted) != 1 {
		t.Fatalf("the first run found drift %v; want a", first.Drifted)
	}
	inv := f.inventory()
	close(release)
	<-done
	if res == nil {
		return
	}
	f.mustSucceed(res)
	if len(res.Drifted) != 0 || res.Rendered {
		t.Errorf("late run: drifted %v, rendered %v; want it to find nothing after starting over", res.Drifted, res.Rendered)
	}
	leases := "/apis/coordination.k8s.io/v1/namespaces/" + f.ns + "/leases"
	want := []string{"POST " + leases, "DELETE " + leases + "/gitsync-app"}
	if w := late.writes(); strings.Join(w, ",") != strings.Join(want, ",") {
		t.Errorf("late run's writes %v; want only its Lease %v", w, want)
	}
	if after := f.inventory(); after.ResourceVersion != inv.ResourceVersion {
		t.Errorf("the late run rewrote the inventory")
	}
}

// TestNoopRunRecordsItsNotification: a provider that wants every run that
// succeeded is notified by a run with nothing else to do, and what became
// of the notification is recorded: that run takes the Lease to write the
// record, once, and then releases it.
func TestNoopRunRecordsItsNotification(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	rcv := newHookReceiver(t, "k")
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook"},
		StringData: map[string]string{"address": rcv.URL + "/hooks/S3CRETPATH", "token": "k", "headers": "X-Env: test\n"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", `  notify:
  - {name: hook, type: generic-hmac, secretRef: {name: hook}, events: [Succeeded]}
`)
	f.mustSucceed(f.run())
	before := f.inventory()

	rec := &recorder{}
	res := f.runWith(Options{Config: rec.config()})
	f.mustSucceed(res)
	if res.Rendered || len(res.Notify) != 1 || res.Notify[0].Result != "Sent" {
		t.Fatalf("rendered %v, notify %+v; want a drift check and one notification sent", res.Rendered, res.Notify)
	}
	if reasons, bad := rcv.got(); strings.Join(reasons, ",") != "Changed,Succeeded" || len(bad) > 0 {
		t.Errorf("receiver got %v (rejected %v); want the first run's Changed, then Succeeded", reasons, bad)
	}
	after := f.inventory()
	if after.ResourceVersion == before.ResourceVersion || len(after.Record.LastRun.Notify) != 1 {
		t.Errorf("record's notify %+v; want the delivery recorded", after.Record.LastRun.Notify)
	}
	leases := "/apis/coordination.k8s.io/v1/namespaces/" + f.ns + "/leases"
	want := []string{"POST " + leases, "PUT /api/v1/namespaces/" + f.ns + "/configmaps/gitsync-app-inventory", "DELETE " + leases + "/gitsync-app"}
	if w := rec.writes(); strings.Join(w, ",") != strings.Join(want, ",") {
		t.Errorf("writes %v; want %v", w, want)
	}
}

// TestNoLeaseNoWrite: a run that holds no Lease is refused every write
// stage, whatever it decided.
func TestNoLeaseNoWrite(t *testing.T) {
	r := &runner{}
	for _, stage := range []string{"inventory", "apply", "prune", "record"} {
		if err := r.guard(t.Context(), stage); !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), "holds no Lease") {
			t.Errorf("guard before %s without a Lease: %v", stage, err)
		}
	}
}
