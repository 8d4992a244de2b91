package cli

import (
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ---- against the test cluster ----

func secretYAML(name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\ntype: Opaque\ndata:\n", name)
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(&b, "  %s: %s\n", k, base64.StdEncoding.EncodeToString([]byte(data[k])))
	}
	return b.String()
}

func TestDiff(t *testing.T) {
	f := newPipelineFixture(t)
	f.commit(map[string]string{
		"deploy/a.yaml": configMapYAML("a", "1"),
		"deploy/b.yaml": configMapYAML("b", "1"),
		"deploy/s.yaml": secretYAML("s", map[string]string{"password": "old-password", "user": "admin"}),
	})
	f.installSpec("")
	_, _, err := f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	secrets := []string{"old-password", "new-password", "admin"}
	noSecrets := func(t *testing.T, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(s))) {
				t.Errorf("the diff shows the secret value %q:\n%s", s, out)
			}
		}
	}

	t.Run("no change", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitOK, "")
		if out != "" {
			t.Errorf("output for no change:\n%s", out)
		}
	})

	f.commit(map[string]string{
		"deploy/a.yaml": configMapYAML("a", "2"),
		"deploy/c.yaml": configMapYAML("c", "1"),
		"deploy/s.yaml": secretYAML("s", map[string]string{"password": "new-password", "user": "admin"}),
	})
	f.remove("deploy/b.yaml")
	t.Run("changes", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitFailed, "4 objects would change (1 created, 2 changed, 1 pruned)")
		golden(t, "testdata/diff/changed.diff", f.normalize(out))
		noSecrets(t, out)
	})

	t.Run("--path", func(t *testing.T) {
		dir := t.TempDir()
		for name, content := range map[string]string{
			"a.yaml": configMapYAML("a", "3"),
			"d.yaml": configMapYAML("d", "1"),
			"s.yaml": secretYAML("s", map[string]string{"password": "old-password", "user": "admin"}),
		} {
			must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		}
		out, _, err := f.cli(t.Context(), "diff", "app", "--path", dir)
		wantExit(t, err, ExitFailed, "3 objects would change (1 created, 1 changed, 1 pruned)")
		golden(t, "testdata/diff/path.diff", f.normalize(out))
		noSecrets(t, out)
	})

	t.Run("nothing is written", func(t *testing.T) {
		if got := f.configMap("a").Data["value"]; got != "1" {
			t.Errorf("a.value = %q after diff, want 1", got)
		}
		f.configMap("b")
		f.absent("c")
	})

	t.Run("prune disabled", func(t *testing.T) {
		f.installSpec("  prune: false\n")
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitFailed, "3 objects would change (1 created, 2 changed)")
		if strings.Contains(out, "ConfigMap/"+f.ns+"/b") {
			t.Errorf("an object is shown pruned with prune: false:\n%s", out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "diff", "app", "--path", filepath.Join(t.TempDir(), "missing"))
		wantExit(t, err, ExitError, "--path:")
		_, _, err = f.cli(t.Context(), "diff", "nosuch")
		wantExit(t, err, ExitError, "no such sync")
		f.commit(map[string]string{"deploy/bad.yaml": "kind: [\n"})
		_, _, err = f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitError, "render:")
	})
}
