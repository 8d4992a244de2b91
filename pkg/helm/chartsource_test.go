package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// greetingOf returns the default greeting of the packaged chart of art.
func greetingOf(t *testing.T, art *source.Artifact) string {
	t.Helper()
	ch, err := chartloader.LoadFile(filepath.Join(art.Dir, filepath.FromSlash(art.Path)))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := ch.Values["greeting"].(string)
	return g
}

// TestSourceOCIPinnedToDigest checks the chart seam on a real registry: a
// source resolves and fetches a chart, and a source pinned to that
// revision (a rollback) fetches the same content after the tag was moved
// to other content, while an unpinned one follows the tag.
func TestSourceOCIPinnedToDigest(t *testing.T) {
	reg, digests := startRegistry(t, helmrepo.RegistryOptions{Username: "user", Password: "secret"}, "1.0.0")
	auth := source.Credentials{Username: "user", Password: "secret", CAPEM: reg.CA().CertPEM}
	spec := ChartSource{URL: reg.URL("charts"), Chart: "app", Version: "1.x", Auth: auth}

	src := NewSource(spec)
	rev, err := src.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := source.Revision("1.0.0@" + digests["1.0.0"]); rev != want {
		t.Fatalf("Resolve = %s, want %s", rev, want)
	}
	if d := src.(source.ContentDigester).ContentDigest(rev); d != digests["1.0.0"] {
		t.Errorf("ContentDigest = %q, want the manifest digest %s", d, digests["1.0.0"])
	}
	art, err := src.Fetch(t.Context(), rev, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if art.Path != "app-1.0.0.tgz" || art.Revision != rev || greetingOf(t, art) != "hello" {
		t.Fatalf("Fetch = %+v, want app-1.0.0.tgz of %s greeting hello", art, rev)
	}

	// Move the tag: same version, other content.
	moved := simpleChart("app", "1.0.0")
	moved.Values = "greeting: moved\n"
	newDigest, err := reg.Push("charts", moved)
	if err != nil {
		t.Fatal(err)
	}

	pinned, err := PinChart(spec, rev)
	if err != nil {
		t.Fatal(err)
	}
	ps := NewSource(pinned)
	got, err := ps.Resolve(t.Context())
	if err != nil || got != rev {
		t.Fatalf("pinned Resolve = %s, %v; want %s", got, err, rev)
	}
	art, err = ps.Fetch(t.Context(), got, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if g := greetingOf(t, art); g != "hello" {
		t.Errorf("pinned Fetch got greeting %q, want the pinned content (hello)", g)
	}

	// Fetch of a revision the source did not resolve pins it by itself.
	art, err = NewSource(spec).Fetch(t.Context(), rev, t.TempDir())
	if err != nil || greetingOf(t, art) != "hello" {
		t.Errorf("Fetch of an unresolved revision: %v, want the pinned content", err)
	}

	rev2, err := NewSource(spec).Resolve(t.Context())
	if err != nil || rev2 != source.Revision("1.0.0@"+newDigest) {
		t.Errorf("unpinned Resolve after the move = %s, %v; want 1.0.0@%s", rev2, err, newDigest)
	}
}

// TestSourceHTTP checks the chart seam on a real HTTP repository: the
// revision is the version, the content digest the index's package digest.
func TestSourceHTTP(t *testing.T) {
	r, digests := startRepo(t, helmrepo.RepoOptions{Username: "user", Password: "secret"}, "1.0.0", "1.1.0")
	spec := ChartSource{URL: r.URL(), Chart: "app", Version: "~1.0", Auth: source.Credentials{Username: "user", Password: "secret", CAPEM: r.CA().CertPEM}}
	src := NewSource(spec)
	rev, err := src.Resolve(t.Context())
	if err != nil || rev != "1.0.0" {
		t.Fatalf("Resolve = %s, %v; want 1.0.0", rev, err)
	}
	if d := src.(source.ContentDigester).ContentDigest(rev); d != "sha256:"+digests["1.0.0"] {
		t.Errorf("ContentDigest = %q, want sha256:%s", d, digests["1.0.0"])
	}
	before := r.Requests("/index.yaml")
	dir := t.TempDir()
	art, err := src.Fetch(t.Context(), rev, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests("/index.yaml") != before {
		t.Error("Fetch of the resolved revision read the index again")
	}
	if _, err := os.Stat(filepath.Join(dir, art.Path)); err != nil || art.Dir != dir {
		t.Errorf("Fetch = %+v: %v", art, err)
	}
	if _, err := PinChart(spec, source.Revision("sha256:"+digests["1.0.0"])); err == nil {
		t.Error("PinChart of a revision without a version: no error")
	}
}

// TestErrorsHideURLCredentials checks that a chart source given a URL
// with credentials (the spec refuses these; ChartSource is also used
// directly) never repeats them in an error.
func TestErrorsHideURLCredentials(t *testing.T) {
	for _, u := range []string{
		"oci://user:S3CRET@127.0.0.1:1/charts",
		"https://S3CRET@127.0.0.1:1/charts",
		"https://127.0.0.1:1/charts?token=S3CRET",
	} {
		src := ChartSource{URL: u, Chart: "app", Timeout: 2 * time.Second}
		_, err := Resolve(t.Context(), src)
		if err == nil || strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("Resolve(%s) = %v, want an error without the credential", u, err)
		}
		_, err = NewSource(src).Fetch(t.Context(), "1.0.0", t.TempDir())
		if err == nil || strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("Fetch(%s) = %v, want an error without the credential", u, err)
		}
	}
}
