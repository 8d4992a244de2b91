package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Control-plane mode status: etcd and kube-apiserver start together (the
// apiserver retries etcd), kube-controller-manager as soon as /readyz is ok;
// the control plane is ready (default ServiceAccount exists) in about 4 s on a
// 2-core VM. cluster_test.go checks RBAC, apply, namespaces, controllers and
// a clean Stop against it.

// pki is everything startControlPlane generated, kept for the node.
type pki struct {
	serverCA, clientCA *authority
}

func (c *Cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.dir}, parts...)...)
}

// firstServiceIP returns the first usable address of cidr, which the
// apiserver gives to the kubernetes Service.
func firstServiceIP(cidr string) (net.IP, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	return net.IP(prefix.Masked().Addr().Next().AsSlice()), nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	serviceIP, err := firstServiceIP(c.opts.ServiceCIDR)
	if err != nil {
		return err
	}
	bind := net.ParseIP(c.opts.BindAddress)
	if bind == nil {
		return fmt.Errorf("bind address %q is not an IP address", c.opts.BindAddress)
	}

	pkiDir := c.path("pki")
	if err := os.Mkdir(pkiDir, 0o700); err != nil {
		return err
	}
	serverCA, err := newAuthority("gitsync-test-server-ca")
	if err != nil {
		return err
	}
	clientCA, err := newAuthority("gitsync-test-client-ca")
	if err != nil {
		return err
	}
	c.pki = &pki{serverCA: serverCA, clientCA: clientCA}
	serving, err := serverCA.issue(certRequest{
		cn:     "kube-apiserver",
		ips:    uniqueIPs(net.IPv4(127, 0, 0, 1), bind, serviceIP),
		dns:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		server: true,
	})
	if err != nil {
		return err
	}
	users := map[string]certRequest{
		"admin":                   {cn: "gitsync-test-admin", orgs: []string{"system:masters"}},
		"kube-controller-manager": {cn: "system:kube-controller-manager"},
		// The apiserver's identity towards kubelets (logs, exec).
		"kubelet-client": {cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
	}
	issued := map[string]keyPair{}
	for name, req := range users {
		kp, err := clientCA.issue(req)
		if err != nil {
			return err
		}
		issued[name] = kp
	}
	clientCAKey, err := clientCA.keyPEM()
	if err != nil {
		return err
	}
	saPriv, saPub, err := serviceAccountKey()
	if err != nil {
		return err
	}
	if err := writeFiles(pkiDir, map[string][]byte{
		"server-ca.crt":      serverCA.certPEM,
		"client-ca.crt":      clientCA.certPEM,
		"client-ca.key":      clientCAKey,
		"apiserver.crt":      serving.certPEM,
		"apiserver.key":      serving.keyPEM,
		"kubelet-client.crt": issued["kubelet-client"].certPEM,
		"kubelet-client.key": issued["kubelet-client"].keyPEM,
		"sa.key":             saPriv,
		"sa.pub":             saPub,
	}); err != nil {
		return err
	}

	etcdClient, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	etcdPeer, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	apiPort, err := freePort(c.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("bind address %s: %w", c.opts.BindAddress, err)
	}
	c.apiURL = "https://" + net.JoinHostPort(c.opts.BindAddress, strconv.Itoa(apiPort))

	c.kubeconfig = c.path("admin.kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, c.apiURL, serverCA.certPEM, issued["admin"]); err != nil {
		return err
	}
	if err := writeKubeconfig(c.path("kube-controller-manager.kubeconfig"), c.apiURL, serverCA.certPEM, issued["kube-controller-manager"]); err != nil {
		return err
	}
	if err := c.initClients(serverCA.certPEM, issued["admin"]); err != nil {
		return err
	}

	audit, err := c.auditArgs()
	if err != nil {
		return err
	}
	v := "--v=" + strconv.Itoa(c.opts.Verbosity)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if _, err := c.startProcess("etcd", c.bins["etcd"], []string{
		"--name=gitsync-test",
		"--data-dir=" + c.path("etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=gitsync-test=" + peerURL,
		// Test data is thrown away; fsync would only slow every write.
		"--unsafe-no-fsync",
		"--log-level=warn",
	}, nil); err != nil {
		return err
	}

	reconciler := "lease"
	if bind.IsLoopback() {
		// The kubernetes Service may not point at a loopback address; without
		// a node nobody needs it, and the reconciler would log errors.
		reconciler = "none"
	}
	if _, err := c.startProcess("kube-apiserver", c.bins["kube-apiserver"], append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + c.opts.BindAddress,
		"--advertise-address=" + c.opts.BindAddress,
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + c.path("apiserver"),
		"--tls-cert-file=" + filepath.Join(pkiDir, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pkiDir, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(pkiDir, "client-ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pkiDir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pkiDir, "sa.key"),
		"--service-cluster-ip-range=" + c.opts.ServiceCIDR,
		"--endpoint-reconciler-type=" + reconciler,
		"--kubelet-client-certificate=" + filepath.Join(pkiDir, "kubelet-client.crt"),
		"--kubelet-client-key=" + filepath.Join(pkiDir, "kubelet-client.key"),
		// The node registers no resolvable host name.
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--profiling=false",
		v,
	}, audit...), nil); err != nil {
		return err
	}

	return nil
}

func uniqueIPs(ips ...net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		dup := false
		for _, o := range out {
			if o.Equal(ip) {
				dup = true
			}
		}
		if !dup {
			out = append(out, ip)
		}
	}
	return out
}

// componentExited returns the early-exit error of the first started
// component that is no longer running.
func (c *Cluster) componentExited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.hasExited() {
			return p.exitError()
		}
	}
	return nil
}

// withLogs appends the end of the named components' logs to err, unless err
// is an early exit, which carries its own log.
func (c *Cluster) withLogs(err error, names ...string) error {
	var exited *exitError
	if errors.As(err, &exited) {
		return err
	}
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "\nend of %s's log:\n%s", name, tail(c.path("logs", name+".log"), 30))
	}
	return fmt.Errorf("%w%s", err, b.String())
}

// poll calls cond every interval until it returns true or an error, a
// component exits, or ctx is done. what names the wait in the error.
func (c *Cluster) poll(ctx context.Context, what string, interval time.Duration, cond func(ctx context.Context) (bool, error)) error {
	var last error
	for {
		if err := c.componentExited(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func (c *Cluster) waitControlPlane(ctx context.Context) error {
	err := c.poll(ctx, "kube-apiserver /readyz", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(reqCtx)
		if err != nil {
			return false, err
		}
		return string(body) == "ok", nil
	})
	if err != nil {
		return c.withLogs(err, "kube-apiserver")
	}
	if err := c.startControllerManager(); err != nil {
		return err
	}
	// Namespaces are useless to tests until the controller manager gives them
	// a ServiceAccount (and tokens can be signed).
	err = c.poll(ctx, "ServiceAccount default/default", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return c.withLogs(err, "kube-controller-manager")
	}
	return nil
}

// startControllerManager starts kube-controller-manager. Started before the
// apiserver is ready, it would wait for /healthz in steps of a second; started
// right after, it begins at once, which saves about a second.
func (c *Cluster) startControllerManager() error {
	if _, err := c.startProcess("kube-controller-manager", c.bins["kube-controller-manager"], []string{
		"--kubeconfig=" + c.path("kube-controller-manager.kubeconfig"),
		"--root-ca-file=" + c.path("pki", "server-ca.crt"),
		"--service-account-private-key-file=" + c.path("pki", "sa.key"),
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + c.path("pki", "client-ca.crt"),
		"--cluster-signing-key-file=" + c.path("pki", "client-ca.key"),
		"--leader-elect=false",
		// No serving port: nothing probes it, and it would need its own
		// certificates and delegated authentication.
		"--secure-port=0",
		"--controllers=" + strings.Join(c.opts.Controllers, ","),
		"--profiling=false",
		"--v=" + strconv.Itoa(c.opts.Verbosity),
	}, nil); err != nil {
		return err
	}
	return nil
}
