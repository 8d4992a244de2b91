package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// TestImageUpdateOnTheNode closes issue 14's loop on a real node: a new
// tag pushed to the registry is committed to Git by the next scheduled
// run of the real sync-job image (the CronJob's own Job, reaching the
// registry and the Git server over the node's bridge), and the same run
// applies that commit: the Deployment rolls out the new image and its Pod
// runs it.
func TestImageUpdateOnTheNode(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{ListenIP: env.HostIP()}, "app")
	reg, err := helmrepo.StartRegistry(ctx, helmrepo.RegistryOptions{PlainHTTP: true, ListenIP: env.HostIP()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	image := reg.Host() + "/team/app"
	// The node runs what the registry names: both tags are imported into
	// containerd (imagePullPolicy Never), while the registry holds the tag
	// list the policy reads.
	for _, tag := range []string{"1.0.0", "1.1.0"} {
		if err := env.BuildImage(ctx, "./tests/cluster/pause", image+":"+tag); err != nil {
			t.Fatal(err)
		}
	}
	digest, err := reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	if _, err := repo.Commit(ctx, "app", map[string]string{"deploy/app.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: %s:1.0.0 # {"$imagepolicy": "%s:app"}
          imagePullPolicy: Never
`, image, ns)}); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: images, namespace: %s}
spec:
  schedule: "* * * * *"
  source:
    git:
      url: %s
      insecure: true
      ref: {branch: main}
  path: ./deploy
  imageUpdate:
    path: ./deploy
    policies:
    - name: app
      imageRepository: {image: %s, insecure: true}
      policy: {semver: {range: ">=1.0.0"}}
    git:
      commit:
        author: {name: gitsync, email: gitsync@example.com}
`, ns, git.HTTPURL("app"), image)
	mustGitsync(t, ns, "install", "-f", writeFile(t, doc), "--image", syncJobImage)

	// The first scheduled run applies 1.0.0: nothing newer, no commit.
	waitRolledOut(t, ns, image+":1.0.0", 150*time.Second)
	head, err := repo.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A new tag: the next scheduled run commits it and rolls it out.
	if err := reg.Tag("team/app", digest, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	pushed := time.Now()
	waitRolledOut(t, ns, image+":1.1.0", 150*time.Second)
	t.Logf("tag pushed to Deployment rolled out: %v", time.Since(pushed).Round(time.Second))
	now, err := repo.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now == head {
		t.Fatal("the Deployment rolled to 1.1.0 without a commit")
	}
	msg, err := exec.CommandContext(ctx, "git", "-C", repo.Dir(), "log", "-1", "--format=%an%n%B", now).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "deploy/app.yaml:14: " + image + ":1.0.0 -> " + image + ":1.1.0 (" + ns + ":app)"; !strings.Contains(string(msg), want) ||
		!strings.HasPrefix(string(msg), "gitsync\n") {
		t.Errorf("commit %s: message %q, want author gitsync and %q", now, msg, want)
	}
	st := &inventory.Store{Client: env.Client(), Namespace: ns, Sync: "images"}
	inv, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(inv.Record.LastAppliedRevision, "sha1:"+now) {
		t.Errorf("the run applied %s, not the commit it pushed %s", inv.Record.LastAppliedRevision, now)
	}
	if n := scheduledJobs(t, ns); n < 2 {
		t.Errorf("%d scheduled Jobs ran, want the CronJob's own runs (2 or more)", n)
	}
	out := mustGitsync(t, ns, "images", "images")
	if !strings.Contains(out, ns+":app") || !strings.Contains(out, "1.1.0") || !strings.Contains(out, "deploy/app.yaml:14") {
		t.Errorf("images does not show the policy, its latest tag and its marker:\n%s", out)
	}
}

// waitRolledOut waits until Deployment app runs image: its template says
// so and the rollout is complete, with an available Pod running it.
func waitRolledOut(t *testing.T, ns, image string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var last *appsv1.Deployment
	err := env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		d, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		st := d.Status
		return d.Spec.Template.Spec.Containers[0].Image == image && st.ObservedGeneration >= d.Generation &&
			st.UpdatedReplicas == 1 && st.AvailableReplicas == 1 && st.Replicas == 1, nil
	})
	if err != nil {
		state := "no Deployment"
		if last != nil {
			state = fmt.Sprintf("image %s, status %+v", last.Spec.Template.Spec.Containers[0].Image, last.Status)
		}
		t.Fatalf("Deployment app never rolled out %s: %v (%s)\n%s", image, err, state, events(t, ns))
	}
	pods, err := env.Client().CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=app"})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == "Running" && p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == image {
			running++
		}
	}
	if running != 1 {
		t.Errorf("%d running Pods of %s, want 1", running, image)
	}
}
