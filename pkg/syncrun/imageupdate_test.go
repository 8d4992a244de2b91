package syncrun

import (
	"bytes"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/imageupdate"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// imageFixture is a sync whose repository holds a Deployment with a
// setter marker, and a registry with tags of its image.
type imageFixture struct {
	*fixture
	reg    *helmrepo.Registry
	digest string
	image  string
}

func newImageFixture(t *testing.T, gopts gitserver.Options, commitExtra ...string) *imageFixture {
	return newImageFixtureWith(t, gopts, helmrepo.RegistryOptions{}, commitExtra...)
}

// newImageFixtureWith is newImageFixture with the registry's options
// (its credentials are set here).
func newImageFixtureWith(t *testing.T, gopts gitserver.Options, ropts helmrepo.RegistryOptions, commitExtra ...string) *imageFixture {
	f := &imageFixture{fixture: newFixture(t, gopts)}
	ropts.Username, ropts.Password = "reg", "regpass"
	reg, err := helmrepo.StartRegistry(t.Context(), ropts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	f.reg, f.image = reg, reg.Host()+"/team/app"
	if f.digest, err = reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}}); err != nil {
		t.Fatal(err)
	}
	f.tag("1.1.0")
	f.tag("2.0.0-rc.1")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: f.ns},
		StringData: map[string]string{"username": "reg", "password": "regpass", "ca.crt": string(reg.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"deploy/app.yaml": fmt.Sprintf(`apiVersion: apps/v1
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
          image: %s:1.0.0 # {"$imagepolicy": "%s:app"}
`, f.image, f.ns)})
	f.install(f.git.HTTPURL("app"), "", fmt.Sprintf(`  imageUpdate:
    path: ./deploy
    policies:
    - name: app
      imageRepository: {image: %s, secretRef: {name: regcred}}
      policy: {semver: {range: ">=1.0.0"}}
    git:
      commit:
        author: {name: gitsync, email: gitsync@example.com}
%s`, f.image, strings.Join(commitExtra, "")))
	return f
}

func (f *imageFixture) tag(tag string) {
	if err := f.reg.Tag("team/app", f.digest, tag); err != nil {
		f.t.Fatal(err)
	}
}

func (f *imageFixture) deployedImage() string {
	d, err := env.Client().AppsV1().Deployments(f.ns).Get(f.t.Context(), "app", metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("Deployment app: %v", err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// A run commits the new tag, pushes it and applies that commit; a run
// without a new tag commits nothing; a new tag is rolled out by the next
// run.
func TestImageUpdateCommitsPushesAndApplies(t *testing.T) {
	f := newImageFixture(t, gitserver.Options{})
	res := f.run()
	f.mustSucceed(res)
	head, err := f.repo.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Revision, "sha1:"+head) {
		t.Errorf("run applied %s, the pushed commit is %s", res.Revision, head)
	}
	if got, want := f.deployedImage(), f.image+":1.1.0"; got != want {
		t.Errorf("Deployment image %s, want %s", got, want)
	}
	msg, err := exec.CommandContext(t.Context(), "git", "-C", f.repo.Dir(), "log", "-1", "--format=%an%n%B", head).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "deploy/app.yaml:12: " + f.image + ":1.0.0 -> " + f.image + ":1.1.0 (" + f.ns + ":app)"; !strings.Contains(string(msg), want) {
		t.Errorf("commit message %q lacks %q", msg, want)
	}

	wantImages(t, f.inventory().Record.Images, inventory.ImageRecord{Policy: f.ns + ":app", Image: f.image, Latest: "1.1.0",
		Tags: 3, Markers: []string{"deploy/app.yaml:12"}})

	pushes := f.git.Stats().HTTPReceivePacks
	var logs bytes.Buffer
	second := f.runWith(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	f.mustSucceed(second)
	if !strings.Contains(logs.String(), `"reused":"same tags"`) {
		t.Errorf("the second run did not reuse the policy's choice on the same tags:\n%s", logs.String())
	}
	if second.Rendered {
		t.Errorf("a run without a new tag rendered again (revision %s after %s)", second.Revision, res.Revision)
	}
	if again, _ := f.repo.Head(t.Context()); again != head || f.git.Stats().HTTPReceivePacks != pushes {
		t.Errorf("a run without a new tag pushed (head %s -> %s)", head, again)
	}

	f.tag("1.2.0")
	f.mustSucceed(f.run())
	if got, want := f.deployedImage(), f.image+":1.2.0"; got != want {
		t.Errorf("after a new tag: Deployment image %s, want %s", got, want)
	}
	wantImages(t, f.inventory().Record.Images, inventory.ImageRecord{Policy: f.ns + ":app", Image: f.image, Latest: "1.2.0",
		Tags: 4, Markers: []string{"deploy/app.yaml:12"}})
}

// wantImages compares the image records with want, leaving out the
// digests (only checked to be set) and ETags.
func wantImages(t *testing.T, got []inventory.ImageRecord, want ...inventory.ImageRecord) {
	t.Helper()
	var cut []inventory.ImageRecord
	for _, r := range got {
		if r.TagsDigest == "" || r.SpecDigest == "" {
			t.Errorf("image record %s without its digests: %+v", r.Policy, r)
		}
		r.TagsDigest, r.SpecDigest, r.ETags = "", "", nil
		cut = append(cut, r)
	}
	if diff := cmp.Diff(want, cut); diff != "" {
		t.Errorf("record's images (-want +got):\n%s", diff)
	}
}

// Read-only Git credentials fail the run clearly, and nothing is applied.
func TestImageUpdateReadOnlyAppliesNothing(t *testing.T) {
	f := newImageFixture(t, gitserver.Options{ReadOnly: true})
	res := f.run()
	if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "write access") {
		t.Fatalf("run %s: %v; want a failure naming write access", res.Outcome, res.Err)
	}
	t.Logf("error: %v", res.Err)
	if _, err := env.Client().AppsV1().Deployments(f.ns).Get(t.Context(), "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment app: %v, want NotFound: nothing applied", err)
	}
}

// Wrong registry credentials fail the run naming the policy, with the
// password nowhere in the message.
func TestImageUpdateRegistryAuthFails(t *testing.T) {
	f := newImageFixture(t, gitserver.Options{})
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: f.ns},
		StringData: map[string]string{"username": "reg", "password": "wrongpass", "ca.crt": string(f.reg.CA().CertPEM)}}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := f.run()
	if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "policy "+f.ns+":app") ||
		strings.Contains(res.Err.Error(), "wrongpass") {
		t.Fatalf("run %s: %v", res.Outcome, res.Err)
	}
	if _, err := env.Client().AppsV1().Deployments(f.ns).Get(t.Context(), "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment app: %v, want NotFound", err)
	}
}

// signingKey reads git.asc (and passphrase) from the Secret and signs the
// commit it pushes.
func TestImageUpdateSignsWithTheSecretsKey(t *testing.T) {
	e, err := openpgp.NewEntity("gitsync", "", "gitsync@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.EncryptPrivateKeys([]byte("pass phrase"), nil); err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	w, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	w, _ = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	f := newImageFixture(t, gitserver.Options{}, "        signingKey: {secretRef: {name: gpg}}\n")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gpg", Namespace: f.ns},
		StringData: map[string]string{"git.asc": priv.String(), "passphrase": "pass phrase"}}
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mustSucceed(f.run())
	head, _ := f.repo.Head(t.Context())
	repo, err := git.PlainOpen(f.repo.Dir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(pub.String()); err != nil {
		t.Errorf("commit %s: signature does not verify: %v", head, err)
	}

	// A wrong passphrase fails the run naming the Secret, without the
	// passphrase, and pushes nothing.
	f.tag("1.5.0")
	s.StringData["passphrase"] = "wrong phrase"
	if _, err := env.Client().CoreV1().Secrets(f.ns).Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := f.run()
	if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "Secret/"+f.ns+"/gpg") ||
		strings.Contains(res.Err.Error(), "wrong phrase") {
		t.Errorf("run %s: %v", res.Outcome, res.Err)
	}
	if now, _ := f.repo.Head(t.Context()); now != head {
		t.Errorf("pushed %s with a key that does not decrypt", now)
	}
}

// Render (kubectl gitsync diff and build) previews the branch as it is: it
// never commits or pushes.
func TestImageUpdateRenderDoesNotPush(t *testing.T) {
	f := newImageFixture(t, gitserver.Options{})
	head, _ := f.repo.Head(t.Context())
	out, err := Render(t.Context(), RenderOptions{Name: f.name, Namespace: f.ns, Config: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.Revision, head) || f.git.Stats().HTTPReceivePacks != 0 {
		t.Errorf("Render rendered %s and pushed %d times; want %s and no push", out.Revision, f.git.Stats().HTTPReceivePacks, head)
	}
}

// A change pushed to a push.branch for review is recorded as pending (the
// branch applied keeps the old value); a run whose scan fails keeps the
// last run's records; a spec without imageUpdate drops them.
func TestImageUpdateRecordsPendingAndKeepsOnFailure(t *testing.T) {
	f := newImageFixture(t, gitserver.Options{}, "      push: {branch: review}\n")
	f.mustSucceed(f.run())
	if got, want := f.deployedImage(), f.image+":1.0.0"; got != want {
		t.Errorf("Deployment image %s, want %s: a review branch is not applied", got, want)
	}
	want := inventory.ImageRecord{Policy: f.ns + ":app", Image: f.image, Latest: "1.1.0", Tags: 3,
		Markers: []string{"deploy/app.yaml:12"}, Pending: true}
	wantImages(t, f.inventory().Record.Images, want)

	s, err := env.Client().CoreV1().Secrets(f.ns).Get(t.Context(), "regcred", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data["password"] = []byte("wrong")
	if _, err := env.Client().CoreV1().Secrets(f.ns).Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.tag("1.2.0")
	if res := f.run(); res.Outcome != Failed {
		t.Fatalf("run with a wrong registry password: %s", res.Outcome)
	}
	wantImages(t, f.inventory().Record.Images, want)

	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	wantImages(t, f.inventory().Record.Images)
}

// imageRecords lists each policy's markers (FILE:LINE[:FIELD]), at most
// inventory.MaxImageMarkers with the rest counted, and marks them pending
// only when the commit went to another branch than the one checked out.
func TestImageRecordsOfAResult(t *testing.T) {
	res := &imageupdate.Result{Commit: "c0ffee", Branch: "review"}
	for i := range 25 {
		res.Markers = append(res.Markers, setters.Marker{File: "a.yaml", Line: i + 1, Policy: "ns:many"})
	}
	res.Markers = append(res.Markers, setters.Marker{File: "b.yaml", Line: 3, Policy: "ns:one", Field: setters.FieldTag})
	chosen := []imageupdate.PolicyResult{
		{Key: "ns:many", Image: setters.Image{Name: "r/many", Tag: "1.0.0"}, Tags: 9},
		{Key: "ns:one", Image: setters.Image{Name: "r/one", Tag: "2.0.0"}, Tags: 2, ETags: []string{`"e"`}},
		{Key: "ns:none", Image: setters.Image{Name: "r/none", Tag: "3.0.0"}},
	}
	got := imageRecords("ImageUpdateAutomation/ns/auto", chosen, res, "main")
	if len(got) != 3 || len(got[0].Markers) != inventory.MaxImageMarkers || got[0].MoreMarkers != 5 || got[0].Markers[19] != "a.yaml:20" {
		t.Fatalf("many: %+v", got)
	}
	if diff := cmp.Diff(inventory.ImageRecord{Policy: "ns:one", Automation: "ImageUpdateAutomation/ns/auto", Image: "r/one", Latest: "2.0.0",
		Tags: 2, Markers: []string{"b.yaml:3:tag"}, Pending: true, ETags: []string{`"e"`}}, got[1]); diff != "" {
		t.Errorf("one (-want +got):\n%s", diff)
	}
	if got[2].Pending || got[2].Markers != nil {
		t.Errorf("a policy without markers is pending or has markers: %+v", got[2])
	}
	if got := imageRecords("", chosen, res, "review"); got[1].Pending {
		t.Errorf("pending although the commit is on the branch checked out: %+v", got[1])
	}
}

// With a registry that sends ETags, the run records them and the next run
// reuses the choice on the registry's 304, listing no tag.
func TestImageUpdateReusesByETag(t *testing.T) {
	f := newImageFixtureWith(t, gitserver.Options{}, helmrepo.RegistryOptions{Wrap: helmrepo.TagListETags})
	f.mustSucceed(f.run())
	recs := f.inventory().Record.Images
	if len(recs) != 1 || len(recs[0].ETags) != 1 || recs[0].Latest != "1.1.0" {
		t.Fatalf("record's images: %+v, want 1.1.0 with the tag list's ETag", recs)
	}
	var logs bytes.Buffer
	f.mustSucceed(f.runWith(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	if !strings.Contains(logs.String(), `"reused":"not modified"`) {
		t.Errorf("the second run did not reuse the choice on a 304:\n%s", logs.String())
	}
	if again := f.inventory().Record.Images; len(again) != 1 || again[0].Latest != "1.1.0" || again[0].Tags != 3 ||
		len(again[0].ETags) != 1 || again[0].ETags[0] != recs[0].ETags[0] {
		t.Errorf("record after the reuse: %+v, want %+v", again, recs)
	}
}
