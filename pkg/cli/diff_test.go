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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	t.Run("KUBECTL_EXTERNAL_DIFF", func(t *testing.T) {
		// A diff program that shows what it was given: its options, the two
		// directories' files and their contents.
		prog := filepath.Join(t.TempDir(), "showdiff")
		must(t, os.WriteFile(prog, []byte(`#!/bin/sh
echo "options: $1 $2"
for f in "$3"/* "$4"/*; do echo "== $(basename "$(dirname "$f")" | cut -d- -f1)/$(basename "$f")"; cat "$f"; done
exit 1
`), 0o755))
		t.Setenv("KUBECTL_EXTERNAL_DIFF", prog+" -u -N")
		out, _, err := f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitFailed, "4 objects would change (1 created, 2 changed, 1 pruned)")
		for _, want := range []string{
			"options: -u -N",
			"== LIVE/v1.ConfigMap." + f.ns + ".a\n", "== MERGED/v1.ConfigMap." + f.ns + ".a\n",
			// c is created: its live file is empty; b is pruned: its merged one.
			"== LIVE/v1.ConfigMap." + f.ns + ".c\n== LIVE/v1.Secret." + f.ns + ".s\n",
			"== MERGED/v1.ConfigMap." + f.ns + ".b\n== MERGED/v1.ConfigMap." + f.ns + ".c\n",
			"password: '*** (before)'", "password: '*** (after)'",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("external diff output lacks %q:\n%s", want, out)
			}
		}
		noSecrets(t, out)

		must(t, os.WriteFile(prog, []byte("#!/bin/sh\necho broken >&2\nexit 2\n"), 0o755))
		_, _, err = f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitError, "KUBECTL_EXTERNAL_DIFF")
		t.Setenv("KUBECTL_EXTERNAL_DIFF", prog+" --to=$(rm -rf /)")
		_, _, err = f.cli(t.Context(), "diff", "app")
		wantExit(t, err, ExitError, "only letters, digits")
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

// diff shows as pruned exactly what the run prunes: it asks the run's own
// prune, with dry-run deletes. An object whose gitsync.io/prune annotation
// has an invalid value but which opts out another way (gitsync.io/ssa:
// Ignore) is kept by the run; diff used to restate prune's rules, read all
// the annotations as one policy, and on the invalid value showed it pruned.
func TestDiffPrunesWhatTheRunPrunes(t *testing.T) {
	f := newPipelineFixture(t)
	f.commit(map[string]string{
		"deploy/a.yaml":    configMapYAML("a", "1"),
		"deploy/kept.yaml": configMapYAML("kept", "1"),
		"deploy/gone.yaml": configMapYAML("gone", "1"),
	})
	f.installSpec("")
	_, _, err := f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	annotate := func(name string, annotations map[string]string) {
		cm := f.configMap(name)
		cm.Annotations = annotations
		_, err := env.Client().CoreV1().ConfigMaps(f.ns).Update(t.Context(), cm, metav1.UpdateOptions{})
		must(t, err)
	}
	// Invalid prune value, but opted out by ssa: Ignore: the run keeps it.
	annotate("kept", map[string]string{"gitsync.io/prune": "never", "gitsync.io/ssa": "Ignore"})
	// Invalid prune value alone is no opt-out: the run prunes it.
	annotate("gone", map[string]string{"gitsync.io/prune": "never"})
	f.remove("deploy/kept.yaml", "deploy/gone.yaml")

	out, _, err := f.cli(t.Context(), "diff", "app")
	wantExit(t, err, ExitFailed, "1 objects would change (1 pruned)")
	if strings.Contains(out, "ConfigMap/"+f.ns+"/kept") {
		t.Errorf("diff shows an object the run keeps as pruned:\n%s", out)
	}
	if !strings.Contains(out, "--- live/ConfigMap/"+f.ns+"/gone") {
		t.Errorf("diff does not show the object the run prunes:\n%s", out)
	}

	// And the run does what diff said.
	_, _, err = f.cli(t.Context(), "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	f.configMap("kept")
	f.absent("gone")
}
