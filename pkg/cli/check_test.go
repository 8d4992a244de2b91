package cli

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheck(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	ns, target := env.NewNamespace(t), env.NewNamespace(t)

	// A ServiceAccount with no rights, and a tenant: admin of ns only.
	for _, name := range []string{"nobody", "tenant"} {
		_, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err := c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: ns}},
	}, metav1.CreateOptions{})
	must(t, err)
	kubeconfig := func(sa string) string {
		cfg, err := env.ServiceAccountConfig(ctx, ns, sa)
		must(t, err)
		return kubeconfigFor(t, cfg, ns)
	}
	nobody, tenant := kubeconfig("nobody"), kubeconfig("tenant")

	tests := []struct {
		name       string
		args       []string
		code       int
		contains   []string
		notContain []string
	}{
		{name: "admin", args: []string{"check", "-n", ns, "--kubeconfig", env.KubeconfigPath()},
			contains: []string{
				"Cluster\n  ✔ API server reachable: v1.37.2\n",
				"  ✔ API batch/v1 cronjobs, jobs\n",
				"  ✔ API coordination.k8s.io/v1 leases\n",
				"  ✔ create, patch configmaps in namespace " + ns + "\n",
				"  ✔ create, patch clusterroles.rbac.authorization.k8s.io cluster-wide: needed for --rbac=cluster\n",
				"All required checks passed.\n",
			},
			notContain: []string{"✗"}},
		{name: "admin, cluster mode", args: []string{"check", "-n", ns, "--rbac", "cluster", "--kubeconfig", env.KubeconfigPath()},
			contains: []string{"  ✔ create, patch clusterrolebindings.rbac.authorization.k8s.io cluster-wide\n", "All required checks passed.\n"}},
		{name: "no rights", args: []string{"check", "--kubeconfig", nobody}, code: ExitFailed,
			contains: []string{
				"Permissions of system:serviceaccount:" + ns + ":nobody\n",
				"  ✔ API rbac.authorization.k8s.io/v1 roles, rolebindings, clusterroles, clusterrolebindings\n",
				"  ✗ create, patch configmaps in namespace " + ns + ": denied create, patch\n",
				"  ✗ create, patch cronjobs.batch in namespace " + ns + ": denied create, patch\n",
				"  ✗ create jobs.batch in namespace " + ns + ": denied create; needed for kubectl gitsync run (not required)\n",
				"5 required checks failed: a sync cannot be installed this way.\n",
			}},
		{name: "tenant in its namespace", args: []string{"check", "--kubeconfig", tenant},
			contains: []string{
				"  ✔ create, patch rolebindings.rbac.authorization.k8s.io in namespace " + ns + "\n",
				"  ✗ create, patch clusterroles.rbac.authorization.k8s.io cluster-wide: denied create, patch; needed for --rbac=cluster (not required)\n",
				"All required checks passed.\n",
			}},
		{name: "tenant, another target namespace", args: []string{"check", "--target-namespace", target, "--kubeconfig", tenant}, code: ExitFailed,
			contains: []string{
				"  ✗ create, patch roles.rbac.authorization.k8s.io in namespace " + target + ": denied create, patch\n",
				"2 required checks failed",
			}},
		{name: "tenant, cluster mode", args: []string{"check", "--rbac", "cluster", "--kubeconfig", tenant}, code: ExitFailed,
			contains: []string{
				"  ✗ create, patch clusterroles.rbac.authorization.k8s.io cluster-wide: denied create, patch; needed for --rbac=cluster\n",
				// Without -n, cluster mode goes into gitsync-system, where the tenant has no rights either.
				"  ✗ create, patch configmaps in namespace gitsync-system: denied create, patch\n",
				"7 required checks failed",
			}},
		{name: "bad flag", args: []string{"check", "--rbac", "everything", "--kubeconfig", tenant}, code: ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Grants take a moment to reach the authorizer's cache.
			var out string
			var err error
			for range 20 {
				out, _, err = gitsyncCLI(ctx, tt.args...)
				if ExitCode(err) == tt.code {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			wantExit(t, err, tt.code, "")
			for _, want := range tt.contains {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			// Warnings about other tests' syncs in the shared control plane
			// end in "(not required)"; only required checks count here.
			var required []string
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasSuffix(line, "(not required)") {
					required = append(required, line)
				}
			}
			for _, bad := range tt.notContain {
				if strings.Contains(strings.Join(required, "\n"), bad) {
					t.Errorf("output contains %q:\n%s", bad, out)
				}
			}
		})
	}
}
