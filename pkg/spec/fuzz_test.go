package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics; a Sync it accepts survives Marshal and
// Parse again with the same digest (no field silently dropped or changed
// on the way to the spec ConfigMap), and validates.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: a, namespace: b}\nspec:\n  source: {git: {url: https://h/r.git, ref: {tag: 1.10}}}\n  timeout: 90s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("an accepted Sync does not marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("the canonical form of an accepted Sync does not parse: %v\n%s", err, out)
		}
		if s.Digest() != again.Digest() || s.Name != again.Name || s.Namespace != again.Namespace {
			t.Fatalf("the canonical form differs from the input:\n%s", out)
		}
	})
}
