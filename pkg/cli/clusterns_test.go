package cli

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
