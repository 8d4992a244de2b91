// Package cluster starts a real, throwaway Kubernetes for tests: etcd,
// kube-apiserver and kube-controller-manager built from the k8s.io/kubernetes
// module pinned in tests/testbin (control-plane mode), and optionally a node
// that really runs Pods: kube-scheduler, containerd with runc, a CNI bridge,
// kubelet and kube-proxy (node mode).
//
// One cluster serves a whole test binary; tests isolate themselves with
// NewNamespace. Typical use:
//
//	var env *cluster.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Run(m, cluster.Options{}, &env)) }
//
// Everything the cluster makes lives in one temporary directory, except what
// node mode must put elsewhere (a Linux bridge, iptables chains, cgroups, a few
// fixed paths of kubelet and containerd); Stop removes all of it. Children are
// started in their own process groups with a parent-death signal, so a test
// binary that dies does not leave servers behind, and a later Start sweeps what
// a crashed run could not remove.
//
// The binaries come from GITSYNC_TESTBIN, or else from
// <repo>/.cache/testbin/<kubernetes version>, which `make testbin` fills.
package cluster
