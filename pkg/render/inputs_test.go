package render

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInputs: a render records the directories it looked into, for the
// kustomize path (an overlay over ../base, a patch file) and the direct
// path (a plain directory); InputsDigest changes with any change in those
// directories (a file edited or added) and not with changes elsewhere.
func TestInputs(t *testing.T) {
	cm := func(name, v string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  v: " + v + "\n"
	}
	for _, tc := range []struct {
		name string
		path string
		opts Options
		want []string
	}{
		// A directory's parent is an input too: it says the directory
		// exists.
		{name: "overlay", path: "apps/staging", want: []string{"apps", "apps/base", "apps/base/web", "apps/staging"}},
		{name: "overlay with a namespace", path: "apps/staging", opts: Options{TargetNamespace: "x"}, want: []string{"apps", "apps/base", "apps/base/web", "apps/staging"}},
		{name: "plain directory", path: "plain", want: []string{".", "plain", "plain/sub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"apps/base/kustomization.yaml":       "resources: [web]\n",
				"apps/base/web/kustomization.yaml":   "resources: [cm.yaml]\n",
				"apps/base/web/cm.yaml":              cm("web", "base"),
				"apps/staging/kustomization.yaml":    "resources: [../base]\npatches:\n- path: patch.yaml\n",
				"apps/staging/patch.yaml":            cm("web", "staging"),
				"apps/production/kustomization.yaml": "resources: [../base]\n",
				"plain/a.yaml":                       cm("a", "1"),
				"plain/sub/b.yaml":                   cm("b", "1"),
				"other/c.yaml":                       cm("c", "1"),
			})
			opts := tc.opts
			opts.Root, opts.Path = dir, tc.path
			res, err := Render(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Inputs); diff != "" {
				t.Fatalf("inputs (-want +got):\n%s", diff)
			}
			before, err := InputsDigest(dir, res.Inputs)
			if err != nil {
				t.Fatal(err)
			}
			same := func(what string, want bool) {
				t.Helper()
				got, err := InputsDigest(dir, res.Inputs)
				if err != nil {
					t.Fatal(err)
				}
				if (got == before) != want {
					t.Errorf("%s: digest unchanged %v, want %v", what, got == before, want)
				}
				before = got
			}
			writeFiles(t, dir, map[string]string{"other/c.yaml": cm("c", "2"), "apps/production/kustomization.yaml": "resources: []\n",
				"apps/base/web/../../../other/d.yaml": cm("d", "1")})
			same("a file elsewhere edited", true)
			edited := filepath.Join(dir, filepath.FromSlash(tc.want[len(tc.want)-1]), "new.yaml")
			if err := os.WriteFile(edited, []byte(cm("new", "1")), 0o644); err != nil {
				t.Fatal(err)
			}
			same("a file added to an input directory", false)
			if err := os.Remove(edited); err != nil {
				t.Fatal(err)
			}
			same("the file removed again", false)
			writeFiles(t, dir, map[string]string{"apps/base/web/cm.yaml": cm("web", "changed"), "plain/a.yaml": cm("a", "2")})
			same("an input file edited", false)
		})
	}
}
