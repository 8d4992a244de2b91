package imageupdate

import (
	"context"
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
