package setters

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var testImages = map[string]Image{
	"apps:app":     {Name: "ghcr.io/org/app", Tag: "1.2.0"},
	"apps:sidecar": {Name: "ghcr.io/org/sidecar", Tag: "0.2"},
	"apps:num":     {Name: "ghcr.io/org/num", Tag: "1.10"},
	"apps:pinned":  {Name: "ghcr.io/org/pinned", Tag: "7", Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
}

// Update rewrites the marked values under the path and nothing else; the
// golden files hold the expected bytes.
func TestUpdateGolden(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/repo")); err != nil {
		t.Fatal(err)
	}
	res, err := Update(t.Context(), dir, "apps", testImages)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"apps/deploy.yaml", "apps/sub/release.yml", "apps/template.yaml", "outside.yaml"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata/golden", strings.ReplaceAll(f, "/", "_"))
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), string(got)); d != "" {
			t.Errorf("%s (-want +got):\n%s", f, d)
		}
	}
	var changes []string
	for _, c := range res.Changes {
		changes = append(changes, c.Location()+" "+c.Policy+":"+c.Field+" "+c.Value+" -> "+c.New)
	}
	wantChanges := []string{
		"apps/deploy.yaml:12 apps:app: ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.2.0",
		"apps/deploy.yaml:15 apps:sidecar: ghcr.io/org/sidecar:0.1 -> ghcr.io/org/sidecar:0.2",
		"apps/deploy.yaml:24 apps:app:tag 1.0.0 -> 1.2.0",
		"apps/deploy.yaml:26 apps:num:tag 9 -> 1.10",
		"apps/sub/release.yml:9 apps:app:tag 1.0.0 -> 1.2.0",
		"apps/sub/release.yml:10 apps:pinned:digest sha256:0000000000000000000000000000000000000000000000000000000000000000 -> sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"apps/sub/release.yml:11 apps:sidecar:tag héllo -> 0.2",
	}
	if d := cmp.Diff(wantChanges, changes); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"apps/deploy.yaml", "apps/sub/release.yml"}, res.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	if len(res.Markers) != 10 {
		t.Errorf("%d markers, want 10 (also the unchanged and foreign ones): %+v", len(res.Markers), res.Markers)
	}

	again, err := Update(t.Context(), dir, "apps", testImages)
	if err != nil || len(again.Changes) != 0 || len(again.Files) != 0 {
		t.Errorf("second Update = %+v, %v; want no change", again, err)
	}
}

func TestSetErrorsNameFileAndLine(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"a: b # {\"$imagepolicy\": \"apps\"}\n", `f.yaml:1: setter marker "apps": want NAMESPACE:POLICY`},
		{"a: b # {\"$imagepolicy\": \"apps:app:size\"}\n", `f.yaml:1: setter marker "apps:app:size": field "size"`},
		{"x: 1\na: b # {\"$imagepolicy\": apps}\n", `f.yaml:2: setter marker {"$imagepolicy": apps} is not valid JSON`},
		{"a: [x] # {\"$imagepolicy\": \"apps:app\"}\n", `f.yaml:1: marker apps:app is not on a scalar value`},
		{"a: \"ghcr.io/org/\\x61pp:1\" # {\"$imagepolicy\": \"apps:app\"}\n", `f.yaml:1: the marked value is not spelled`},
		{"a: b # {\"$imagepolicy\": \"apps:app:digest\"}\n", `f.yaml:1: policy apps:app has no digest to set`},
		{"a: [\n# {\"$imagepolicy\": \"apps:app\"}\n", `f.yaml: yaml:`},
	}
	for _, tt := range tests {
		_, _, _, err := Set("f.yaml", []byte(tt.doc), testImages)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Set(%q) = %v, want an error containing %q", tt.doc, err, tt.want)
		}
	}
}

// A failing file stops Update before any file is written.
func TestUpdateWritesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	good := "image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"apps:app\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("image: x # {\"$imagepolicy\": \"bad\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(t.Context(), dir, ".", testImages); err == nil || !strings.Contains(err.Error(), "b.yaml:1") {
		t.Fatalf("Update = %v, want an error naming b.yaml:1", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.yaml")); string(got) != good {
		t.Errorf("a.yaml was written: %q", got)
	}
	for _, p := range []string{"../x", "/etc", "missing"} {
		if _, err := Update(t.Context(), dir, p, testImages); err == nil {
			t.Errorf("Update(path %q) succeeded", p)
		}
	}
}
