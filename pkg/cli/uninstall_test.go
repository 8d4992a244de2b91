package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/lease"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// appliedLabels are the labels sync-job puts on what sync name of ns
// applies.
func appliedLabels(ns, name string) map[string]string {
	return map[string]string{
		inventory.LabelApplySetPartOf: inventory.ApplySetID(inventory.InventoryName(name), ns),
		inventory.LabelSync:           name,
		names.LabelSyncNamespace:      ns,
	}
}

// uninstallFixture installs sync web in a new namespace with the given RBAC
// mode, applies three ConfigMaps in target as its run would (one of them
// opted out of prune), lists them and one unlabelled ConfigMap in its
// inventory, and records history and a Lease. It returns the namespace.
func uninstallFixture(t *testing.T, target string, mode install.RBACMode) string {
	t.Helper()
	ctx, c := t.Context(), env.Client()
	ns := env.NewNamespace(t)
	labels := appliedLabels(ns, "web")
	var entries []inventory.Entry
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "app-config", Labels: labels}},
		{ObjectMeta: metav1.ObjectMeta{Name: "app-env", Labels: labels}},
		{ObjectMeta: metav1.ObjectMeta{Name: "app-keep", Labels: labels, Annotations: map[string]string{apply.AnnotationPrune: "disabled"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "app-foreign"}},
	} {
		cm.Name = ns[len(ns)-6:] + "-" + cm.Name // several fixtures share target
		_, err := c.CoreV1().ConfigMaps(target).Create(ctx, cm, metav1.CreateOptions{})
		must(t, err)
		entries = append(entries, entry("", "v1", "ConfigMap", "configmaps", target, cm.Name))
	}
	inventory.Sort(entries)
	rec := &inventory.Record{}
	rec.Succeed(inventory.Run{Revision: revWeb, Message: "applied 4 objects"})
	seedSync(t, ns, syncFixture{
		name: "web", url: "https://git.example.com/web.git", schedule: "0 4 * * *", suspend: true,
		target: target, rbac: mode, entries: entries, record: rec,
		history: []inventory.History{{Revision: revWebPrev, Result: inventory.ResultSucceeded}, {Revision: revWeb, Result: inventory.ResultSucceeded}},
	})
	// The Lease of a run that ended without releasing it: expired, so that
	// uninstall need not wait for it (TestUninstallStopsRuns covers a live
	// one).
	l := leaseNamed(lease.Name("web"))
	l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-2 * time.Minute)}
	_, err := c.CoordinationV1().Leases(ns).Create(ctx, l, metav1.CreateOptions{})
	must(t, err)
	return ns
}

// exists tells whether get finds its object, failing on other errors.
func exists(t *testing.T, what string, get func(ctx context.Context) error) bool {
	t.Helper()
	err := get(t.Context())
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return true
}

// syncObjects returns which of the objects install and sync-job make for
// sync web of ns still exist.
func syncObjects(t *testing.T, c kubernetes.Interface, ns, target string) map[string]bool {
	t.Helper()
	get := metav1.GetOptions{}
	applier := names.Applier(ns, "web")
	return map[string]bool{
		"CronJob": exists(t, "CronJob", func(ctx context.Context) error {
			_, err := c.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", get)
			return err
		}),
		"spec": exists(t, "spec", func(ctx context.Context) error {
			_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web", get)
			return err
		}),
		"inventory": exists(t, "inventory", func(ctx context.Context) error {
			_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web-inventory", get)
			return err
		}),
		"history 1": exists(t, "history", func(ctx context.Context) error {
			_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web-rev-1", get)
			return err
		}),
		"history 2": exists(t, "history", func(ctx context.Context) error {
			_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web-rev-2", get)
			return err
		}),
		"Lease": exists(t, "Lease", func(ctx context.Context) error {
			_, err := c.CoordinationV1().Leases(ns).Get(ctx, "gitsync-web", get)
			return err
		}),
		"ServiceAccount": exists(t, "SA", func(ctx context.Context) error {
			_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "gitsync-web", get)
			return err
		}),
		"own Role": exists(t, "Role", func(ctx context.Context) error {
			_, err := c.RbacV1().Roles(ns).Get(ctx, "gitsync-web", get)
			return err
		}),
		"own RoleBinding": exists(t, "RB", func(ctx context.Context) error {
			_, err := c.RbacV1().RoleBindings(ns).Get(ctx, "gitsync-web", get)
			return err
		}),
		"applier Role": exists(t, "Role", func(ctx context.Context) error { _, err := c.RbacV1().Roles(target).Get(ctx, applier, get); return err }),
		"applier binding": exists(t, "RB", func(ctx context.Context) error {
			_, err := c.RbacV1().RoleBindings(target).Get(ctx, applier, get)
			return err
		}),
		"ClusterRole": exists(t, "CR", func(ctx context.Context) error {
			_, err := c.RbacV1().ClusterRoles().Get(ctx, applier, get)
			return err
		}),
		"ClusterRoleBind.": exists(t, "CRB", func(ctx context.Context) error {
			_, err := c.RbacV1().ClusterRoleBindings().Get(ctx, applier, get)
			return err
		}),
	}
}

func TestUninstall(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	target := env.NewNamespace(t)
	applied := func(t *testing.T, ns string) map[string]bool {
		out := map[string]bool{}
		for _, n := range []string{"app-config", "app-env", "app-keep", "app-foreign"} {
			name := ns[len(ns)-6:] + "-" + n
			out[n] = exists(t, name, func(ctx context.Context) error {
				_, err := c.CoreV1().ConfigMaps(target).Get(ctx, name, metav1.GetOptions{})
				return err
			})
		}
		return out
	}

	t.Run("without --prune the applied objects stay", func(t *testing.T) {
		ns := uninstallFixture(t, target, install.RBACNamespace)
		// Another namespace's sync web, applying to the same target, is
		// not touched.
		bystander := uninstallFixture(t, target, install.RBACNamespace)
		before := syncObjects(t, c, bystander, target)

		out, errOut, err := gitsyncCLI(ctx, "uninstall", "web", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		for k, present := range syncObjects(t, c, ns, target) {
			if present {
				t.Errorf("%s still exists after uninstall", k)
			}
		}
		for k, present := range applied(t, ns) {
			if !present {
				t.Errorf("applied object %s deleted without --prune", k)
			}
		}
		if after := syncObjects(t, c, bystander, target); !equalMaps(before, after) {
			t.Errorf("the other namespace's sync changed: before %v, after %v", before, after)
		}
		for _, want := range []string{
			"CronJob.batch/" + ns + "/gitsync-web deleted\n",
			"ConfigMap/" + ns + "/gitsync-web deleted\n",
			"ConfigMap/" + ns + "/gitsync-web-inventory deleted\n",
			"ConfigMap/" + ns + "/gitsync-web-rev-2 deleted\n",
			"Lease.coordination.k8s.io/" + ns + "/gitsync-web deleted\n",
			"RoleBinding.rbac.authorization.k8s.io/" + target + "/gitsync:" + ns + ":web deleted\n",
			"Role.rbac.authorization.k8s.io/" + ns + "/gitsync-web deleted\n",
			"ServiceAccount/" + ns + "/gitsync-web deleted\n",
			"sync " + ns + "/web uninstalled; the 4 objects it applied were left in place (use --prune to delete them)\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Index(out, "RoleBinding.rbac.authorization.k8s.io/"+ns) > strings.Index(out, "Role.rbac.authorization.k8s.io/"+ns) {
			t.Errorf("Role deleted before its RoleBinding:\n%s", out)
		}

		_, _, err = gitsyncCLI(ctx, "uninstall", "web", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		wantExit(t, err, ExitError, "nothing to delete")
	})

	t.Run("--prune deletes what the sync applied, cluster mode", func(t *testing.T) {
		ns := uninstallFixture(t, target, install.RBACCluster)
		if got := syncObjects(t, c, ns, target); !got["ClusterRole"] || !got["ClusterRoleBind."] {
			t.Fatalf("fixture: %v", got)
		}
		out, errOut, err := gitsyncCLI(ctx, "uninstall", "web", "--prune", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		for k, present := range syncObjects(t, c, ns, target) {
			if present {
				t.Errorf("%s still exists after uninstall", k)
			}
		}
		want := map[string]bool{"app-config": false, "app-env": false, "app-keep": true, "app-foreign": true}
		if got := applied(t, ns); !equalMaps(want, got) {
			t.Errorf("applied objects present: %v, want %v\n%s", got, want, out)
		}
		prefix := "ConfigMap/" + target + "/" + ns[len(ns)-6:]
		for _, line := range []string{prefix + "-app-config deleted", prefix + "-app-keep kept", prefix + "-app-foreign kept",
			"ClusterRoleBinding.rbac.authorization.k8s.io/gitsync:" + ns + ":web deleted",
			"sync " + ns + "/web uninstalled, with what it applied"} {
			if !strings.Contains(out, line) {
				t.Errorf("output lacks %q:\n%s", line, out)
			}
		}
	})

	t.Run("an object named like ours but not labelled as ours stays", func(t *testing.T) {
		ns := env.NewNamespace(t)
		_, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web"}}, metav1.CreateOptions{})
		must(t, err)
		_, err = c.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "other",
			Labels: map[string]string{names.LabelSync: "web", names.LabelSyncNamespace: "elsewhere", install.LabelManagedBy: install.ManagedBy}}}, metav1.CreateOptions{})
		must(t, err)
		s := spec.New("web", ns)
		s.Spec.Source.Git = &spec.GitSource{URL: "https://git.example.com/web.git"}
		data, err := s.Marshal()
		must(t, err)
		_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web"},
			Data: map[string]string{spec.ConfigMapKey: string(data)}}, metav1.CreateOptions{})
		must(t, err)

		out, errOut, err := gitsyncCLI(ctx, "uninstall", "web", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		if !exists(t, "SA", func(ctx context.Context) error {
			_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
			return err
		}) {
			t.Error("unlabelled ServiceAccount gitsync-web deleted")
		}
		if !exists(t, "Role", func(ctx context.Context) error {
			_, err := c.RbacV1().Roles(ns).Get(ctx, "other", metav1.GetOptions{})
			return err
		}) {
			t.Error("Role of another namespace's sync deleted")
		}
		if !strings.Contains(errOut, "ServiceAccount/"+ns+"/gitsync-web kept: its label") {
			t.Errorf("stderr does not say why the ServiceAccount was kept: %q", errOut)
		}
		if !strings.Contains(out, "ConfigMap/"+ns+"/gitsync-web deleted") {
			t.Errorf("spec ConfigMap not deleted:\n%s", out)
		}
	})
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
