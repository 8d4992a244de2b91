package install

import "fmt"

// ClusterNamespace is where `install --rbac=cluster` puts a sync unless a
// namespace is given explicitly. A cluster-mode sync's ServiceAccount is
// cluster-admin, and whoever can write its spec ConfigMap or CronJob, or
// create Pods in its namespace, acts with its rights: it belongs in a
// namespace only cluster administrators write, never in a tenant's.
const ClusterNamespace = "gitsync-system"

// ClusterModeWarning returns the warning install prints for a sync of mode
// in namespace, or "" when there is none to give: a cluster-mode sync
// outside ClusterNamespace is reachable by everyone with write rights in
// that namespace.
func ClusterModeWarning(mode RBACMode, namespace string) string {
	if mode != RBACCluster || namespace == ClusterNamespace {
		return ""
	}
	return fmt.Sprintf("warning: a cluster-mode sync is cluster-admin, and its spec, CronJob and ServiceAccount are in namespace %s: "+
		"anyone who can write ConfigMaps or CronJobs, or create Pods, there can act as cluster-admin through it. "+
		"Keep such syncs in %s (the default without -n), where only cluster administrators write.", namespace, ClusterNamespace)
}
