package syncrun

import (
	"bytes"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// fluxImages is a Flux tree with image automation, as Flux's image
// automation guide lays it out: the ImageRepository, ImagePolicy and
// ImageUpdateAutomation next to the Kustomization of the apps, all in the
// directory the sync renders (NS is the namespace, IMAGE the image).
func fluxImageFiles(repoExtra string) map[string]string {
	return map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/apps.yaml":                  kustomization("apps", "./apps", ""),
		"clusters/test/images.yaml": `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: NS}
spec:
  image: IMAGE
  interval: 5m
  secretRef: {name: regcred}
` + repoExtra + `---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: NS}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: ">=1.0.0"}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto, namespace: NS}
spec:
  interval: 30m
  sourceRef: {kind: GitRepository, name: NS}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: fluxbot, email: fluxbot@example.com}
      messageTemplate: "Automated image update by {{ .Values.bot }}\n{{ range .Changed.Changes }}- {{ .OldValue }} -> {{ .NewValue }}\n{{ end }}"
      messageTemplateValues: {bot: fluxbot}
    push: {branch: main}
  update: {path: ./apps, strategy: Setters}
`,
		"apps/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - name: app
          image: IMAGE:1.0.0 # {"$imagepolicy": "NS:app"}
`,
	}
}

func newFluxImageFixture(t *testing.T, repoExtra string) *imageFixture {
	f := &imageFixture{fixture: newFixture(t, gitserver.Options{})}
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "reg", Password: "regpass"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	f.reg, f.image = reg, reg.Host()+"/team/app"
	if f.digest, err = reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}}); err != nil {
		t.Fatal(err)
	}
	f.tag("1.1.0")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: f.ns},
		StringData: map[string]string{"username": "reg", "password": "regpass", "ca.crt": string(reg.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for p, c := range expandNS(fluxImageFiles(repoExtra), f.ns) {
		files[p] = strings.ReplaceAll(c, "IMAGE", f.image)
	}
	f.name = "tree"
	f.commit(files)
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tree, namespace: %s}\nspec:\n  source:\n    git:\n      url: %s\n      insecure: true\n      ref: {branch: main}\n  path: ./clusters/test\n",
		f.ns, f.git.HTTPURL("app")))
	return f
}

// A Flux tree with an ImageRepository, ImagePolicy, ImageUpdateAutomation
// and a Kustomization: one run commits the new tag and the Kustomization
// applies that commit; a second run commits nothing; a new tag is rolled
// out by the next run.
func TestFluxImageAutomation(t *testing.T) {
	f := newFluxImageFixture(t, "")
	res := f.run()
	mustUnitsSucceed(t, res)
	f.mustSucceed(res)
	head, err := f.repo.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := units(res)
	auto, apps := got["ImageUpdateAutomation/"+f.ns+"/auto"], got["Kustomization/"+f.ns+"/apps"]
	if !strings.Contains(auto.Message, "pushed 1 change to branch main (commit "+head+")") {
		t.Errorf("automation: %s %q; want it to say it pushed %s", auto.Outcome, auto.Message, head)
	}
	if !strings.HasSuffix(apps.Revision, "sha1:"+head) || !apps.Start.After(auto.End) && !apps.Start.Equal(auto.End) {
		t.Errorf("apps applied %s (started %v, automation ended %v); want the pushed commit %s, after the automation",
			apps.Revision, apps.Start, auto.End, head)
	}
	if got, want := f.deployedImage(), f.image+":1.1.0"; got != want {
		t.Errorf("Deployment image %s, want %s", got, want)
	}
	msg, err := exec.CommandContext(t.Context(), "git", "-C", f.repo.Dir(), "log", "-1", "--format=%an%n%B", head).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), "Automated image update by fluxbot") || !strings.Contains(string(msg), ":1.0.0 -> ") {
		t.Errorf("commit message %q lacks the template's .Values", msg)
	}

	autoID := "ImageUpdateAutomation/" + f.ns + "/auto"
	wantImages(t, f.inventory().Record.Images, inventory.ImageRecord{Policy: f.ns + ":app", Automation: autoID, Image: f.image,
		Latest: "1.1.0", Tags: 2, Markers: []string{"apps/app.yaml:12"}})

	pushes := f.git.Stats().HTTPReceivePacks
	var logs bytes.Buffer
	second := f.runWith(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	f.mustSucceed(second)
	if !strings.Contains(logs.String(), `"reused":"same tags"`) {
		t.Errorf("the second run did not reuse the ImagePolicy's choice on the same tags:\n%s", logs.String())
	}
	if again, _ := f.repo.Head(t.Context()); again != head || f.git.Stats().HTTPReceivePacks != pushes {
		t.Errorf("a run without a new tag pushed (head %s -> %s)", head, again)
	}
	if u := units(second)["ImageUpdateAutomation/"+f.ns+"/auto"]; !strings.HasPrefix(u.Message, "no change") {
		t.Errorf("second run, automation: %q", u.Message)
	}
	if u := units(second)["Kustomization/"+f.ns+"/apps"]; u.Rendered {
		t.Errorf("second run rendered apps again at %s", u.Revision)
	}

	f.tag("1.2.0")
	f.mustSucceed(f.run())
	if got, want := f.deployedImage(), f.image+":1.2.0"; got != want {
		t.Errorf("after a new tag: Deployment image %s, want %s", got, want)
	}
	wantImages(t, f.inventory().Record.Images, inventory.ImageRecord{Policy: f.ns + ":app", Automation: autoID, Image: f.image,
		Latest: "1.2.0", Tags: 3, Markers: []string{"apps/app.yaml:12"}})
}

// A refused field of an ImageRepository fails it naming the field; the
// automation reading it fails naming it, the Kustomization is skipped,
// nothing is pushed or applied.
func TestFluxImageAutomationRefusedField(t *testing.T) {
	f := newFluxImageFixture(t, "  serviceAccountName: puller\n")
	head, _ := f.repo.Head(t.Context())
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed", res.Outcome)
	}
	got := units(res)
	want := "ImageRepository/" + f.ns + "/app"
	if u := got[want]; u.Outcome != Failed || !strings.Contains(u.Message, "spec.serviceAccountName: not supported") {
		t.Errorf("%s: %s %q", want, u.Outcome, u.Message)
	}
	if u := got["ImageUpdateAutomation/"+f.ns+"/auto"]; u.Outcome != Failed || !strings.Contains(u.Message, want) ||
		!strings.Contains(u.Message, "spec.serviceAccountName") {
		t.Errorf("automation: %s %q; want a failure naming %s and the field", u.Outcome, u.Message, want)
	}
	if u := got["Kustomization/"+f.ns+"/apps"]; u.Outcome != Skipped {
		t.Errorf("apps: %s %q, want Skipped", u.Outcome, u.Message)
	}
	if now, _ := f.repo.Head(t.Context()); now != head || f.git.Stats().HTTPReceivePacks != 0 {
		t.Errorf("pushed although the automation failed")
	}
	if _, err := env.Client().AppsV1().Deployments(f.ns).Get(t.Context(), "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment app: %v, want NotFound: nothing applied", err)
	}
}
