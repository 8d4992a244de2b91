package cli

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/install"
)

// TestJobGuard: what RBAC cannot promise for a namespace-mode sync that
// applies to its own namespace, the job guard (a ValidatingAdmissionPolicy
// install applies) does: the sync's ServiceAccount, impersonated against
// the real API server, may not update or delete its own spec, CronJob or
// Role, while it still writes its state and what its render holds. A sync
// that manages itself from Git (spec.manageGitsync) may write its own.
func TestJobGuard(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	out, err := runCLI(ctx, "", "install", "web", "-n", ns, "--kubeconfig", env.KubeconfigPath(),
		"--url", "https://git.example.com/web.git", "--image", testImage, "--suspend")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "job guard") {
		t.Fatalf("install as cluster admin did not put the guard in place:\n%s", out)
	}
	if _, err := env.Client().AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, install.GuardName, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(ctx, ns, "gitsync-web")
	must(t, err)
	sa := kubernetes.NewForConfigOrDie(cfg)
	admin := env.Client()
	spec, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	cj, err := admin.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	role, err := admin.RbacV1().Roles(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)

	// Dry runs: admission decides them as it would the real thing, and a
	// write let through before the policy took effect changes nothing.
	dryRun := metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}
	spec.Data["sync.yaml"] = strings.Replace(spec.Data["sync.yaml"], "git.example.com/web.git", "evil.example.com/x.git", 1)
	waitForbidden(t, "update its own spec", func() error {
		_, err := sa.CoreV1().ConfigMaps(ns).Update(ctx, spec, dryRun)
		return err
	})
	_, err = sa.CoreV1().ConfigMaps(ns).Update(ctx, spec, dryRun)
	if err == nil || !strings.Contains(err.Error(), "may not update configmaps gitsync-web") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "evil.example.com/sync-job"
	for what, try := range map[string]func() error{
		"delete its own spec": func() error {
			return sa.CoreV1().ConfigMaps(ns).Delete(ctx, "gitsync-web", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		},
		"update its own CronJob": func() error {
			_, err := sa.BatchV1().CronJobs(ns).Update(ctx, cj, dryRun)
			return err
		},
		"update its own Role": func() error {
			_, err := sa.RbacV1().Roles(ns).Update(ctx, role, dryRun)
			return err
		},
	} {
		if err := try(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
	// Its state and what its render holds stay writable.
	for _, name := range []string{"gitsync-web-inventory", "app-config"} {
		if _, err := sa.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Errorf("create ConfigMap %s: %v", name, err)
		}
	}

	// A sync that manages itself from Git writes its own spec.
	doc := "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: root, namespace: " + ns + "}\n" +
		"spec:\n  suspend: true\n  manageGitsync: true\n  source: {git: {url: https://git.example.com/fleet.git}}\n"
	if out, err := runCLI(ctx, doc, "install", "-f", "-", "--kubeconfig", env.KubeconfigPath(), "--image", testImage); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rootCfg, err := env.ServiceAccountConfig(ctx, ns, "gitsync-root")
	must(t, err)
	root := kubernetes.NewForConfigOrDie(rootCfg)
	waitAllowed(t, "a self-managed sync updates its own spec", func() error {
		cm, err := root.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-root", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["sync.yaml"] += "# from Git\n"
		_, err = root.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}
