package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// `images` scans the policies, names the tag each chooses and lists the
// markers with their state; it writes nothing.
func TestImagesCommand(t *testing.T) {
	f := newPipelineFixture(t)
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "reg", Password: "regpass"})
	must(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	digest, err := reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}})
	must(t, err)
	must(t, reg.Tag("team/app", digest, "1.1.0"))
	_, err = env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: f.ns},
		StringData: map[string]string{"username": "reg", "password": "regpass", "ca.crt": string(reg.CA().CertPEM)},
	}, metav1.CreateOptions{})
	must(t, err)
	image := reg.Host() + "/team/app"
	head := f.commit(map[string]string{"deploy/app.yaml": fmt.Sprintf(
		"image: %s:1.0.0 # {\"$imagepolicy\": \"%s:app\"}\ntag: 1.1.0 # {\"$imagepolicy\": \"%s:app:tag\"}\nx: y # {\"$imagepolicy\": \"%s:gone\"}\n",
		image, f.ns, f.ns, f.ns)})
	f.installSpec(fmt.Sprintf(`  imageUpdate:
    policies:
    - name: app
      imageRepository: {image: %s, secretRef: {name: regcred}}
      policy: {semver: {range: ">=1.0.0"}}
    - name: nothing
      imageRepository: {image: %s, secretRef: {name: regcred}}
      policy: {semver: {range: ">=9.0.0"}}
    git:
      commit:
        author: {name: gitsync, email: gitsync@example.com}
`, image, image))

	out, errOut, err := f.cli(t.Context(), "images", "app")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	t.Log("\n" + out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, 3 rows and the push access:\n%s", out)
	}
	if want := "sync " + f.ns + "/app: push to main: allowed"; lines[4] != want {
		t.Errorf("push line %q, want %q", lines[4], want)
	}
	for i, want := range [][]string{
		{"SYNC", "POLICY", "LATEST", "MARKERS"},
		{f.ns + ":app", "1.1.0", "deploy/app.yaml:1 " + image + ":1.0.0 -> next run", "deploy/app.yaml:2 (tag)"},
		{f.ns + ":nothing", "error: policy " + f.ns + ":nothing (spec.imageUpdate.policies[1])", "none of the 2 tags"},
		{f.ns + ":gone", "no such policy", "deploy/app.yaml:3"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if strings.Contains(lines[1], "(tag) ") || strings.Contains(lines[3], "next run") {
		t.Errorf("the up-to-date tag marker is shown as out of date: %q", lines[1])
	}

	out, _, err = f.cli(t.Context(), "images", "-o", "json")
	must(t, err)
	var got action.ImagesResult
	must(t, json.Unmarshal([]byte(out), &got))
	if len(got.Push) != 1 || !got.Push[0].Allowed || len(got.Items) != 3 || len(got.Items[0].Markers) != 2 || got.Items[0].Markers[1].UpToDate != true || got.Items[0].Markers[0].UpToDate {
		t.Errorf("json: %s", out)
	}
	if now, _ := f.repo.Head(t.Context()); now != head {
		t.Errorf("images changed the repository: head %s -> %s", head, now)
	}
	if _, errOut, err := f.cli(t.Context(), "images", "app", "-A"); err == nil {
		t.Errorf("NAME with -A accepted: %s", errOut)
	}

	// Once a run recorded a Flux ImagePolicy of that name, the marker is
	// its own, not one of a missing spec policy.
	store := &inventory.Store{Client: env.Client(), Namespace: f.ns, Sync: f.name}
	inv, err := store.Load(t.Context())
	must(t, err)
	inv.Record.Images = []inventory.ImageRecord{{Policy: f.ns + ":gone", Automation: "ImageUpdateAutomation/" + f.ns + "/auto",
		Image: "ghcr.io/org/gone", Latest: "3.0.0", Tags: 1, Markers: []string{"deploy/app.yaml:3"}}}
	must(t, store.Save(t.Context(), inv))
	out, _, err = f.cli(t.Context(), "images", "app")
	must(t, err)
	if strings.Contains(out, "no such policy") || !strings.Contains(out, "ImageUpdateAutomation/"+f.ns+"/auto") {
		t.Errorf("the Flux policy's marker is listed as a missing spec policy's:\n%s", out)
	}
}

// install says that a sync with imageUpdate pushes, where and with which
// credentials; nothing for other syncs.
func TestImageUpdateNote(t *testing.T) {
	doc := `apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: web, namespace: team}
spec:
  source:
    git: {url: "https://git.example.com/r.git", ref: {branch: main}, secretRef: {name: git-write}}
`
	s, err := spec.Parse([]byte(doc))
	must(t, err)
	if n := imageUpdateNote(s); n != "" {
		t.Errorf("note without imageUpdate: %q", n)
	}
	s, err = spec.Parse([]byte(doc + `  imageUpdate:
    policies: [{name: app, imageRepository: {image: ghcr.io/org/app}, policy: {alphabetical: {}}}]
    git: {commit: {author: {name: a, email: a@example.com}}}
`))
	must(t, err)
	n := imageUpdateNote(s)
	for _, want := range []string{"push to main of https://", "Secret git-write must allow pushing", "kubectl gitsync images web"} {
		if !strings.Contains(n, want) {
			t.Errorf("note %q lacks %q", n, want)
		}
	}
}

// The Flux ImagePolicies a sync's last run recorded are listed with the
// automation that resolved them (and the path of units to it in JSON),
// also for a sync without spec.imageUpdate; a marker left on a push
// branch for review shows so.
func TestImagesCommandFluxPolicies(t *testing.T) {
	f := newPipelineFixture(t)
	f.commit(map[string]string{"deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
	f.installSpec("")
	if _, errOut, err := f.cli(t.Context(), "images", "app"); err == nil || !strings.Contains(err.Error(), "no imageUpdate") {
		t.Errorf("images of a sync without policies: %v %s", err, errOut)
	}

	store := &inventory.Store{Client: env.Client(), Namespace: f.ns, Sync: f.name}
	inv, err := store.Load(t.Context())
	must(t, err)
	ks, auto := "Kustomization/"+f.ns+"/apps", "ImageUpdateAutomation/"+f.ns+"/auto"
	inv.Record.Units = []inventory.UnitRecord{
		{Kind: "Kustomization", Namespace: f.ns, Name: "apps", Result: inventory.ResultSucceeded},
		{Kind: "ImageUpdateAutomation", Namespace: f.ns, Name: "auto", Parent: ks, Result: inventory.ResultSucceeded},
	}
	inv.Record.Images = []inventory.ImageRecord{
		{Policy: f.ns + ":web", Automation: auto, Image: "ghcr.io/org/web", Latest: "2.1.0", Tags: 17,
			Markers: []string{"apps/web.yaml:12", "apps/values.yaml:3:tag"}, TagsDigest: "x", SpecDigest: "y"},
		{Policy: f.ns + ":api", Automation: auto, Image: "ghcr.io/org/api", Latest: "0.9.1", Tags: 4,
			Markers: []string{"apps/api.yaml:7"}, MoreMarkers: 25, Pending: true},
	}
	must(t, store.Save(t.Context(), inv))

	out, errOut, err := f.cli(t.Context(), "images", "app")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	t.Log("\n" + out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows, no push line (Flux pushes with its GitRepository's credentials):\n%s", out)
	}
	for i, want := range [][]string{
		{"SOURCE"},
		{f.ns + ":web", auto, "ghcr.io/org/web", "2.1.0", "17", "apps/web.yaml:12, apps/values.yaml:3 (tag)"},
		{f.ns + ":api", auto, "0.9.1", "apps/api.yaml:7 (on the push branch), and 25 more"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if strings.Contains(lines[1], "push branch") {
		t.Errorf("an applied marker shown as pending: %q", lines[1])
	}

	out, _, err = f.cli(t.Context(), "images", "-o", "json")
	must(t, err)
	var got action.ImagesResult
	must(t, json.Unmarshal([]byte(out), &got))
	want := action.ImagePolicyStatus{Sync: action.Ref{Name: "app", Namespace: f.ns}, Policy: f.ns + ":web",
		Source: ks + " > " + auto, Recorded: true, Image: "ghcr.io/org/web", Latest: "2.1.0", Tags: 17,
		Markers: []action.ImageMarker{{Location: "apps/web.yaml:12", UpToDate: true}, {Location: "apps/values.yaml:3", Field: "tag", UpToDate: true}}}
	if len(got.Items) != 2 || len(got.Push) != 0 {
		t.Fatalf("json: %s", out)
	}
	if diff := cmp.Diff(want, got.Items[0]); diff != "" {
		t.Errorf("json item (-want +got):\n%s", diff)
	}
}
