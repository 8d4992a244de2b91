// Command bench measures gitsync on the local test cluster and prints each
// figure with its workload. `make bench` runs it. It times whole sync-job
// processes, from exec to exit, as a CronJob would run them:
//
//   - cold sync of N objects of mixed kinds (ConfigMaps, Secrets, Services,
//     ServiceAccounts, Roles, RoleBindings, Deployments with 0 replicas);
//   - runs with nothing changed, with their API requests counted (the
//     median of 5, as for drift correction);
//   - the same for an OCI artifact, with its registry requests counted;
//   - drift correction (one object edited, one deleted), beside what the
//     local Git server itself takes to list and to fetch (the floor);
//   - prune of N objects;
//   - render of 4,000 documents (in-process);
//   - peak RSS of a run;
//   - kubectl apply --server-side --prune --applyset on the same objects;
//   - a Flux-layout tree of Kustomizations and HelmReleases run as units,
//     cold and with nothing changed, beside the same objects as one flat
//     sync (flux.go);
//   - a sync from an S3 bucket of N objects on a real S3 server: cold, with
//     nothing changed (its drift check plus one LIST), one object changed;
//   - 2,000 generated CRDs installed: the engine's discovery and a cold
//     sync there (crds.go);
//
// and, in-process, without a cluster:
//
//   - sparseCheckout of one small directory of a repository with 10,000
//     files elsewhere, against a full shallow fetch;
//   - the binaries' sizes, sync-job's size by module, its init work and its
//     start-up time, exec to the first API request (size.go).
//
// -objects chooses the size; -only takes a comma-separated list of steps
// (sparse, size, render, main, large, kubectl, oci, bucket, flux, crds, fleet),
// all by default. fleet starts its own node-mode cluster (root only) and
// takes several minutes: 50 syncs on the schedule "* * * * *" (fleet.go).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/cluster"
	"github.com/gitsync/gitsync/tests/gitserver"
)

func main() {
	n := flag.Int("objects", 1000, "objects in the main workload")
	only := flag.String("only", strings.Join(allSteps, ","), "the steps to run, comma-separated: "+strings.Join(allSteps, ", "))
	flag.Parse()
	st, err := parseSteps(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, st); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	figure, value, target, workload string
}

type bench struct {
	env        *cluster.Cluster
	git        *gitserver.Server
	syncJobBin string
	rows       []row
	tmp        string
}

// allSteps are the steps of a whole bench, in the order they run.
var allSteps = []string{"sparse", "size", "render", "main", "large", "kubectl", "oci", "bucket", "flux", "crds", "fleet"}

// steps says which measurements to take, by step name.
type steps map[string]bool

// parseSteps reads -only.
func parseSteps(list string) (steps, error) {
	st := steps{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allSteps, name) {
			return nil, fmt.Errorf("-only: no step %q (the steps: %s)", name, strings.Join(allSteps, ", "))
		}
		st[name] = true
	}
	return st, nil
}

// needsCluster tells whether a step other than sparse and size is asked for.
func (st steps) needsCluster() bool {
	for name := range st {
		if name != "sparse" && name != "size" && name != "fleet" {
			return true
		}
	}
	return false
}

func run(ctx context.Context, n int, st steps) (err error) {
	tmp, err := os.MkdirTemp("", "gitsync-bench-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()

	b := &bench{tmp: tmp, syncJobBin: filepath.Join(tmp, "sync-job")}
	// Whatever was measured is printed, also when a later step fails.
	defer func() { err = errors.Join(err, b.print()) }()
	// Steps without a cluster first.
	if st["sparse"] {
		if err := b.sparseCheckout(ctx); err != nil {
			return err
		}
	}
	if st["size"] {
		if err := b.sizeBench(ctx); err != nil {
			return err
		}
	}
	if st["fleet"] { // its own node-mode cluster (fleet.go)
		if err := b.fleet(ctx); err != nil {
			return err
		}
	}
	if !st.needsCluster() {
		return nil
	}

	// sync-job-helm next to sync-job, where sync-job looks for it.
	fmt.Fprintln(os.Stderr, "building sync-job and sync-job-helm ...")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp+string(filepath.Separator), "./cmd/sync-job", "./cmd/sync-job-helm")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/sync-job ./cmd/sync-job-helm: %w", err)
	}

	start := time.Now()
	// A /16 for Services: the 10,000-object workload has 1,429 of them, more
	// than the harness's default /24 holds. Nothing routes to it.
	b.env, err = cluster.Start(ctx, cluster.Options{ServiceCIDR: "10.218.0.0/16"})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.env.Stop()) }()
	b.add("test cluster start (control plane)", time.Since(start), "< 10 s", "etcd + kube-apiserver + kube-controller-manager")
	b.git, err = gitserver.Start(ctx, gitserver.Options{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.git.Close()) }()

	if st["render"] {
		if err := b.renderBench(ctx); err != nil {
			return err
		}
	}
	if st["main"] {
		if err := b.main(ctx, n); err != nil {
			return err
		}
	}
	if st["large"] {
		if err := b.cold(ctx, 10000, 16*time.Second); err != nil {
			return err
		}
	}
	if st["kubectl"] {
		if err := b.kubectl(ctx, n); err != nil {
			return err
		}
	}
	if st["oci"] {
		if err := b.ociBench(ctx, n); err != nil {
			return err
		}
	}
	if st["bucket"] {
		if err := b.bucket(ctx, n); err != nil {
			return err
		}
	}
	if st["flux"] {
		if err := b.flux(ctx, n); err != nil {
			return err
		}
	}
	if st["crds"] { // last: its CRDs stay installed
		if err := b.crds(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) add(figure string, d time.Duration, target, workload string) {
	b.rows = append(b.rows, row{figure, fmt.Sprintf("%.2f s", d.Seconds()), target, workload})
}

func (b *bench) print() error {
	fmt.Println()
	fmt.Println("gitsync benchmark — every sync-job figure is a whole process, exec to exit, on this machine")
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tVALUE\tTARGET\tWORKLOAD")
	for _, r := range b.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.figure, r.value, r.target, r.workload)
	}
	return w.Flush()
}

// manifests returns n objects of mixed kinds, 50 to a file.
func manifests(n int, prefix string) map[string]string {
	files := map[string]string{}
	var buf strings.Builder
	flush := func(i int) {
		if buf.Len() > 0 {
			files[fmt.Sprintf("deploy/%s-%05d.yaml", prefix, i)] = buf.String()
			buf.Reset()
		}
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		buf.WriteString("---\n")
		switch i % 7 {
		case 0:
			fmt.Fprintf(&buf, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels: {app: bench}\ndata:\n  key: value-%d\n  other: |\n    some longer text for object %d\n", name, i, i)
		case 1:
			fmt.Fprintf(&buf, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\ntype: Opaque\nstringData:\n  password: secret-%d\n", name, i)
		case 2:
			fmt.Fprintf(&buf, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  selector: {app: %s}\n  ports:\n  - port: 80\n    targetPort: 8080\n", name, name)
		case 3:
			fmt.Fprintf(&buf, "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\n", name)
		case 4:
			fmt.Fprintf(&buf, "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: %s\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list]\n", name)
		case 5:
			fmt.Fprintf(&buf, "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: %s\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: %s\nsubjects:\n- kind: ServiceAccount\n  name: %s\n", name, name, name)
		case 6:
			fmt.Fprintf(&buf, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: app\n        image: registry.example/app:1.0\n        ports:\n        - containerPort: 8080\n", name, name, name)
		}
		if i%50 == 49 {
			flush(i)
		}
	}
	flush(n)
	return files
}

// syncFixture is a sync in its own namespace with its own repository.
type syncFixture struct {
	ns, name string
	repo     *gitserver.Repo
}

// newSync is a sync named name in a fresh namespace, rendering ./deploy of
// files, with extra appended to its spec.
func (b *bench) newSync(ctx context.Context, name string, files map[string]string, extra string) (*syncFixture, error) {
	ns := fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano()%100000)
	return b.newSyncIn(ctx, ns, name, files, "./deploy", extra)
}

// result is what one sync-job process did, from its last log line and rusage.
type result struct {
	wall     time.Duration
	maxRSS   int64 // KiB
	requests int
	writes   int // requests that are not reads (not GET, LIST or WATCH)
	outcome  string
	objects  int
	drifted  int
	units    int
	anonKiB  int64 // anonymous resident memory at exit (heap, stacks)
	fileKiB  int64 // file-backed resident memory at exit (the binary's pages)
	stderr   string
	cpu      time.Duration // the process's user + system CPU time
}

func (b *bench) syncJob(ctx context.Context, f *syncFixture) (result, error) {
	cmd := exec.CommandContext(ctx, b.syncJobBin, "--sync", f.name, "-n", f.ns, "--kubeconfig", b.env.KubeconfigPath())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{wall: time.Since(start), stderr: stderr.String()}
	if cmd.ProcessState != nil {
		res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var last struct {
		Result   string `json:"result"`
		Requests int    `json:"requests"`
		Writes   int    `json:"writes"`
		Objects  int    `json:"objects"`
		Drifted  int    `json:"drifted"`
		Units    int    `json:"units"`
		Error    string `json:"error"`
		Peak     int64  `json:"peakRSSKiB"`
		Anon     int64  `json:"anonRSSKiB"`
		File     int64  `json:"fileRSSKiB"`
	}
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	res.requests, res.writes, res.outcome, res.objects, res.drifted, res.units = last.Requests, last.Writes, last.Result, last.Objects, last.Drifted, last.Units
	// The process's own high-water mark: wait4's ru_maxrss would report the
	// parent's size, because the child starts as a clone of this process.
	res.maxRSS, res.anonKiB, res.fileKiB = last.Peak, last.Anon, last.File
	if err != nil || last.Result != "Succeeded" {
		return res, fmt.Errorf("sync-job %s/%s: %v: %s", f.ns, f.name, err, tail(stderr.String(), 2000))
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (b *bench) main(ctx context.Context, n int) error {
	workload := fmt.Sprintf("%d objects (7 kinds, 50 per file) in one namespace", n)
	fmt.Fprintf(os.Stderr, "cold sync of %d objects ...\n", n)
	f, err := b.newSync(ctx, "main", manifests(n, "obj"), "")
	if err != nil {
		return err
	}
	cold, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("cold sync, %d objects", n), cold.wall, "≤ 5 s", workload+fmt.Sprintf("; %d API requests (%d writes)", cold.requests, cold.writes))
	b.rows = append(b.rows, row{fmt.Sprintf("peak RSS, cold sync of %d objects", n), fmt.Sprintf("%.1f MiB", float64(cold.maxRSS)/1024), "≤ 64 MiB", workload + memSplit(cold)})

	// The short runs are taken several times: one process of 0.1 s moves
	// by tens of milliseconds with the machine.
	fmt.Fprintln(os.Stderr, "runs with nothing changed ...")
	var same result
	var sameWalls samples
	for range shortRuns {
		if same, err = b.syncJob(ctx, f); err != nil {
			return err
		}
		sameWalls = append(sameWalls, same.wall)
	}
	kinds := 7
	b.rows = append(b.rows, row{fmt.Sprintf("nothing changed, %d objects", n), sameWalls.median(), "≤ 0.1 s (issue 15)", workload + "; " + sameWalls.spread()})
	b.rows = append(b.rows, row{"API requests, nothing changed", fmt.Sprintf("%d (%d writes)", same.requests, same.writes), fmt.Sprintf("≤ kinds+3 = %d, ≤ 1 write", kinds+3), workload})
	b.rows = append(b.rows, row{"peak RSS, nothing changed", fmt.Sprintf("%.1f MiB", float64(same.maxRSS)/1024), "≤ 64 MiB", workload + memSplit(same)})

	fmt.Fprintln(os.Stderr, "drift corrections ...")
	cms := b.env.Client().CoreV1().ConfigMaps(f.ns)
	var drift result
	var driftWalls samples
	for range shortRuns {
		edited, err := cms.Get(ctx, "obj-00000", metav1.GetOptions{})
		if err != nil {
			return err
		}
		edited.Data["key"] = "edited by hand"
		if _, err := cms.Update(ctx, edited, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			return err
		}
		if err := cms.Delete(ctx, "obj-00007", metav1.DeleteOptions{}); err != nil {
			return err
		}
		if drift, err = b.syncJob(ctx, f); err != nil {
			return err
		}
		if drift.drifted != 2 {
			return fmt.Errorf("drift run corrected %d objects, want 2", drift.drifted)
		}
		driftWalls = append(driftWalls, drift.wall)
	}
	b.rows = append(b.rows, row{"drift correction (1 edited, 1 deleted)", driftWalls.median(), "≤ 0.2 s (issue 15)",
		workload + fmt.Sprintf("; %d API requests (%d writes); ", drift.requests, drift.writes) + driftWalls.spread()})
	if err := b.floors(ctx, f); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "prune of %d objects ...\n", n)
	var paths []string
	for p := range manifests(n, "obj") {
		paths = append(paths, p)
	}
	if _, err := f.repo.Commit(ctx, "keep one", map[string]string{"deploy/keep.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n"}); err != nil {
		return err
	}
	if _, err := f.repo.Remove(ctx, "remove all", paths...); err != nil {
		return err
	}
	prune, err := b.syncJob(ctx, f)
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("prune of %d objects", n), prune.wall, "≤ 3 s", fmt.Sprintf("the commit removes all %d objects and adds 1", n))
	return nil
}

// shortRuns is how many times the bench takes a figure of a short run.
const shortRuns = 5

// samples are the wall times of the same figure taken several times.
type samples []time.Duration

// median is the middle sample, formatted as a figure; spread says how
// many samples it is of, and their range. In seconds, or, for the floors
// (a few hundredths of a second), in milliseconds.
func (s samples) median() string   { return s.format(false, true) }
func (s samples) spread() string   { return s.format(false, false) }
func (s samples) medianMS() string { return s.format(true, true) }
func (s samples) spreadMS() string { return s.format(true, false) }

func (s samples) format(ms, median bool) string {
	sorted := slices.Sorted(slices.Values(s))
	f := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	unit := "s"
	if ms {
		f = func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
		unit = "ms"
	}
	if median {
		return f(sorted[len(sorted)/2]) + " " + unit
	}
	return fmt.Sprintf("median of %d runs, %s–%s %s", len(s), f(sorted[0]), f(sorted[len(sorted)-1]), unit)
}

// floors measures what a process start and exit costs on this machine,
// and, in process, what the local Git server itself takes for what every
// run asks of it (the listing) and what a drift correction adds (the fetch
// of the revision): the part of the figures above that is the machine's
// and the server's, not the run's.
func (b *bench) floors(ctx context.Context, f *syncFixture) error {
	opts := source.GitOptions{URL: b.git.HTTPURL(f.ns), Insecure: true, Ref: source.GitRef{Branch: "main"}}
	var list, fetch samples
	for range shortRuns {
		start := time.Now()
		if _, err := source.Resolve(ctx, opts); err != nil {
			return err
		}
		list = append(list, time.Since(start))
		dir, err := os.MkdirTemp(b.tmp, "fetch-")
		if err != nil {
			return err
		}
		start = time.Now()
		if _, err := source.Fetch(ctx, opts, dir); err != nil {
			return err
		}
		fetch = append(fetch, time.Since(start))
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	var exits samples
	for range shortRuns {
		start := time.Now()
		if out, err := exec.CommandContext(ctx, b.syncJobBin, "version").CombinedOutput(); err != nil {
			return fmt.Errorf("sync-job version: %v: %s", err, out)
		}
		exits = append(exits, time.Since(start))
	}
	b.rows = append(b.rows, row{"floor: sync-job start and exit", exits.medianMS(), "", "`sync-job version`, exec to exit; " + exits.spreadMS()})
	where := "the local Git server (git http-backend, a CGI process per request), in process"
	b.rows = append(b.rows, row{"floor: ls-remote of the sync's repository", list.medianMS(), "", where + "; " + list.spreadMS()})
	b.rows = append(b.rows, row{"floor: fetch of its revision", fetch.medianMS(), "", where + ", listing included; " + fetch.spreadMS()})
	return nil
}

// memSplit says how much of the resident memory at exit was the binary's
// file-backed pages (shared, reclaimable) and how much was anonymous.
func memSplit(r result) string {
	return fmt.Sprintf("; at exit %.1f MiB anonymous + %.1f MiB file-backed", float64(r.anonKiB)/1024, float64(r.fileKiB)/1024)
}

func (b *bench) cold(ctx context.Context, n int, target time.Duration) error {
	fmt.Fprintf(os.Stderr, "cold sync of %d objects ...\n", n)
	f, err := b.newSync(ctx, "large", manifests(n, "big"), "")
	if err != nil {
		return err
	}
	var res result
	server, err := b.apiServerCPU(func() (err error) {
		res, err = b.syncJob(ctx, f)
		return err
	})
	if err != nil {
		return err
	}
	w := fmt.Sprintf("%d objects (7 kinds, 50 per file) in one namespace; %d API requests (%d writes)", n, res.requests, res.writes)
	b.add(fmt.Sprintf("cold sync, %d objects", n), res.wall, fmt.Sprintf("≤ %.0f s", target.Seconds()), w)
	b.add(fmt.Sprintf("  kube-apiserver CPU during it (the floor on %d cores)", runtime.NumCPU()), server, "", "utime+stime of the test cluster's kube-apiserver process, /proc/PID/stat before and after")
	b.add("  sync-job CPU during it", res.cpu, "", "user+system time of the sync-job process")
	b.rows = append(b.rows, row{fmt.Sprintf("peak RSS, cold sync of %d objects", n), fmt.Sprintf("%.1f MiB", float64(res.maxRSS)/1024), "", w + memSplit(res)})
	return nil
}

func (b *bench) renderBench(ctx context.Context) error {
	fmt.Fprintln(os.Stderr, "render of 4,000 documents ...")
	dir := filepath.Join(b.tmp, "render")
	for p, content := range manifests(4000, "r") {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	best := time.Duration(1 << 62)
	var objs int
	for i := 0; i < 3; i++ {
		start := time.Now()
		out, err := render.Render(ctx, render.Options{Root: dir, Path: "deploy"})
		if err != nil {
			return err
		}
		best, objs = min(best, time.Since(start)), len(out.Objects)
	}
	if objs != 4000 {
		return fmt.Errorf("render gave %d objects, want 4000", objs)
	}
	b.add("render of 4,000 documents (best of 3)", best, "≤ 2 s", "a plain directory of 80 files, 7 kinds, generated kustomization, in-process")
	return nil
}

// kubectl measures `kubectl apply --server-side --prune --applyset` on the
// same objects, for a side-by-side ratio.
func (b *bench) kubectl(ctx context.Context, n int) error {
	bin, err := cluster.TestbinDir()
	if err != nil {
		return err
	}
	kubectl := filepath.Join(bin, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		return fmt.Errorf("%s: %w (run make testbin)", kubectl, err)
	}
	fmt.Fprintf(os.Stderr, "kubectl apply --server-side --applyset of %d objects ...\n", n)
	ns := fmt.Sprintf("bench-kubectl-%d", time.Now().UnixNano()%100000)
	if _, err := b.env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	dir := filepath.Join(b.tmp, "kubectl")
	write := func(files map[string]string) error {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		for p, content := range files {
			full := filepath.Join(dir, filepath.Base(p))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	apply := func() (time.Duration, error) {
		cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", b.env.KubeconfigPath(), "-n", ns, "apply", "--server-side",
			"--prune", "--applyset=configmap/bench-applyset", "-f", dir)
		cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		if err != nil {
			return 0, fmt.Errorf("kubectl apply: %v: %s", err, tail(out.String(), 1500))
		}
		return time.Since(start), nil
	}
	all := manifests(n, "k")
	if err := write(all); err != nil {
		return err
	}
	d, err := apply()
	if err != nil {
		return err
	}
	gs := b.find(fmt.Sprintf("cold sync, %d objects", n))
	b.rows = append(b.rows, row{fmt.Sprintf("kubectl apply --server-side --applyset, %d objects", n), fmt.Sprintf("%.2f s", d.Seconds()), "", fmt.Sprintf("same objects; kubectl/gitsync = %.1f×", d.Seconds()/gs)})
	// Prune half.
	half := map[string]string{}
	i := 0
	for p, c := range all {
		if i%2 == 0 {
			half[p] = c
		}
		i++
	}
	if err := write(half); err != nil {
		return err
	}
	d, err = apply()
	if err != nil {
		return err
	}
	gp := b.find(fmt.Sprintf("prune of %d objects", n))
	b.rows = append(b.rows, row{"kubectl apply --prune --applyset, half removed", fmt.Sprintf("%.2f s", d.Seconds()), "", fmt.Sprintf("prunes ~%d of %d objects; kubectl time / gitsync prune of %d = %.1f×", n/2, n, n, d.Seconds()/gp)})
	return nil
}

func (b *bench) find(figure string) float64 {
	for _, r := range b.rows {
		if r.figure == figure {
			var v float64
			if _, err := fmt.Sscanf(r.value, "%f", &v); err != nil {
				return 0 // as for a missing figure
			}
			return v
		}
	}
	return 0
}
