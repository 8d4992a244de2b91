package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/gitsync/gitsync/pkg/object"
)

// resourceType is one API resource as a rendered set uses it.
type resourceType struct {
	group, version, resource, kind string
	namespaced                     bool
	weight                         int
}

// realisticTypes is the mix of a large multi-team repository: mostly
// configuration and workloads, some RBAC, a few cluster-scoped kinds.
var realisticTypes = []resourceType{
	{"", "v1", "configmaps", "ConfigMap", true, 20},
	{"", "v1", "secrets", "Secret", true, 8},
	{"", "v1", "services", "Service", true, 12},
	{"", "v1", "serviceaccounts", "ServiceAccount", true, 8},
	{"apps", "v1", "deployments", "Deployment", true, 12},
	{"apps", "v1", "statefulsets", "StatefulSet", true, 2},
	{"batch", "v1", "cronjobs", "CronJob", true, 2},
	{"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, 5},
	{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, 5},
	{"networking.k8s.io", "v1", "ingresses", "Ingress", true, 4},
	{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, 5},
	{"rbac.authorization.k8s.io", "v1", "roles", "Role", true, 4},
	{"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, 5},
	{"monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", true, 3},
	{"cert-manager.io", "v1", "certificates", "Certificate", true, 2},
	{"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, 1},
	{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, 1},
	{"", "v1", "namespaces", "Namespace", false, 1},
}

var words = []string{
	"api", "web", "worker", "checkout", "payments", "orders", "inventory", "search", "auth", "gateway",
	"billing", "catalog", "cart", "notifications", "reports", "ingest", "metrics", "frontend", "backend",
	"cache", "queue", "scheduler", "profile", "shipping", "pricing", "recommendations", "media", "export",
}

// realisticEntries returns n distinct entries shaped like the render of a
// large multi-team repository: 300 namespaces, each running apps that
// consist of the usual objects sharing the app's name (Deployment, Service,
// ServiceAccount, autoscaler, disruption budget, a ConfigMap and Secret with
// kustomize generator hash suffixes, ...), plus some cluster-scoped RBAC and
// Namespaces. Every entry has a 16-hex-digit fingerprint (64 bits of a
// sha256, as random as any digest): fingerprints are the incompressible part.
func realisticEntries(n int, seed uint64) []Entry {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const hashAlphabet = "bcdfghjkmnpqrstvwxz2456789"
	genHash := func() string {
		b := make([]byte, 10)
		for i := range b {
			b[i] = hashAlphabet[rng.IntN(len(hashAlphabet))]
		}
		return string(b)
	}
	namespaces := make([]string, 300)
	for i := range namespaces {
		namespaces[i] = fmt.Sprintf("%s-%s-%d", words[rng.IntN(len(words))], []string{"prod", "staging", "dev"}[rng.IntN(3)], i)
	}
	seen := map[object.ID]bool{}
	out := make([]Entry, 0, n)
	add := func(t resourceType, ns, name string) {
		if len(out) == n {
			return
		}
		if !t.namespaced {
			ns = ""
		}
		id := object.ID{Group: t.group, Kind: t.kind, Namespace: ns, Name: name}
		if seen[id] {
			return
		}
		seen[id] = true
		sum := sha256.Sum256(fmt.Appendf(nil, "%s %d", id, rng.Uint64()))
		out = append(out, Entry{
			ID:          id,
			Version:     t.version,
			Resource:    t.resource,
			Namespaced:  t.namespaced,
			Fingerprint: hex.EncodeToString(sum[:8]),
		})
	}
	for len(out) < n {
		ns := namespaces[rng.IntN(len(namespaces))]
		app := fmt.Sprintf("%s-%s", words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		if rng.IntN(3) == 0 {
			app += fmt.Sprintf("-%d", rng.IntN(20))
		}
		for _, t := range realisticTypes {
			// Each kind appears in a share of the apps given by its weight.
			if rng.IntN(20) >= t.weight {
				continue
			}
			switch t.kind {
			case "ConfigMap", "Secret":
				add(t, ns, app+"-"+genHash())
			case "ClusterRole", "ClusterRoleBinding":
				add(t, ns, ns+":"+app)
			case "Namespace":
				add(t, ns, ns)
			default:
				add(t, ns, app)
			}
		}
	}
	return out
}
