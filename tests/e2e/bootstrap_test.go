package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestBootstrapEndToEnd bootstraps on a real node, with the real sync-job
// image: the first run is a Job; the CronJob's own schedule then applies an
// app committed under the path, and a schedule changed in Git reaches the
// CronJob; after the namespace gitsync lives in is deleted, bootstrap again
// brings everything back from Git.
func TestBootstrapEndToEnd(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{ListenIP: env.HostIP(), Username: "bot", Password: "s3cret"}, "fleet")
	ns := env.NewNamespace(t)
	bootstrap := []string{"bootstrap", "git", "--url", git.HTTPURL("fleet"), "--insecure", "--path", "clusters/e2e",
		"--username", "bot", "--password", "s3cret", "--name", "root", "--schedule", "* * * * *", "--image", syncJobImage}

	// 1. bootstrap: the first run is a Job on the node.
	out := mustGitsync(t, ns, bootstrap...)
	if !strings.Contains(out, "bootstrapped") {
		t.Fatalf("bootstrap output:\n%s", out)
	}

	// 2-3. A commit that adds an app under the path is applied by the
	// CronJob's own schedule.
	app := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: " + ns + "\ndata:\n  value: \"1\"\n"
	if _, err := repo.Commit(ctx, "an app", map[string]string{"clusters/e2e/app.yaml": app}); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, ns, "app", "1", 150*time.Second)
	if n := scheduledJobs(t, ns); n < 1 {
		t.Fatalf("the app appeared but no scheduled Job ran")
	}

	// 4. A commit that changes the root sync's schedule reaches the CronJob.
	file := "clusters/e2e/gitsync-system/gitsync.yaml"
	content, err := exec.Command("git", "-C", repo.Dir(), "show", "main:"+file).Output()
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.ReplaceAll(string(content), "'* * * * *'", "'*/2 * * * *'")
	if edited == string(content) {
		t.Fatalf("%s has no schedule '* * * * *':\n%s", file, content)
	}
	if _, err := repo.Commit(ctx, "every 2 minutes", map[string]string{file: edited}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	err = env.WaitFor(wctx, func(ctx context.Context) (bool, error) {
		cj, err := env.Client().BatchV1().CronJobs(ns).Get(ctx, "gitsync-root", metav1.GetOptions{})
		return err == nil && cj.Spec.Schedule == "*/2 * * * *", err
	})
	if err != nil {
		t.Fatalf("the schedule committed to Git never reached the CronJob: %v", err)
	}

	// 5. Delete the namespace gitsync lives in; bootstrap again brings
	// everything back from Git.
	if err := env.Client().CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithTimeout(ctx, 120*time.Second)
	defer gcancel()
	if err := env.WaitFor(gctx, func(ctx context.Context) (bool, error) {
		_, err := env.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("namespace %s not gone: %v", ns, err)
	}
	// With the flags that match what Git holds, bootstrap commits nothing:
	// the cluster comes back from Git alone.
	again := append(bootstrap[:len(bootstrap)-4:len(bootstrap)-4], "--schedule", "*/2 * * * *", "--image", syncJobImage)
	out = mustGitsync(t, ns, again...)
	if !strings.Contains(out, "Git unchanged") || !strings.Contains(out, "bootstrapped") {
		t.Fatalf("second bootstrap output:\n%s", out)
	}
	waitForValue(t, ns, "app", "1", 10*time.Second)
	cj, err := env.Client().BatchV1().CronJobs(ns).Get(ctx, "gitsync-root", metav1.GetOptions{})
	if err != nil || cj.Spec.Schedule != "*/2 * * * *" {
		t.Errorf("CronJob after recovery: %v %+v", err, cj)
	}
}
