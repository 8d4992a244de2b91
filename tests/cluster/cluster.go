package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/gitsync/gitsync/pkg/kube/kubeclientset"
)

// Options configures Start. The zero value starts a control plane on loopback.
type Options struct {
	// Node also starts kube-scheduler, containerd, a CNI bridge, kubelet and
	// kube-proxy so Pods really run. Node mode needs root and the Debian
	// packages containerd, runc, containernetworking-plugins, iptables and
	// conntrack. Only one node-mode cluster runs on a machine at a time:
	// Start waits for the others to stop. Default false.
	Node bool

	// BindAddress is the address kube-apiserver binds to and advertises.
	// Default 127.0.0.1 in control-plane mode and the bridge's address in node
	// mode, where Pods must reach it through the kubernetes Service.
	BindAddress string

	// Subnet is the node's Pod subnet, an IPv4 /24 or larger block that no
	// route of the machine may overlap; the bridge gets its first address.
	// Default 10.217.42.0/24. Node mode only.
	Subnet string

	// ServiceCIDR is the range of Service cluster IPs; it must not overlap
	// Subnet. Default 10.217.43.0/24.
	ServiceCIDR string

	// Bridge is the name of the Linux bridge node mode creates.
	// Default "gitsync0".
	Bridge string

	// NodeName is the name the kubelet registers. Default "gitsync-node".
	NodeName string

	// Dir is where the cluster's temporary directory is made.
	// Default os.TempDir().
	Dir string

	// KeepDir keeps the temporary directory (component logs, configs) after
	// Stop, for debugging. It is also enabled by the environment variable
	// GITSYNC_CLUSTER_KEEP=1. Default false.
	KeepDir bool

	// StartTimeout bounds Start when its context has no deadline; in node
	// mode it starts once the node lock is held. Default 2 minutes.
	StartTimeout time.Duration

	// NodeLockTimeout bounds, when Start's context has no deadline, how long
	// node mode waits for another node-mode cluster on the machine to stop
	// (`go test ./...` runs packages in parallel). TestMain's wait does not
	// count towards `go test -timeout`. Default 8 minutes.
	NodeLockTimeout time.Duration

	// WaitTimeout bounds WaitFor when its context has no deadline.
	// Default 1 minute.
	WaitTimeout time.Duration

	// Controllers are kube-controller-manager's --controllers. Default
	// DefaultControllers; []string{"*"} runs all on-by-default ones (about
	// 3 s slower to start).
	Controllers []string

	// Verbosity is the klog level of the Kubernetes components. Default 0.
	Verbosity int

	// AuditLog makes kube-apiserver write an audit log of every request
	// (level Metadata), read with AuditEvents. Default false.
	AuditLog bool

	// withReaper is set by Run: node mode then starts a reaper process that
	// cleans up if the test binary dies without Stop.
	withReaper bool
}

func (o Options) withDefaults() Options {
	if o.Subnet == "" {
		o.Subnet = "10.217.42.0/24"
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.217.43.0/24"
	}
	if o.Bridge == "" {
		o.Bridge = "gitsync0"
	}
	if o.NodeName == "" {
		o.NodeName = "gitsync-node"
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if os.Getenv("GITSYNC_CLUSTER_KEEP") == "1" {
		o.KeepDir = true
	}
	if len(o.Controllers) == 0 {
		o.Controllers = DefaultControllers()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.NodeLockTimeout == 0 {
		o.NodeLockTimeout = 8 * time.Minute
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = time.Minute
	}
	return o
}

var sigpipeOnce sync.Once

// surviveClosedOutput makes writes to a closed pipe on standard output or
// error fail with EPIPE instead of killing the process. Go kills a program
// that writes to such a pipe on file descriptor 1 or 2 with SIGPIPE unless
// it asks for the signal; after Ctrl-C on `make demo | tee demo.log` tee is
// gone too, and the teardown died at its first message, leaving the
// cluster behind (containerd shims, Pods, the bridge and mounts in node
// mode). The signal is caught (Notify), not ignored, because an ignored
// signal stays ignored in the components this process starts, and they
// should keep the default.
func surviveClosedOutput() {
	sigpipeOnce.Do(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) })
}

// DefaultControllers lists the controllers the harness runs by default: what
// ServiceAccounts, namespaces, garbage collection, Jobs, CronJobs and the
// workload kinds that health checks wait for need. Starting each controller
// costs time (with --use-service-account-credentials each gets its own
// ServiceAccount and token), so the rest are off.
func DefaultControllers() []string {
	return []string{
		"serviceaccount-controller",
		"serviceaccount-token-controller",
		"root-ca-certificate-publisher-controller",
		"namespace-controller",
		"garbage-collector-controller",
		"clusterrole-aggregation-controller",
		"node-lifecycle-controller", // removes the node's not-ready taint
		"job-controller",
		"cronjob-controller",
		"ttl-after-finished-controller",
		"pod-garbage-collector-controller",
		"deployment-controller",
		"replicaset-controller",
		"statefulset-controller",
		"daemonset-controller",
		"endpointslice-controller",
		"service-cidr-controller",
	}
}

// dirPrefix starts the name of every cluster's temporary directory; the
// stale-run sweep looks for it.
const dirPrefix = "gitsync-cluster-"

// Cluster is a running test cluster. Its methods are safe for concurrent use.
type Cluster struct {
	opts    Options
	dir     string
	bins    map[string]string
	spawner *spawner

	mu    sync.Mutex
	procs []*process

	hostIP     string
	apiURL     string
	kubeconfig string
	config     *rest.Config
	client     kubeclientset.Clientset
	dynamic    dynamic.Interface
	mapper     meta.ResettableRESTMapper

	pki  *pki
	node *node // nil in control-plane mode

	startupTime time.Duration

	stopOnce sync.Once
	stopErr  error
}

// Start starts a cluster and returns once it is ready: /readyz answers ok, the
// default ServiceAccount exists in the default namespace and, in node mode,
// the node is Ready and the pause image is imported. On failure everything
// already started is stopped, and the error includes the end of the relevant
// component's log.
//
// From Start on, the process survives writes to a standard output or error
// whose reader is gone (see surviveClosedOutput), so that Stop runs to its
// end after Ctrl-C on `make demo | tee demo.log`.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	surviveClosedOutput()
	opts = opts.withDefaults()
	names := []string{"etcd", "kube-apiserver", "kube-controller-manager"}
	if opts.Node {
		names = append(names, "kube-scheduler", "kubelet", "kube-proxy")
		if err := checkNodePrerequisites(); err != nil {
			return nil, err
		}
	}
	bins, err := findBinaries(names...)
	if err != nil {
		return nil, err
	}
	_, hasDeadline := ctx.Deadline()
	var lock *os.File
	if opts.Node {
		lockCtx := ctx
		if !hasDeadline {
			var cancel context.CancelFunc
			lockCtx, cancel = context.WithTimeout(ctx, opts.NodeLockTimeout)
			defer cancel()
		}
		lock, err = acquireNodeLock(lockCtx, filepath.Join(opts.Dir, nodeLockFile), func() {
			fmt.Fprintln(os.Stderr, "test cluster: waiting for another node-mode test cluster on this machine to stop")
		})
		if err != nil {
			return nil, err
		}
	}
	// The start-up time is measured from here: waiting for the lock is not
	// starting.
	begin := time.Now()
	if !hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.StartTimeout)
		defer cancel()
	}
	sweepStaleDirs(opts.Dir)
	// Ports are picked free a moment before the components bind them, so a
	// parallel test binary can take one first; then start again.
	for attempt := 1; ; attempt++ {
		c, err := startIn(ctx, opts, bins, lock)
		if err == nil {
			c.startupTime = time.Since(begin)
			return c, nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, errors.Join(err, releaseLock(lock))
		}
		if opts.Node {
			// The failed attempt's Stop released it.
			if lock, err = acquireNodeLock(ctx, filepath.Join(opts.Dir, nodeLockFile), nil); err != nil {
				return nil, err
			}
		}
	}
}

// startIn makes the cluster's directory and starts the cluster in it; on
// failure it stops what it started and removes the directory.
func startIn(ctx context.Context, opts Options, bins map[string]string, lock *os.File) (*Cluster, error) {
	dir, err := os.MkdirTemp(opts.Dir, dirPrefix)
	if err != nil {
		return nil, err
	}
	// The owner file lets a later run recognise this directory as stale
	// once this process is gone.
	err = os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "logs"), 0o755)
	}
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	c := &Cluster{opts: opts, dir: dir, bins: bins, spawner: newSpawner()}
	if err := c.start(ctx, lock); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stopping after the failed start: %w", stopErr))
		}
		if !opts.KeepDir {
			err = fmt.Errorf("%w\n(GITSYNC_CLUSTER_KEEP=1 keeps the cluster's directory with all logs)", err)
		}
		return nil, fmt.Errorf("test cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, lock *os.File) error {
	if c.opts.Node {
		if err := c.setUpNode(ctx, lock); err != nil {
			return err
		}
	} else {
		c.hostIP = "127.0.0.1"
	}
	if c.opts.BindAddress == "" {
		c.opts.BindAddress = c.hostIP
	}
	if err := c.startControlPlane(ctx); err != nil {
		return err
	}
	if c.opts.Node {
		if err := c.startNode(ctx); err != nil {
			return err
		}
	}
	if err := c.waitControlPlane(ctx); err != nil {
		return err
	}
	if c.opts.Node {
		return c.waitNode(ctx)
	}
	return nil
}

// Stop stops every process the cluster started (SIGTERM, then SIGKILL after a
// few seconds), removes what node mode made outside the temporary directory,
// and removes the temporary directory. It is idempotent: later calls return
// the first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var errs []error
	if c.node != nil {
		errs = append(errs, c.stopNode()...)
	}
	c.mu.Lock()
	procs := append([]*process(nil), c.procs...)
	c.mu.Unlock()
	// Stop clients before their servers (an apiserver without etcd does not
	// finish its graceful shutdown), each tier all at once.
	tiers := [][]string{
		{"kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager"},
		{"kube-apiserver", "containerd"},
		{"etcd"},
	}
	for _, tier := range tiers {
		var wg sync.WaitGroup
		errCh := make(chan error, len(procs))
		for _, p := range procs {
			if slices.Contains(tier, p.name) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errCh <- p.stop(5 * time.Second)
				}()
			}
		}
		wg.Wait()
		close(errCh)
		for err := range errCh {
			errs = append(errs, err)
		}
	}
	for _, p := range procs { // anything not in a tier
		errs = append(errs, p.stop(5*time.Second))
	}
	if c.node != nil {
		errs = append(errs, c.cleanUpNode()...)
	}
	c.spawner.close()
	if left := harnessProcesses(c.dir, c.PIDs()); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes of %s still running after stop: %v", c.dir, left))
		errs = append(errs, killPIDs(left))
	}
	if err := unmountUnder(c.dir); err != nil {
		errs = append(errs, err)
	}
	if !c.opts.KeepDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
	} else {
		fmt.Fprintf(os.Stderr, "test cluster: kept %s\n", c.dir)
	}
	if left := c.Leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left after stop: %s", strings.Join(left, "; ")))
	}
	if c.node != nil {
		if c.node.reaper != nil {
			errs = append(errs, c.node.reaper.dismiss())
		}
		errs = append(errs, c.node.unlock())
	}
	return errors.Join(errs...)
}

// Leftovers lists what of the cluster still exists: live processes, mounts
// under its directory and the directory itself (unless KeepDir). Stop checks
// it, and in node mode also, while it still holds the node lock, that the
// bridge, the KUBE-* and CNI-* iptables chains, the kubepods cgroups and the
// fixed paths it created are gone; it returns an error naming anything left.
// After Stop, Leftovers checks only the cluster's own items, as the next
// node-mode cluster may already be using the machine-wide ones.
func (c *Cluster) Leftovers() []string {
	var left []string
	if pids := c.RemainingProcesses(); len(pids) > 0 {
		left = append(left, fmt.Sprintf("processes %v", pids))
	}
	if mps := mountPoints(c.dir); len(mps) > 0 {
		left = append(left, "mounts "+strings.Join(mps, ", "))
	}
	if _, err := os.Stat(c.dir); err == nil && !c.opts.KeepDir {
		left = append(left, "directory "+c.dir)
	}
	if c.node == nil || c.node.lock == nil {
		return left
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", c.opts.Bridge)); err == nil {
		left = append(left, "bridge "+c.opts.Bridge)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		out, _ := runCmd(ctx, bin)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, ":") && ownChain(strings.TrimPrefix(line, ":")) {
				left = append(left, bin+" chain "+strings.Fields(line)[0][1:])
			}
		}
	}
	for _, h := range c.node.state.Cgroups {
		if _, err := os.Stat(filepath.Join(h, kubeCgroup)); err == nil {
			left = append(left, "cgroup "+filepath.Join(h, kubeCgroup))
		}
	}
	for _, p := range c.node.state.Created {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, "path "+p)
		}
	}
	return left
}

// StartupTime is how long Start took, not counting the wait for another
// node-mode cluster to stop.
func (c *Cluster) StartupTime() time.Duration { return c.startupTime }

// Config returns a copy of the admin configuration: a system:masters x509
// client certificate, QPS 1000, Burst 2000.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.config) }

// KubeconfigPath is the admin kubeconfig file.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// Client is a clientset with the admin configuration; it is also the
// kube.Interface of gitsync's engine packages.
func (c *Cluster) Client() kubeclientset.Clientset { return c.client }

// Dynamic is a dynamic client with the admin configuration.
func (c *Cluster) Dynamic() dynamic.Interface { return c.dynamic }

// RESTMapper maps kinds to resources through discovery; ApplyYAML resets it
// when a kind is unknown, so new CRDs are found.
func (c *Cluster) RESTMapper() meta.ResettableRESTMapper { return c.mapper }

// HostIP is the address Pods reach the host on: the bridge's address in node
// mode, 127.0.0.1 otherwise. Test servers (Git, registries) bind to it.
func (c *Cluster) HostIP() string { return c.hostIP }

// Dir is the cluster's temporary directory, with component logs in logs/.
func (c *Cluster) Dir() string { return c.dir }

// PIDs lists the process ids of the components the cluster started.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// RemainingProcesses lists the live processes that belong to the cluster: the
// components it started, what they forked, and the containerd shims of its
// node. After Stop it must be empty.
func (c *Cluster) RemainingProcesses() []int {
	var pids []int
	seen := map[int]bool{}
	for _, pid := range c.PIDs() {
		if pidAlive(pid) && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	for _, pid := range harnessProcesses(c.dir, c.PIDs()) {
		if !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	return pids
}

// initClients builds the admin clients once the apiserver's address is known.
func (c *Cluster) initClients(caPEM []byte, admin keyPair) error {
	c.config = &rest.Config{
		Host: c.apiURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   caPEM,
			CertData: admin.certPEM,
			KeyData:  admin.keyPEM,
		},
		QPS:   1000,
		Burst: 2000,
	}
	client, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.config)
	if err != nil {
		return err
	}
	c.client = kubeclientset.FromClientset(client)
	c.dynamic = dyn
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	return nil
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// sweepStaleDirs removes the temporary directories of clusters whose owning
// process has died without stopping them (a test binary killed by a timeout
// panic, say): it kills what still runs from them and unmounts what is
// mounted under them.
func sweepStaleDirs(parent string) {
	matches, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, dir := range matches {
		if ownerAlive(dir) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "node-state.json")); err == nil {
			// A node-mode run: its reaper, or the next node-mode Start
			// holding the node lock, undoes what it changed.
			continue
		}
		// The components died with their parent (Pdeathsig); shims did not.
		_ = killPIDs(harnessProcesses(dir, nil))
		_ = unmountUnder(dir)
		_ = os.RemoveAll(dir)
	}
}
