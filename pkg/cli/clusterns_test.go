package cli

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/install"
)

// TestInstallClusterModeNamespace: --rbac=cluster without -n installs into
// gitsync-system, creating it, out of tenants' reach; with -n elsewhere it
// installs there and warns who thereby becomes cluster-admin.
func TestInstallClusterModeNamespace(t *testing.T) {
	ctx := t.Context()
	args := func(name string, extra ...string) []string {
		return append([]string{"install", name, "--rbac", "cluster", "--kubeconfig", env.KubeconfigPath(),
			"--url", "https://git.example.com/infra.git", "--image", testImage, "--suspend"}, extra...)
	}
	uninstall := func(name, ns string) {
		t.Cleanup(func() {
			if out, err := runCLI(context.Background(), "", "uninstall", name, "-n", ns, "--kubeconfig", env.KubeconfigPath()); err != nil {
				t.Errorf("uninstall %s/%s: %v\n%s", ns, name, err, out)
			}
		})
	}

	out, err := runCLI(ctx, "", args("infra")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	uninstall("infra", install.ClusterNamespace)
	t.Log(out)
	for _, want := range []string{"Namespace/" + install.ClusterNamespace + " created", "sync " + install.ClusterNamespace + "/infra installed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warning") {
		t.Errorf("a warning for a cluster-mode sync in %s:\n%s", install.ClusterNamespace, out)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(install.ClusterNamespace).Get(ctx, "gitsync-infra", metav1.GetOptions{}); err != nil {
		t.Errorf("spec not in %s: %v", install.ClusterNamespace, err)
	}
	// Installing again finds the namespace.
	if out, err := runCLI(ctx, "", args("infra")...); err != nil || strings.Contains(out, "Namespace/") {
		t.Errorf("second install: %v\n%s", err, out)
	}

	ns := env.NewNamespace(t)
	out, err = runCLI(ctx, "", args("infra", "-n", ns)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	uninstall("infra", ns)
	t.Log(out)
	if !strings.Contains(out, "warning: a cluster-mode sync is cluster-admin") || !strings.Contains(out, "namespace "+ns) {
		t.Errorf("no warning for a cluster-mode sync in %s:\n%s", ns, out)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-infra", metav1.GetOptions{}); err != nil {
		t.Errorf("spec not in %s (given with -n): %v", ns, err)
	}
}

// TestCheckClusterModeSyncs: check warns about a cluster-mode sync outside
// gitsync-system and names the RoleBinding that lets a developer write in
// its namespace, without failing.
func TestCheckClusterModeSyncs(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	out, err := runCLI(ctx, "", "install", "infra", "-n", ns, "--rbac", "cluster", "--kubeconfig", env.KubeconfigPath(),
		"--url", "https://git.example.com/infra.git", "--image", testImage, "--suspend")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = runCLI(context.Background(), "", "uninstall", "infra", "-n", ns, "--kubeconfig", env.KubeconfigPath())
	})
	_, err = env.Client().RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-edit"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dev"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = gitsyncCLI(ctx, "check", "-n", ns, "--kubeconfig", env.KubeconfigPath())
	wantExit(t, err, 0, "")
	t.Log(out)
	for _, want := range []string{
		"Cluster-mode syncs (warnings)\n",
		"  ✗ cluster-mode sync " + ns + "/infra in gitsync-system: it is in namespace " + ns,
		"  ✗ only cluster administrators write in namespace " + ns + ": RoleBinding dev-edit (ClusterRole edit) lets User dev write configmaps, cronjobs.batch",
		"All required checks passed.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "RoleBinding gitsync") {
		t.Errorf("gitsync's own bindings are reported:\n%s", out)
	}
}

// TestSyncAccountCannotRewriteItsInstall: what RBAC does promise for a
// namespace-mode sync applying to another namespace: its ServiceAccount,
// impersonated against the real API server, may read its spec but not
// change its CronJob, ServiceAccount, Role or RoleBinding, nor bind roles
// in its namespace. (ConfigMaps, its spec among them, stay writable: its
// inventory and history need that, and RBAC cannot except one name; the
// run's refusal of gitsync's objects covers the spec, docs/security.md.)
func TestSyncAccountCannotRewriteItsInstall(t *testing.T) {
	ctx := t.Context()
	ns, target := env.NewNamespace(t), env.NewNamespace(t)
	out, err := runCLI(ctx, "", "install", "web", "-n", ns, "--target-namespace", target, "--kubeconfig", env.KubeconfigPath(),
		"--url", "https://git.example.com/web.git", "--image", testImage, "--suspend")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cfg, err := env.ServiceAccountConfig(ctx, ns, "gitsync-web")
	must(t, err)
	sa := kubernetes.NewForConfigOrDie(cfg)
	waitAllowed(t, "read its own spec", func() error {
		_, err := sa.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
		return err
	})
	admin := env.Client()
	cj, err := admin.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	role, err := admin.RbacV1().Roles(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	binding, err := admin.RbacV1().RoleBindings(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	account, err := admin.CoreV1().ServiceAccounts(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "evil.example.com/sync-job"
	for what, try := range map[string]func() error{
		"update its CronJob": func() error {
			_, err := sa.BatchV1().CronJobs(ns).Update(ctx, cj, metav1.UpdateOptions{})
			return err
		},
		"update its Role": func() error {
			_, err := sa.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{})
			return err
		},
		"update its RoleBinding": func() error {
			_, err := sa.RbacV1().RoleBindings(ns).Update(ctx, binding, metav1.UpdateOptions{})
			return err
		},
		"update its ServiceAccount": func() error {
			_, err := sa.CoreV1().ServiceAccounts(ns).Update(ctx, account, metav1.UpdateOptions{})
			return err
		},
		"bind a role in its namespace": func() error {
			_, err := sa.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "more"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "gitsync-web", Namespace: ns}},
			}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := try(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
}
