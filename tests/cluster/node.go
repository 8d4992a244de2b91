package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/internal/ociimage"
)

// Node mode status: the bridge, containerd (CRI with restrict_oom_score_adj,
// cgroupfs, CNI bridge+host-local without masquerading), kubelet,
// kube-scheduler and kube-proxy (iptables) start in parallel with the control
// plane; the node is Ready, the pause image imported and kube-proxy synced
// 5.5-7 s after Start begins on an idle 2-core VM (about 10 s under load).
// Pods reach the apiserver through the kubernetes Service and the host on
// HostIP (tests/e2e checks both). Stop takes about 3 s and removes everything
// listed in nodeState; a run that died (SIGKILL was tried) is cleaned by its
// reaper process, or by the next node-mode Start if the reaper died too.

// PauseImage is the sandbox image the harness builds from ./pause and imports
// into the node's containerd.
const PauseImage = "gitsync.local/pause:test"

// cniNetwork names the CNI network; libcni's cache files start with it.
const cniNetwork = "gitsync-test"

// nodeLockFile serialises node-mode clusters: the bridge, iptables chains,
// cgroups and kubelet's fixed paths exist once per machine.
const nodeLockFile = "gitsync-cluster.node.lock"

// requiredPackages are the Debian packages node mode runs on.
const requiredPackages = "containerd runc containernetworking-plugins iptables conntrack"

// node is what node mode keeps while running.
type node struct {
	lock        *os.File
	subnet      netip.Prefix
	gateway     netip.Addr
	containerd  string // socket path
	proxyHealth string // kube-proxy healthz URL
	pauseDone   chan error
	// containerdUp is closed once containerd accepts connections.
	containerdUp chan struct{}
	state        nodeState
	reaper       *reaper
}

// nodeState records what node mode made or changed outside its temporary
// directory. It is written to <dir>/node-state.json before anything is made,
// so that a reaper or a later run can undo it if this process dies.
type nodeState struct {
	Bridge string `json:"bridge"`
	Subnet string `json:"subnet"`
	// Created are fixed paths that did not exist before and are removed
	// whole; the other fixed paths only lose what the run put in them.
	Created []string `json:"created"`
	// Sysctls are the values, before the run, of the kernel settings the
	// components may change.
	Sysctls map[string]string `json:"sysctls"`
	// Cgroups are the cgroup v1 hierarchies' mount points.
	Cgroups []string `json:"cgroups"`
}

// fixedPaths are the paths outside the temporary directory that kubelet,
// containerd or the CNI plugins use whatever they are told.
func fixedPaths() []string {
	return []string{
		"/var/lib/kubelet", // device-plugins/ is hard-wired
		"/var/lib/kubelet/device-plugins",
		"/var/log/containers", // kubelet's symlinks to container logs
		"/var/log/pods",
		"/run/containerd", // shim sockets in s/
		"/run/containerd/s",
		"/var/lib/cni", // libcni's result cache
		"/var/lib/cni/results",
	}
}

// watchedSysctls may be changed by kubelet, kube-proxy or the bridge plugin;
// they are restored on Stop.
func watchedSysctls() []string {
	return []string{
		"net/ipv4/ip_forward",
		"net/ipv4/conf/all/route_localnet",
		"net/bridge/bridge-nf-call-iptables",
		"net/bridge/bridge-nf-call-ip6tables",
		"net/netfilter/nf_conntrack_max",
		"net/netfilter/nf_conntrack_tcp_timeout_established",
		"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
		"net/netfilter/nf_conntrack_tcp_be_liberal",
		"vm/overcommit_memory",
		"vm/panic_on_oom",
		"kernel/panic",
		"kernel/panic_on_oops",
		"kernel/keys/root_maxkeys",
		"kernel/keys/root_maxbytes",
	}
}

func checkNodePrerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("node mode needs root (bridges, iptables, mounts, cgroups)")
	}
	var missing []string
	for _, cmd := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "ip6tables", "iptables-save", "conntrack", "ip"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", plugin)); err != nil {
			missing = append(missing, "/usr/lib/cni/"+plugin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("node mode: missing %s: install the Debian packages %s (apt-get install -y %s)",
			strings.Join(missing, ", "), requiredPackages, requiredPackages)
	}
	return nil
}

// setUpNode removes what a dead run left, checks the subnets and creates the
// bridge. Start holds the node lock, which c.node now owns.
func (c *Cluster) setUpNode(ctx context.Context, lock *os.File) error {
	c.node = &node{lock: lock, pauseDone: make(chan error, 1), containerdUp: make(chan struct{})}
	subnet, err := netip.ParsePrefix(c.opts.Subnet)
	if err != nil || !subnet.Addr().Is4() || subnet.Bits() > 29 {
		return fmt.Errorf("subnet %q: want an IPv4 CIDR of at least 8 addresses", c.opts.Subnet)
	}
	subnet = subnet.Masked()
	services, err := netip.ParsePrefix(c.opts.ServiceCIDR)
	if err != nil || !services.Addr().Is4() {
		return fmt.Errorf("service CIDR %q: want an IPv4 CIDR", c.opts.ServiceCIDR)
	}
	services = services.Masked()
	if subnet.Overlaps(services) {
		return fmt.Errorf("subnet %s overlaps service CIDR %s", subnet, services)
	}

	c.node.subnet, c.node.gateway = subnet, subnet.Addr().Next()
	sweepStaleNodes(c.opts.Dir, c.opts.Bridge)

	for _, p := range []netip.Prefix{subnet, services} {
		if err := checkNoRouteOverlaps(p); err != nil {
			return err
		}
	}

	st := nodeState{Bridge: c.opts.Bridge, Subnet: subnet.String(), Sysctls: map[string]string{}}
	for _, p := range fixedPaths() {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			st.Created = append(st.Created, p)
		}
	}
	for _, s := range watchedSysctls() {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", s)); err == nil {
			st.Sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	st.Cgroups = cgroupHierarchies()
	c.node.state = st
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path("node-state.json"), b, 0o644); err != nil {
		return err
	}
	if err := c.startReaper(); err != nil {
		return err
	}

	br := c.opts.Bridge
	gw := c.node.gateway.String() + "/" + strconv.Itoa(subnet.Bits())
	for _, args := range [][]string{
		{"link", "add", "name", br, "type", "bridge"},
		{"addr", "add", gw, "dev", br},
		{"link", "set", br, "up"},
	} {
		if _, err := runCmd(ctx, "ip", args...); err != nil {
			return err
		}
	}
	c.hostIP = c.node.gateway.String()
	return nil
}

// acquireNodeLock waits (bounded by ctx) for the machine-wide node lock,
// calling waiting once if it has to wait. flock is released by the kernel
// when the holder dies.
func acquireNodeLock(ctx context.Context, path string, waiting func()) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Join(fmt.Errorf("%s: lock: %w", path, err), f.Close())
		}
		if first && waiting != nil {
			waiting()
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("%s: waiting for another node-mode test cluster to stop: %w", path, ctx.Err()), f.Close())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *node) unlock() error {
	err := releaseLock(n.lock)
	n.lock = nil
	return err
}

// releaseLock unlocks and closes the lock file f (nil: nothing to do). The
// unlock's own error is not returned: closing the last descriptor releases
// the flock as well, so only Close's error says the lock may still be held.
func releaseLock(f *os.File) error {
	if f == nil {
		return nil
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

// checkNoRouteOverlaps fails if p overlaps a route (other than a default
// route) or an address of the machine: the test network must be new.
func checkNoRouteOverlaps(p netip.Prefix) error {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err1 := hexIPv4(f[1])
		mask, err2 := hexIPv4(f[7])
		if err1 != nil || err2 != nil {
			continue
		}
		bits, _ := net.IPMask(mask.AsSlice()).Size()
		if bits == 0 {
			continue // default route
		}
		route := netip.PrefixFrom(dst, bits)
		if route.Overlaps(p) {
			return fmt.Errorf("test network %s overlaps the route to %s via %s: choose another Options.Subnet/ServiceCIDR", p, route, f[0])
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && p.Contains(ip) {
				return fmt.Errorf("test network %s contains the machine's address %s: choose another Options.Subnet/ServiceCIDR", p, ip)
			}
		}
	}
	return nil
}

// hexIPv4 parses /proc/net/route's little-endian hex addresses.
func hexIPv4(s string) (netip.Addr, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}), nil
}

// cgroupHierarchies lists the mounted cgroup v1 hierarchies.
func cgroupHierarchies() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, " - ", 2)
		if len(parts) != 2 {
			continue
		}
		pre, post := strings.Fields(parts[0]), strings.Fields(parts[1])
		if len(pre) >= 5 && len(post) >= 1 && (post[0] == "cgroup" || post[0] == "cgroup2") {
			out = append(out, pre[4])
		}
	}
	return out
}

// runCmd runs a short command and returns its combined output; the error
// carries the command line and output.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// startNode starts containerd, kubelet, kube-scheduler and kube-proxy and
// builds and imports the pause image. The control plane's processes have
// been started, not necessarily become ready.
func (c *Cluster) startNode(ctx context.Context) error {
	n := c.node
	name := c.opts.NodeName
	users := map[string]certRequest{
		"kubelet":        {cn: "system:node:" + name, orgs: []string{"system:nodes"}},
		"kube-proxy":     {cn: "system:kube-proxy"},
		"kube-scheduler": {cn: "system:kube-scheduler"},
	}
	for user, req := range users {
		kp, err := c.pki.clientCA.issue(req)
		if err != nil {
			return err
		}
		if err := writeKubeconfig(c.path(user+".kubeconfig"), c.apiURL, c.pki.serverCA.certPEM, kp); err != nil {
			return err
		}
	}

	n.containerd = c.path("containerd", "containerd.sock")
	// The pause image is built while containerd and the control plane start.
	go func() { n.pauseDone <- c.buildPauseImage(ctx) }()

	if err := c.writeCNIConfig(); err != nil {
		return err
	}
	if err := c.startContainerd(ctx); err != nil {
		return err
	}

	if _, err := c.startProcess("kube-scheduler", c.bins["kube-scheduler"], []string{
		"--kubeconfig=" + c.path("kube-scheduler.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0",
		"--profiling=false",
		"--v=" + strconv.Itoa(c.opts.Verbosity),
	}, nil); err != nil {
		return err
	}

	proxyConfig, err := c.writeKubeProxyConfig()
	if err != nil {
		return err
	}
	if _, err := c.startProcess("kube-proxy", c.bins["kube-proxy"], []string{
		"--config=" + proxyConfig,
		"--v=" + strconv.Itoa(c.opts.Verbosity),
	}, nil); err != nil {
		return err
	}

	kubeletConfig, err := c.writeKubeletConfig()
	if err != nil {
		return err
	}
	if _, err := c.startProcess("kubelet", c.bins["kubelet"], []string{
		"--config=" + kubeletConfig,
		"--kubeconfig=" + c.path("kubelet.kubeconfig"),
		"--root-dir=" + c.path("kubelet"),
		"--hostname-override=" + name,
		"--node-ip=" + n.gateway.String(),
		"--v=" + strconv.Itoa(c.opts.Verbosity),
	}, nil); err != nil {
		return err
	}
	return nil
}

func (c *Cluster) writeCNIConfig() error {
	dir := c.path("cni", "net.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	n := c.node
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       cniNetwork,
		"plugins": []any{map[string]any{
			"type":   "bridge",
			"bridge": c.opts.Bridge,
			// The harness gave the bridge its address; the plugin must not
			// make the host a router (isGateway would enable ip_forward) nor
			// masquerade: Pods only talk to the host and to each other.
			"isGateway":   false,
			"ipMasq":      false,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"dataDir": c.path("cni", "ipam"),
				"ranges": []any{[]any{map[string]any{
					"subnet":     n.subnet.String(),
					"rangeStart": n.gateway.Next().String(),
					"gateway":    n.gateway.String(),
				}}},
				"routes": []any{map[string]any{"dst": "0.0.0.0/0", "gw": n.gateway.String()}},
			},
		}},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "10-gitsync.conflist"), b, 0o644)
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	root := c.path("containerd")
	if err := os.MkdirAll(root, 0o711); err != nil {
		return err
	}
	sock := c.node.containerd
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  # This VM drops CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
    max_conf_num = 1
`, filepath.Join(root, "root"), filepath.Join(root, "state"), sock, sock+".ttrpc",
		filepath.Join(root, "opt"), PauseImage, filepath.Join(root, "runc"), c.path("cni", "net.d"))
	configPath := filepath.Join(root, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return err
	}
	if _, err := c.startProcess("containerd", bin, []string{"--config", configPath}, nil); err != nil {
		return err
	}
	err = c.poll(ctx, "containerd", 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return false, nil
		}
		if err := conn.Close(); err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return c.withLogs(err, "containerd")
	}
	close(c.node.containerdUp)
	return nil
}

// ctr runs ctr against the node's containerd in the CRI namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	return runCmd(ctx, "ctr", append([]string{"--address", c.node.containerd, "--namespace", "k8s.io"}, args...)...)
}

// buildPauseImage compiles ./pause statically and imports it as PauseImage.
func (c *Cluster) buildPauseImage(ctx context.Context) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	dir := c.path("pause")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "pause")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./tests/cluster/pause")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the pause image: %w: %s", err, out)
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	tarball := filepath.Join(dir, "pause.tar")
	if _, err := ociimage.WriteTarball(tarball, ociimage.Options{
		Files:      []ociimage.File{{Path: "/pause", Mode: 0o755, Content: content}},
		Entrypoint: []string{"/pause"},
		User:       "65535:65535",
		RepoTag:    PauseImage,
	}); err != nil {
		return fmt.Errorf("%s: %w", tarball, err)
	}
	select {
	case <-c.node.containerdUp:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.ImportImage(ctx, tarball)
}

// ImportImage imports an image tarball (docker-archive or OCI layout, as
// ociimage.WriteTarball writes) into the node's containerd, where Pods with
// imagePullPolicy Never or IfNotPresent find it by its tag. Node mode only.
func (c *Cluster) ImportImage(ctx context.Context, tarball string) error {
	if c.node == nil || c.node.containerd == "" {
		return fmt.Errorf("%s: importing images needs a node-mode cluster (Options.Node)", tarball)
	}
	if _, err := c.ctr(ctx, "images", "import", "--platform", "linux/amd64", tarball); err != nil {
		return fmt.Errorf("%s: import: %w", tarball, err)
	}
	return nil
}

func (c *Cluster) writeKubeletConfig() (string, error) {
	n := c.node
	port, err := freePort(n.gateway.String())
	if err != nil {
		return "", err
	}
	logs := c.path("pod-logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return "", err
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# kubelet 1.35+ refuses cgroup v1 unless told otherwise; this VM has only v1.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%[1]s
address: %[2]s
port: %[3]d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[4]s
authorization:
  mode: Webhook
podLogsDir: %[5]s
# No DNS for Pods: nothing may leave the machine.
resolvConf: ""
failSwapOn: false
serializeImagePulls: false
# A full-ish disk must not evict test Pods or delete imported images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 24h
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
evictionPressureTransitionPeriod: 5s
oomScoreAdj: 0
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
`, n.containerd, n.gateway, port, c.path("pki", "client-ca.crt"), logs)
	p := c.path("kubelet-config.yaml")
	return p, os.WriteFile(p, []byte(config), 0o644)
}

func (c *Cluster) writeKubeProxyConfig() (string, error) {
	n := c.node
	health, err := freePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	metrics, err := freePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	n.proxyHealth = "http://127.0.0.1:" + strconv.Itoa(health) + "/healthz"
	config := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %[1]s
hostnameOverride: %[2]s
bindAddress: %[3]s
healthzBindAddress: 127.0.0.1:%[4]d
metricsBindAddress: 127.0.0.1:%[5]d
mode: iptables
clusterCIDR: %[6]s
# NodePorts only on the bridge: nothing listens elsewhere, and no
# route_localnet is needed.
nodePortAddresses: [%[6]s]
iptables:
  localhostNodePorts: false
  syncPeriod: 30s
  minSyncPeriod: 0s
# Leave the machine's conntrack settings alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
oomScoreAdj: 0
`, c.path("kube-proxy.kubeconfig"), c.opts.NodeName, n.gateway, health, metrics, n.subnet)
	p := c.path("kube-proxy-config.yaml")
	return p, os.WriteFile(p, []byte(config), 0o644)
}

// waitNode waits until the node is Ready, kube-proxy has synced its rules and
// the pause image is imported.
func (c *Cluster) waitNode(ctx context.Context) error {
	n := c.node
	select {
	case err := <-n.pauseDone:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return fmt.Errorf("waiting for the pause image: %w", ctx.Err())
	}
	err := c.poll(ctx, "node "+c.opts.NodeName+" Ready", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		node, err := c.client.CoreV1().Nodes().Get(ctx, c.opts.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					return true, nil
				}
				return false, fmt.Errorf("node not ready: %s: %s", cond.Reason, cond.Message)
			}
		}
		return false, nil
	})
	if err != nil {
		return c.withLogs(err, "kubelet", "containerd")
	}
	err = c.poll(ctx, "kube-proxy healthz", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.proxyHealth, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %s", resp.Status)
	})
	if err != nil {
		return c.withLogs(err, "kube-proxy")
	}
	return nil
}
