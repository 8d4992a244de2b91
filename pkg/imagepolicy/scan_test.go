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

// A registry that sends ETags: the first scan keeps the pages' ETags and
// the listing's digest, a scan with them gets 304 for every page and
// lists nothing, a new tag changes both, and a registry without ETags
// leaves none.
func TestScanETag(t *testing.T) {
	reg, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{Wrap: helmrepo.TagListETags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	digest, err := reg.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Tag("team/app", digest, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	repo, err := ParseImage(reg.Host()+"/team/app", false)
	if err != nil {
		t.Fatal(err)
	}
	client := registry.Client{Auth: source.Credentials{CAPEM: reg.CA().CertPEM}}
	lists := func() int {
		n := 0
		for _, r := range reg.Requests() {
			if r == "GET /v2/team/app/tags/list" {
				n++
			}
		}
		return n
	}

	for _, pageSize := range []int{0, 1} {
		first, err := Scan(t.Context(), repo, ScanOptions{Client: client, PageSize: pageSize})
		if err != nil {
			t.Fatal(err)
		}
		pages := 1
		if pageSize == 1 {
			pages = 3 // 2 tags, then an empty page
		}
		if len(first.ETags) != pages || first.Digest == "" || first.NotModified || len(first.Tags) != 2 {
			t.Fatalf("page size %d, first scan: %+v, want 2 tags with %d ETags and a digest", pageSize, first, pages)
		}
		if first.Digest != TagsDigest([]string{"1.0.0", "1.1.0"}) {
			t.Errorf("digest %s is not that of the tags", first.Digest)
		}
		reg.ResetRequests()
		again, err := Scan(t.Context(), repo, ScanOptions{Client: client, PageSize: pageSize, ETags: first.ETags})
		if err != nil {
			t.Fatal(err)
		}
		if !again.NotModified || again.Tags != nil || lists() != pages || again.Requests != pages {
			t.Errorf("page size %d, rescan with the ETags: %+v after %d list requests, want 304 after %d", pageSize, again, lists(), pages)
		}
	}

	first, err := Scan(t.Context(), repo, ScanOptions{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Tag("team/app", digest, "1.2.0"); err != nil {
		t.Fatal(err)
	}
	moved, err := Scan(t.Context(), repo, ScanOptions{Client: client, ETags: first.ETags})
	if err != nil {
		t.Fatal(err)
	}
	if moved.NotModified || len(moved.Tags) != 3 || moved.ETags[0] == first.ETags[0] || moved.Digest == first.Digest {
		t.Errorf("rescan after a new tag: %+v, want 3 tags, a new ETag and digest", moved)
	}

	plain, err := helmrepo.StartRegistry(t.Context(), helmrepo.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	if _, err := plain.PushArtifact("team/app", "1.0.0", helmrepo.Artifact{Files: map[string]string{"a": "a"}}); err != nil {
		t.Fatal(err)
	}
	prepo, err := ParseImage(plain.Host()+"/team/app", false)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Scan(t.Context(), prepo, ScanOptions{Client: registry.Client{Auth: source.Credentials{CAPEM: plain.CA().CertPEM}}, ETags: []string{`"stale"`}})
	if err != nil {
		t.Fatal(err)
	}
	if l.NotModified || l.ETags != nil || len(l.Tags) != 1 || l.Digest == "" {
		t.Errorf("scan of a registry without ETags: %+v", l)
	}
}
