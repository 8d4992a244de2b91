package syncrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// useRenderer sets the chart renderer for one test and restores the
// package's (TestMain's in-process one) afterwards. Tests that call it are
// not parallel: parallel tests run after the sequential ones.
func useRenderer(t *testing.T, r chartrender.Renderer) {
	t.Helper()
	helm.UseRenderer(r)
	t.Cleanup(func() { helm.UseRenderer(inProcess) })
}

// TestHelmRendererChild runs Helm syncs as sync-job does, with the chart
// rendered by the child process cmd/sync-job-helm: a run succeeds; then,
// with a child that crashes, is killed or answers garbage, the run fails
// naming the chart, applies nothing of the changed chart and prunes
// nothing.
func TestHelmRendererChild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), helmexec.Program)
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", helmexec.Program, err, out)
	}
	useRenderer(t, helmexec.Renderer{Path: bin})

	f := newFixture(t, gitserver.Options{})
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  v: {{ .Values.v | quote }}\n"
	}
	f.commit(map[string]string{
		"chart/Chart.yaml":         "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/values.yaml":        "v: one\n",
		"chart/templates/old.yaml": cm("old"),
	})
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./chart
  helm: {releaseName: rel, values: {v: from-spec}}
`, f.ns, f.git.HTTPURL("app")))
	f.mustSucceed(f.run())
	if c, err := f.configMap("old"); err != nil || c.Data["v"] != "from-spec" {
		t.Fatalf("ConfigMap old after the child's render: %v, %v", c, err)
	}

	// The chart changes: "old" goes, "new" comes. No broken child may
	// apply "new" or prune "old".
	f.commit(map[string]string{"chart/templates/old.yaml": "", "chart/templates/new.yaml": cm("new")})
	for _, tc := range []struct{ name, script, want string }{
		{"crash", "cat >/dev/null; echo 'panic: boom' >&2; exit 2", "exit status 2; stderr: panic: boom"},
		{"killed", "kill -9 $$", "signal: killed"},
		{"garbage", "cat >/dev/null; echo not-json", "invalid output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), helmexec.Program)
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			helm.UseRenderer(helmexec.Renderer{Path: p})
			res := f.run()
			if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) || !strings.Contains(res.Err.Error(), "Helm renderer "+p) {
				t.Fatalf("run: %s, %v; want Failed with %q", res.Outcome, res.Err, tc.want)
			}
			f.mustNotHave("new")
			f.mustHave("old")
		})
	}
	helm.UseRenderer(helmexec.Renderer{Path: bin})
	f.mustSucceed(f.run())
	f.mustHave("new")
	f.mustNotHave("old")
}
