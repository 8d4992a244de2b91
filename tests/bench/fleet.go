package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/cli"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/cluster"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// The fleet step: many syncs on one real node (issue 15). It starts its own
// node-mode cluster, so it needs root and runs before the control-plane
// cluster of the other steps.
var (
	fleetSyncs   = flag.Int("fleet-syncs", 50, "fleet: the number of syncs (one directory each)")
	fleetObjects = flag.Int("fleet-objects", 20, "fleet: ConfigMaps per sync")
	fleetMinutes = flag.Int("fleet-minutes", 3, "fleet: scheduled minutes measured at rest, after all syncs succeeded")
)

const fleetImage = "gitsync.local/sync-job:fleet"

// fleetEnv is the node-mode cluster and Git server of the fleet step.
type fleetEnv struct {
	env  *cluster.Cluster
	git  *gitserver.Server
	repo string // the repository's name on git
}

// fleet measures 50 syncs of 20 ConfigMaps each on the schedule "* * * * *"
// against the same 1,000 objects in one sync on the same schedule.
func (b *bench) fleet(ctx context.Context) (err error) {
	if os.Geteuid() != 0 {
		b.rows = append(b.rows, row{"fleet", "skipped", "", "node mode needs root"})
		return nil
	}
	syncs, per, minutes := *fleetSyncs, *fleetObjects, *fleetMinutes
	if syncs < 1 || per < 1 || minutes < 1 {
		return fmt.Errorf("-fleet-syncs, -fleet-objects and -fleet-minutes must be at least 1")
	}
	fmt.Fprintln(os.Stderr, "fleet: starting a node-mode cluster ...")
	f := &fleetEnv{repo: "fleet"}
	f.env, err = cluster.Start(ctx, cluster.Options{Node: true})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	defer func() { err = errors.Join(err, f.env.Stop()) }()
	fmt.Fprintln(os.Stderr, "fleet: building and importing the sync-job image ...")
	if err := f.env.BuildImage(ctx, "./cmd/sync-job", fleetImage); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	f.git, err = gitserver.Start(ctx, gitserver.Options{ListenIP: f.env.HostIP()})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	defer func() { err = errors.Join(err, f.git.Close()) }()
	repo, err := f.git.CreateRepo(ctx, f.repo)
	if err != nil {
		return err
	}
	if _, err := repo.Commit(ctx, "fleet", fleetFiles(syncs, per)); err != nil {
		return err
	}

	window := time.Duration(minutes) * time.Minute
	fmt.Fprintln(os.Stderr, "fleet: the idle node for a minute ...")
	idle, err := f.measure(ctx, time.Minute, nil)
	if err != nil {
		return err
	}
	b.fleetRows("idle node, nothing installed", idle, "the node-mode cluster alone, for 1 minute")

	workload := fmt.Sprintf("%d syncs × %d ConfigMaps, each its own namespace and path, schedule 1m", syncs, per)
	var many []fleetSync
	for i := range syncs {
		many = append(many, fleetSync{ns: fmt.Sprintf("fleet-%02d", i), name: "s", path: fmt.Sprintf("./fleet/d%02d", i)})
	}
	if err := f.phase(ctx, b, many, workload, window); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "fleet: removing the syncs' namespaces ...")
	if err := f.deleteNamespaces(ctx, many); err != nil {
		return err
	}
	// The node tears the Pods down after their API objects are gone: wait,
	// so that the next figures do not carry that work.
	if err := waitNoPodCgroups(ctx, 3*time.Minute); err != nil {
		return err
	}

	one := []fleetSync{{ns: "fleet-all", name: "all", path: "./fleet"}}
	workload = fmt.Sprintf("1 sync of the same %d ConfigMaps (%d directories under one path), schedule 1m", syncs*per, syncs)
	return f.phase(ctx, b, one, workload, window)
}

// fleetFiles are syncs directories of per ConfigMaps, one file each; names
// are unique across directories so that one sync can hold them all.
func fleetFiles(syncs, per int) map[string]string {
	files := map[string]string{}
	for d := range syncs {
		var buf strings.Builder
		for i := range per {
			fmt.Fprintf(&buf, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d%02d-cm%02d\ndata:\n  key: value-%d-%d\n", d, i, d, i)
		}
		files[fmt.Sprintf("fleet/d%02d/configmaps.yaml", d)] = buf.String()
	}
	return files
}

type fleetSync struct{ ns, name, path string }

// phase installs the syncs, waits until each has a successful record, then
// measures window of scheduled runs with nothing changed.
func (f *fleetEnv) phase(ctx context.Context, b *bench, syncs []fleetSync, workload string, window time.Duration) error {
	fmt.Fprintf(os.Stderr, "fleet: installing %d sync(s) ...\n", len(syncs))
	start := time.Now()
	for _, s := range syncs {
		if _, err := f.env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := f.gitsync(ctx, s.ns, "install", s.name, "--url", f.git.HTTPURL(f.repo), "--insecure", "--branch", "main",
			"--path", s.path, "--schedule", "* * * * *", "--image", fleetImage); err != nil {
			return err
		}
	}
	installed := time.Since(start)
	fmt.Fprintf(os.Stderr, "fleet: installed in %.1f s; waiting for a successful record of each ...\n", installed.Seconds())
	if err := f.waitSucceeded(ctx, syncs, 5*time.Minute); err != nil {
		return err
	}
	first := time.Since(start)
	b.rows = append(b.rows, row{"fleet: all succeeded after install", fmt.Sprintf("%.0f s", first.Seconds()), "",
		workload + fmt.Sprintf("; from the first install command (all %d written in %.1f s) to the last successful record; the first run waits for the next minute", len(syncs), installed.Seconds())})
	scheduled, err := f.firstJob(ctx, syncs)
	if err != nil {
		return err
	}
	b.rows = append(b.rows, row{"fleet: all succeeded after the first scheduled Job", fmt.Sprintf("%.0f s", time.Since(scheduled).Seconds()), "",
		workload + "; from the creation of the first Job (1 s resolution) to the last successful record: the first runs, started together"})

	fmt.Fprintf(os.Stderr, "fleet: at rest for %s ...\n", window)
	m, err := f.measure(ctx, window, syncs)
	if err != nil {
		return err
	}
	if err := f.checkSucceeded(ctx, syncs); err != nil {
		return err
	}
	b.fleetRows("at rest", m, workload+", nothing changed")
	return nil
}

// gitsync runs `kubectl gitsync ARGS -n ns` in-process against the cluster.
func (f *fleetEnv) gitsync(ctx context.Context, ns string, args ...string) error {
	var out bytes.Buffer
	cmd := cli.NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out})
	cmd.SetArgs(append(args, "--kubeconfig", f.env.KubeconfigPath(), "-n", ns))
	if err := cmd.ExecuteContext(ctx); err != nil {
		return fmt.Errorf("kubectl gitsync %s -n %s: %w\n%s", strings.Join(args, " "), ns, err, out.String())
	}
	return nil
}

// waitSucceeded polls the syncs' records, as `status` reads them, until each
// has a successful last run. A failed run is an error at once.
func (f *fleetEnv) waitSucceeded(ctx context.Context, syncs []fleetSync, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := map[string]bool{}
	return f.env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		for _, s := range syncs {
			if done[s.ns] {
				continue
			}
			st := &inventory.Store{Client: f.env.Client(), Namespace: s.ns, Sync: s.name}
			inv, err := st.Load(ctx)
			if err != nil {
				return false, fmt.Errorf("record of %s/%s: %w", s.ns, s.name, err)
			}
			switch inv.Record.LastRun.Result {
			case inventory.ResultSucceeded:
				done[s.ns] = true
			case inventory.ResultFailed:
				return false, fmt.Errorf("sync %s/%s failed: %s", s.ns, s.name, inv.Record.LastRun.Message)
			}
		}
		return len(done) == len(syncs), nil
	})
}

// firstJob is when the first Job of the syncs was created.
func (f *fleetEnv) firstJob(ctx context.Context, syncs []fleetSync) (time.Time, error) {
	var first time.Time
	for _, s := range syncs {
		list, err := f.env.Client().BatchV1().Jobs(s.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return first, err
		}
		for _, j := range list.Items {
			if t := j.CreationTimestamp.Time; first.IsZero() || t.Before(first) {
				first = t
			}
		}
	}
	if first.IsZero() {
		return first, fmt.Errorf("the syncs succeeded, but no Job of theirs exists")
	}
	return first, nil
}

// checkSucceeded checks that the last run of each sync succeeded.
func (f *fleetEnv) checkSucceeded(ctx context.Context, syncs []fleetSync) error {
	for _, s := range syncs {
		st := &inventory.Store{Client: f.env.Client(), Namespace: s.ns, Sync: s.name}
		inv, err := st.Load(ctx)
		if err != nil {
			return err
		}
		if r := inv.Record.LastRun; r.Result != inventory.ResultSucceeded {
			return fmt.Errorf("sync %s/%s: last run %q: %s", s.ns, s.name, r.Result, r.Message)
		}
	}
	return nil
}

func (f *fleetEnv) deleteNamespaces(ctx context.Context, syncs []fleetSync) error {
	for _, s := range syncs {
		if err := f.env.Client().CoreV1().Namespaces().Delete(ctx, s.ns, metav1.DeleteOptions{}); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return f.env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		for _, s := range syncs {
			_, err := f.env.Client().CoreV1().Namespaces().Get(ctx, s.ns, metav1.GetOptions{})
			if err == nil {
				return false, nil
			}
			if !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
}

// waitNoPodCgroups waits until the node has no Pod left: no pod* cgroup
// under kubepods (cgroupfs driver, cgroup v1).
func waitNoPodCgroups(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left, err := filepath.Glob("/sys/fs/cgroup/cpuacct/kubepods/*/pod*")
		if err != nil {
			return err
		}
		direct, err := filepath.Glob("/sys/fs/cgroup/cpuacct/kubepods/pod*")
		if err != nil {
			return err
		}
		left = append(left, direct...)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the node still has %d Pods %s after their namespaces were deleted", len(left), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// fleetMeasure is the CPU time spent during a window, by component.
type fleetMeasure struct {
	window                          time.Duration
	apiserver, etcd, kcm, scheduler time.Duration
	kubelet, containerd, shims      time.Duration
	proxy, pods                     time.Duration
	podsKnown                       bool
	jobs, failedJobs                int
}

// node is what the node spends: kubelet, containerd (with the CNI plugins
// it ran) and its shims (with the runc processes they ran and the Pods'
// containers they reaped: a container's processes are the shim's children).
func (m fleetMeasure) node() time.Duration { return m.kubelet + m.containerd + m.shims }

// perHour extrapolates d over the window to an hour, in CPU-seconds.
func (m fleetMeasure) perHour(d time.Duration) float64 {
	return d.Seconds() * float64(time.Hour) / float64(m.window)
}

func (b *bench) fleetRows(what string, m fleetMeasure, workload string) {
	h := m.perHour
	pods := "n/a"
	if m.podsKnown {
		pods = fmt.Sprintf("%.0f", h(m.pods))
	}
	b.rows = append(b.rows,
		row{"fleet: " + what + ", kube-apiserver", fmt.Sprintf("%.0f CPU-s/h", h(m.apiserver)), "", workload},
		row{"fleet: " + what + ", etcd", fmt.Sprintf("%.0f CPU-s/h", h(m.etcd)), "", workload},
		row{"fleet: " + what + ", node", fmt.Sprintf("%.0f CPU-s/h", h(m.node())), "", workload + fmt.Sprintf(
			"; kubelet %.0f + containerd %.0f + shims with runc and the containers %.0f, of which the Pods' containers %s (cgroup); kube-proxy %.0f, controller-manager %.0f, scheduler %.0f apart",
			h(m.kubelet), h(m.containerd), h(m.shims), pods, h(m.proxy), h(m.kcm), h(m.scheduler))},
		row{"fleet: " + what + ", Pod starts", fmt.Sprintf("%.0f /h", float64(m.jobs)*float64(time.Hour)/float64(m.window)), "", workload +
			fmt.Sprintf("; %d Jobs created in %.0f min, %d failed", m.jobs, m.window.Minutes(), m.failedJobs)},
	)
}

// measure samples the cluster's processes every second for window and sums
// the CPU each used (utime+stime+cutime+cstime of /proc/PID/stat: waited-for
// children such as runc, CNI plugins and the containers a shim reaps count
// towards their parent; a shim's last second before it exits is lost). The
// Pods' containers alone are the cgroup v1 cpuacct.usage of kubepods. The Jobs created in the syncs' namespaces
// during the window are counted as Pod starts (backoffLimit 0: one Pod each).
func (f *fleetEnv) measure(ctx context.Context, window time.Duration, syncs []fleetSync) (fleetMeasure, error) {
	m := fleetMeasure{window: window}
	const podsCgroup = "/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage"
	podsBefore, podsErr := readUint(podsCgroup)

	type seen struct {
		comm        string
		first, last time.Duration
	}
	procs := map[int]*seen{}
	sample := func(baseline bool) {
		for _, pid := range f.env.RemainingProcesses() {
			cpu, err := processCPU(pid)
			if err != nil {
				continue // exited meanwhile
			}
			p := procs[pid]
			if p == nil {
				comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if err != nil {
					continue
				}
				p = &seen{comm: strings.TrimSpace(string(comm))}
				if fleetComponent(p.comm) == "" {
					// A short-lived child (runc, a CNI plugin, mount):
					// counted in its parent's cutime once waited for.
					continue
				}
				if baseline {
					p.first = cpu // before the window; later ones started in it
				}
				procs[pid] = p
			}
			p.last = cpu
		}
	}

	var mu sync.Mutex
	jobs := map[types.UID]bool{}
	failed := map[types.UID]bool{}
	start := time.Now()
	countJobs := func(ctx context.Context) error {
		for _, s := range syncs {
			list, err := f.env.Client().BatchV1().Jobs(s.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			mu.Lock()
			for _, j := range list.Items {
				if !j.CreationTimestamp.Time.Before(start.Truncate(time.Second)) {
					jobs[j.UID] = true
					if j.Status.Failed > 0 {
						failed[j.UID] = true
					}
				}
			}
			mu.Unlock()
		}
		return nil
	}

	sample(true)
	end := start.Add(window)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; time.Now().Before(end); n++ {
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-tick.C:
		}
		sample(false)
		if n%10 == 0 { // Jobs live until the third next one: 10 s is often enough
			if err := countJobs(ctx); err != nil {
				return m, err
			}
		}
	}
	sample(false)
	m.window = time.Since(start)
	podsAfter, err := readUint(podsCgroup)
	if podsErr == nil && err == nil {
		m.pods, m.podsKnown = time.Duration(podsAfter-podsBefore), true
	}
	// Jobs created up to the end, not after it.
	if err := countJobs(ctx); err != nil {
		return m, err
	}
	m.jobs = len(jobs)
	m.failedJobs = len(failed)

	for _, p := range procs {
		d := p.last - p.first
		switch fleetComponent(p.comm) {
		case "kube-apiserver":
			m.apiserver += d
		case "etcd":
			m.etcd += d
		case "kube-controller-manager":
			m.kcm += d
		case "kube-scheduler":
			m.scheduler += d
		case "kubelet":
			m.kubelet += d
		case "kube-proxy":
			m.proxy += d
		case "containerd-shim":
			m.shims += d
		case "containerd":
			m.containerd += d
		}
	}
	return m, nil
}

// fleetComponent names the cluster component whose process has command
// name comm (comm is cut at 15 characters); "" for a child of one.
func fleetComponent(comm string) string {
	switch {
	case comm == "kube-apiserver", comm == "etcd", comm == "kubelet", comm == "kube-proxy", comm == "containerd":
		return comm
	case strings.HasPrefix(comm, "kube-controller"):
		return "kube-controller-manager"
	case strings.HasPrefix(comm, "kube-scheduler"):
		return "kube-scheduler"
	case strings.HasPrefix(comm, "containerd-shim"):
		return "containerd-shim"
	}
	return ""
}

// processCPU is the CPU time process pid and its waited-for children used.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, field := range fields[11:15] { // utime, stime, cutime, cstime
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
}
