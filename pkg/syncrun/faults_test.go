package syncrun

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/cluster/faultproxy"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// startProxy starts a fault-injecting proxy in front of the test cluster.
func startProxy(t *testing.T, rate float64, seed uint64) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(faultproxy.Options{Target: env.Config(), FailRate: rate, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// liveSet returns the sync's objects in the cluster (ConfigMaps, Services
// and ServiceAccounts carrying its ApplySet label), read directly.
func (f *fixture) liveSet() []string {
	f.t.Helper()
	sel := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{
		inventory.LabelApplySetPartOf: inventory.ApplySetID(inventory.InventoryName(f.name), f.ns)}).String()}
	ctx := f.t.Context()
	var out []string
	cms, err := env.Client().CoreV1().ConfigMaps(f.ns).List(ctx, sel)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range cms.Items {
		out = append(out, "ConfigMap/"+o.Name)
	}
	svcs, err := env.Client().CoreV1().Services(f.ns).List(ctx, sel)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range svcs.Items {
		out = append(out, "Service/"+o.Name)
	}
	sas, err := env.Client().CoreV1().ServiceAccounts(f.ns).List(ctx, sel)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range sas.Items {
		out = append(out, "ServiceAccount/"+o.Name)
	}
	slices.Sort(out)
	return out
}

func (f *fixture) inventorySet() []string {
	f.t.Helper()
	var out []string
	for _, e := range f.inventory().Entries {
		out = append(out, e.Kind+"/"+e.Name)
	}
	slices.Sort(out)
	return out
}

// generation returns the files of one commit: ConfigMaps cm-from..cm-to-1
// with value, a Service and a ServiceAccount.
func generation(from, to int, value string) (map[string]string, []string) {
	files := map[string]string{
		"deploy/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
		"deploy/sa.yaml":  "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n",
	}
	want := []string{"Service/web", "ServiceAccount/web"}
	for i := from; i < to; i++ {
		name := fmt.Sprintf("cm-%02d", i)
		files["deploy/"+name+".yaml"] = cm(name, value)
		want = append(want, "ConfigMap/"+name)
	}
	slices.Sort(want)
	return files, want
}

// TestRunSurvivesAPIFaults: with 30 % of all API requests failing (429 with
// Retry-After, 503, etcd leader changes, connections reset before and after
// the API server processed them), three runs that create, update and prune
// across commits all succeed, and afterwards the inventory is exactly what
// is in the cluster, which is exactly what is in Git. The retries are
// counted in the run's result and record.
func TestRunSurvivesAPIFaults(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	proxy := startProxy(t, 0.3, 20260109)
	f.install(f.git.HTTPURL("app"), "", "")
	var retries int64
	for i, gen := range [][2]int{{0, 20}, {5, 25}, {10, 22}} {
		files, want := generation(gen[0], gen[1], fmt.Sprint("v", i))
		// Remove what the previous generation had and this one has not.
		if i > 0 {
			var gone []string
			for j := 0; j < gen[0]; j++ {
				gone = append(gone, fmt.Sprintf("deploy/cm-%02d.yaml", j))
			}
			prev := [][2]int{{0, 20}, {5, 25}}[i-1]
			for j := gen[1]; j < prev[1]; j++ {
				gone = append(gone, fmt.Sprintf("deploy/cm-%02d.yaml", j))
			}
			f.remove(gone...)
		}
		f.commit(files)
		start := time.Now()
		res := f.runWith(Options{Config: proxy.Config()})
		f.mustSucceed(res)
		retries += res.Retries
		requests, injected := proxy.Stats()
		t.Logf("run %d: %s in %v; %d retries; proxy so far: %d requests, injected %v", i+1, res.Message, time.Since(start).Round(time.Millisecond), res.Retries, requests, injected)
		if live, inv := f.liveSet(), f.inventorySet(); !slices.Equal(live, want) || !slices.Equal(inv, want) {
			t.Fatalf("run %d:\n  git:       %v\n  cluster:   %v\n  inventory: %v", i+1, want, live, inv)
		}
		// The record counts the retries up to its own writes.
		if rec := f.inventory().Record.LastRun; rec.Retries > res.Retries || rec.Retries == 0 && res.Retries > 5 {
			t.Errorf("run %d: recorded %d retries, the result says %d", i+1, rec.Retries, res.Retries)
		}
		if a, _ := f.configMap(fmt.Sprintf("cm-%02d", gen[0])); a.Data["value"] != fmt.Sprint("v", i) {
			t.Errorf("run %d: cm-%02d = %v", i+1, gen[0], a.Data)
		}
	}
	_, injected := proxy.Stats()
	for _, fault := range []faultproxy.Fault{faultproxy.TooManyRequests, faultproxy.Unavailable, faultproxy.LeaderChanged, faultproxy.ResetBefore, faultproxy.ResetAfter} {
		if injected[fault] == 0 {
			t.Errorf("fault %s was never injected: the test proves nothing about it", fault)
		}
	}
	if retries == 0 {
		t.Error("no retries counted")
	}
}

// TestRunEndsOnBlackhole: an API server that accepts requests and never
// answers makes the run end at its deadlines, not hang until the Job is
// killed: at StartTimeout when it hangs from the start, and at spec.timeout
// plus the short budget for recording when it hangs mid-run.
func TestRunEndsOnBlackhole(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", "  timeout: 4s\n")
	proxy := startProxy(t, 0, 1)

	proxy.SetBlackhole(true)
	start := time.Now()
	_, err := Run(t.Context(), Options{Name: f.name, Namespace: f.ns, Config: proxy.Config(), StartTimeout: 2 * time.Second})
	if d := time.Since(start); err == nil || d > 2*time.Second+3*time.Second {
		t.Errorf("hung from the start: Run ended after %v with %v; want an error within StartTimeout (2s) + 3s", d, err)
	}
	t.Logf("hung from the start: %v after %v", err, time.Since(start).Round(time.Millisecond))

	proxy.SetBlackhole(false)
	start = time.Now()
	res := f.runWith(Options{Config: proxy.Config(), beforeStage: func(_ context.Context, stage string) {
		if stage == "apply" {
			proxy.SetBlackhole(true)
		}
	}})
	d := time.Since(start)
	t.Logf("hung mid-run: %s %v after %v", res.Outcome, res.Err, d.Round(time.Millisecond))
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "deadline") {
		t.Errorf("outcome %s, err %v; want Failed at the deadline", res.Outcome, res.Err)
	}
	if limit := 4*time.Second + finishBudget + 2*time.Second; d > limit {
		t.Errorf("hung mid-run: the run took %v, want at most spec.timeout + the record budget + 2s = %v", d, limit)
	}
}
