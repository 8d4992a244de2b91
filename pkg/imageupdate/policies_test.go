package imageupdate

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/imagepolicy"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// digestReflectionPolicy looks the chosen tag's digest up: whole-image
// markers get NAME:TAG@DIGEST and :digest markers the digest.
func TestResolvePolicyReflectsDigest(t *testing.T) {
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	if _, err := reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	digest, err := reg.PushArtifact("team/app", "1.1.0", helmrepo.Artifact{Files: map[string]string{"a": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	image := reg.Host() + "/team/app"
	u := &spec.ImageUpdateSpec{Policies: []spec.ImagePolicySpec{
		{Name: "plain", ImageRepository: spec.ImageRepositorySpec{Image: image, SecretRef: &spec.LocalObjectReference{Name: "r"}},
			Policy: imagepolicy.Choice{SemVer: &imagepolicy.SemVer{Range: ">=1.0.0"}}},
		{Name: "pinned", ImageRepository: spec.ImageRepositorySpec{Image: image, SecretRef: &spec.LocalObjectReference{Name: "r"}},
			Policy: imagepolicy.Choice{SemVer: &imagepolicy.SemVer{Range: ">=1.0.0"}}, DigestReflectionPolicy: spec.DigestReflectAlways},
	}}
	read := func(_ context.Context, name, _ string) (map[string][]byte, error) {
		return map[string][]byte{"username": []byte("u"), "password": []byte("p"), "ca.crt": reg.CA().CertPEM}, nil
	}
	res, err := ResolvePolicies(t.Context(), "team", u, read, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Image.Digest != "" || res[0].Image.Tag != "1.1.0" {
		t.Errorf("plain: %+v, want tag 1.1.0 without digest", res[0].Image)
	}
	if res[1].Image.Digest != digest || res[1].Image.Tag != "1.1.0" {
		t.Errorf("pinned: %+v, want 1.1.0@%s", res[1].Image, digest)
	}
	out, _, changes, err := setters.Set("f.yaml", []byte(
		"image: "+image+":1.0.0 # {\"$imagepolicy\": \"team:pinned\"}\ndigest: x # {\"$imagepolicy\": \"team:pinned:digest\"}\n"), Images(res))
	if err != nil || len(changes) != 2 {
		t.Fatalf("Set = %v, %d changes", err, len(changes))
	}
	if want := "image: " + image + ":1.1.0@" + digest; !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), "digest: "+digest) {
		t.Errorf("Set wrote:\n%s", out)
	}
}

// The last run's choice is reused when the tag list is unchanged: by the
// registry's 304 to its ETag (no listing), or by the listing's digest (no
// evaluation); a new tag, or a changed policy, chooses anew.
func TestResolvePolicyReusesUnchangedTags(t *testing.T) {
	for _, tt := range []struct {
		name   string
		wrap   func(http.Handler) http.Handler
		reused string
		lists  int
	}{
		// 304: one request, no tags in the body.
		{"etag", helmrepo.TagListETags, ReusedNotModified, 1},
		{"no etag", nil, ReusedSameTags, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Wrap: tt.wrap})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close() })
			digest, err := reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "1"}})
			if err != nil {
				t.Fatal(err)
			}
			u := &spec.ImageUpdateSpec{Policies: []spec.ImagePolicySpec{{Name: "app",
				ImageRepository: spec.ImageRepositorySpec{Image: reg.Host() + "/team/app", SecretRef: &spec.LocalObjectReference{Name: "r"}},
				Policy:          imagepolicy.Choice{SemVer: &imagepolicy.SemVer{Range: ">=1.0.0"}}}}}
			read := func(context.Context, string, string) (map[string][]byte, error) {
				return map[string][]byte{"ca.crt": reg.CA().CertPEM}, nil
			}
			resolve := func(last Last) PolicyResult {
				t.Helper()
				res, err := ResolvePolicies(t.Context(), "team", u, read, last)
				if err != nil {
					t.Fatal(err)
				}
				return res[0]
			}
			first := resolve(nil)
			if first.Reused != "" || first.Image.Tag != "1.0.0" || first.SpecDigest == "" || first.TagsDigest == "" {
				t.Fatalf("first: %+v", first)
			}
			if (len(first.ETags) != 0) != (tt.wrap != nil) {
				t.Errorf("ETags %q", first.ETags)
			}

			reg.ResetRequests()
			again := resolve(Last{first.Key: first})
			if again.Reused != tt.reused || again.Image.Tag != "1.0.0" || again.Tags != 1 || again.TagsDigest != first.TagsDigest {
				t.Errorf("rescan: %+v, want %q with tag 1.0.0", again, tt.reused)
			}
			lists := 0
			for _, r := range reg.Requests() {
				if strings.HasSuffix(r, "/tags/list") {
					lists++
				}
			}
			if lists != tt.lists {
				t.Errorf("rescan made %d tag list requests %v, want %d", lists, reg.Requests(), tt.lists)
			}

			if err := reg.Tag("team/app", digest, "1.1.0"); err != nil {
				t.Fatal(err)
			}
			moved := resolve(Last{first.Key: again})
			if moved.Reused != "" || moved.Image.Tag != "1.1.0" || moved.Tags != 2 {
				t.Errorf("after a new tag: %+v, want 1.1.0 chosen anew", moved)
			}

			u.Policies[0].Policy = imagepolicy.Choice{SemVer: &imagepolicy.SemVer{Range: "<1.1.0"}}
			changed := resolve(Last{first.Key: moved})
			if changed.Reused != "" || changed.Image.Tag != "1.0.0" || changed.SpecDigest == moved.SpecDigest {
				t.Errorf("after a policy change: %+v, want 1.0.0 chosen anew", changed)
			}
		})
	}
}
