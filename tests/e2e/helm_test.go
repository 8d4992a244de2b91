package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

var imageOnce sync.Once

// syncJobImageBuilt builds and imports the sync-job image once per test
// binary.
func syncJobImageBuilt(t *testing.T) {
	t.Helper()
	var err error
	imageOnce.Do(func() { err = env.BuildImage(t.Context(), "./cmd/sync-job", syncJobImage) })
	if err != nil {
		t.Fatal(err)
	}
}

// TestHelmHooksRunOnTheNode installs a chart whose pre-install hooks are
// Jobs: they must run to completion on the node, by weight, before the
// chart's objects are applied; a hook-succeeded hook is deleted after.
func TestHelmHooksRunOnTheNode(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	repo, err := helmrepo.StartRepo(helmrepo.RepoOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := repo.Close(); err != nil {
			t.Errorf("repo.Close: %v", err)
		}
	})
	job := func(name, weight, policy string) string {
		ann := fmt.Sprintf("    helm.sh/hook: pre-install\n    helm.sh/hook-weight: %q\n", weight)
		if policy != "" {
			ann += "    helm.sh/hook-delete-policy: " + policy + "\n"
		}
		return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  annotations:
%sspec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: hook
        image: %s
        imagePullPolicy: Never
        args: [version]
`, name, ann, syncJobImage)
	}
	if _, err := repo.Publish(helmrepo.Chart{Name: "hooked", Version: "1.0.0", Templates: map[string]string{
		"config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hooked\ndata:\n  value: \"1\"\n",
		"first.yaml":  job("migrate-first", "-1", ""),
		"second.yaml": job("migrate-second", "5", "hook-succeeded"),
	}}); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "charts", Namespace: ns},
		StringData: map[string]string{"username": "u", "password": "p", "ca.crt": string(repo.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: hooked, namespace: %s}\nspec:\n  source:\n    helm:\n      url: %s\n      chart: hooked\n      secretRef: {name: charts}\n", ns, repo.URL())
	mustGitsync(t, ns, "install", "-f", writeFile(t, doc), "--image", syncJobImage)
	out := mustGitsync(t, ns, "run", "hooked", "--local")
	if !strings.Contains(out, "Succeeded") {
		t.Fatalf("run output:\n%s", out)
	}
	first, err := env.Client().BatchV1().Jobs(ns).Get(ctx, "migrate-first", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("first hook Job: %v", err)
	}
	if first.Status.Succeeded != 1 || first.Status.CompletionTime == nil {
		t.Fatalf("first hook Job did not complete: %+v", first.Status)
	}
	if _, err := env.Client().BatchV1().Jobs(ns).Get(ctx, "migrate-second", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("hook-succeeded Job not deleted: %v", err)
	}
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "hooked", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.CreationTimestamp.Before(first.Status.CompletionTime) {
		t.Errorf("chart object created at %s, before the pre-install hook completed at %s", cm.CreationTimestamp, first.Status.CompletionTime)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/sync.yaml"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHelmTestsRunOnTheNode installs a chart directory of a Git repository with two tests (Pods of the
// sync-job image: one that exits 0, one that fails) and spec.helm.test,
// and runs the sync's CronJob: both tests run on the node, in weight order,
// under the sync's own namespace-mode RBAC; the failed one fails the run,
// naming it, and the chart's objects stay applied.
func TestHelmTestsRunOnTheNode(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{ListenIP: env.HostIP()}, "app")
	pod := func(name, weight, arg string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  annotations:
    helm.sh/hook: test
    helm.sh/hook-weight: %q
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: %s
    imagePullPolicy: Never
    args: [%s]
`, name, weight, syncJobImage, arg)
	}
	if _, err := repo.Commit(ctx, "a chart with tests", map[string]string{
		"chart/Chart.yaml":                "apiVersion: v2\nname: tested\nversion: 1.0.0\n",
		"chart/templates/config.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tested\ndata:\n  value: \"1\"\n",
		"chart/templates/tests/pass.yaml": pod("tested-passes", "-1", "version"),
		"chart/templates/tests/fail.yaml": pod("tested-fails", "1", "--no-such-flag"),
	}); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tested, namespace: %s}\nspec:\n  source:\n    git: {url: %s, insecure: true, ref: {branch: main}}\n  path: ./chart\n  schedule: 0 0 1 1 *\n  helm:\n    test: {enable: true, timeout: 3m}\n", ns, git.HTTPURL("app"))
	mustGitsync(t, ns, "install", "-f", writeFile(t, doc), "--image", syncJobImage)
	out, code := kubectlGitsync(t, ns, "run", "tested")
	if code == 0 || !strings.Contains(out, "test hook Pod/"+ns+"/tested-fails") {
		t.Fatalf("run with a failing test: exit %d\n%s", code, out)
	}
	passed, err := env.Client().CoreV1().Pods(ns).Get(ctx, "tested-passes", metav1.GetOptions{})
	if err != nil || passed.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("test tested-passes: %v %v", passed.Status.Phase, err)
	}
	failed, err := env.Client().CoreV1().Pods(ns).Get(ctx, "tested-fails", metav1.GetOptions{})
	if err != nil || failed.Status.Phase != corev1.PodFailed {
		t.Fatalf("test tested-fails: %v %v", failed.Status.Phase, err)
	}
	if failed.CreationTimestamp.Before(&passed.CreationTimestamp) {
		t.Errorf("tested-fails (weight 1) created at %s, before tested-passes (weight -1) at %s", failed.CreationTimestamp, passed.CreationTimestamp)
	}
	if _, err := configMapValue(ctx, ns, "tested"); err != nil {
		t.Errorf("the chart's objects: %v", err)
	}
}
