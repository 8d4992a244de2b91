package imagepolicy

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// A real scan: tags pushed to the test registry are listed page by page,
// the cap holds, wrong credentials are an authentication error, and the
// policy picks from what was listed.
func TestScanTestRegistry(t *testing.T) {
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	digest, err := reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.0.0"}
	for _, tag := range []string{"1.2.0", "1.10.0", "2.0.0-rc.1", "latest", "sha256-x.sig", "main-abc-17", "main-def-9"} {
		if err := reg.Tag("team/app", digest, tag); err != nil {
			t.Fatal(err)
		}
		want = append(want, tag)
	}
	repo, err := ParseImage(reg.Host()+"/team/app", false)
	if err != nil {
		t.Fatal(err)
	}
	client := registry.Client{Auth: source.Credentials{Username: "u", Password: "p", CAPEM: reg.CA().CertPEM}}

	reg.ResetRequests()
	tags, err := ListTags(t.Context(), repo, ScanOptions{Client: client, PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != len(want) {
		t.Fatalf("listed %v, want the %d tags %v", tags, len(want), want)
	}
	lists := 0
	for _, r := range reg.Requests() {
		if r == "GET /v2/team/app/tags/list" {
			lists++
		}
	}
	if lists < 3 {
		t.Errorf("%d tag list requests (%v), want at least 3 pages of 3", lists, reg.Requests())
	}

	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Policy: Choice{SemVer: &SemVer{Range: ">=1.0.0"}}}, "1.10.0"},
		{Spec{Policy: Choice{Numerical: &Ordered{}}, FilterTags: &FilterTags{Pattern: `^main-[a-f0-9]+-(?P<n>\d+)$`, Extract: "$n"}}, "main-abc-17"},
		{Spec{Policy: Choice{Alphabetical: &Ordered{}}}, "main-def-9"},
	} {
		p, err := Compile(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := p.Latest(tags); err != nil || got != tt.want {
			t.Errorf("Latest(%+v) = %q, %v; want %q", tt.spec.Policy, got, err, tt.want)
		}
	}

	if _, err := ListTags(t.Context(), repo, ScanOptions{Client: client, PageSize: 2, MaxTags: 5}); !errors.Is(err, ErrTooManyTags) {
		t.Errorf("ListTags with MaxTags 5 = %v, want ErrTooManyTags", err)
	}
	bad := registry.Client{Auth: source.Credentials{Username: "u", Password: "wrong", CAPEM: reg.CA().CertPEM}}
	_, err = ListTags(t.Context(), repo, ScanOptions{Client: bad})
	if !errors.Is(err, source.ErrAuthentication) {
		t.Errorf("ListTags with a wrong password = %v, want ErrAuthentication", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the password", err)
	}
}
