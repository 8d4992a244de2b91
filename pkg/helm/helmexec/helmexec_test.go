package helmexec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/helm/sdk"
)

// child is cmd/sync-job-helm, built once by TestMain.
var child string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitsync-helmexec-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	child = filepath.Join(dir, helmexec.Program)
	if out, err := exec.Command("go", "build", "-o", child, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n%s", helmexec.Program, err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// writeChart writes a chart directory and returns its path.
func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	return writeChartIn(t, t.TempDir(), files)
}

// writeChartIn writes a chart directory "app" below parent.
func writeChartIn(t testing.TB, parent string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(parent, "app")
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// script writes a stand-in child program.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), helmexec.Program)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func request(chart string) *chartrender.Request {
	return &chartrender.Request{ChartPath: chart, ReleaseName: "rel", Namespace: "default", Revision: 1, KubeVersion: "v1.37.2",
		Values: map[string]any{"greeting": "hi", "count": 3}}
}

// TestChildRenders: the child's result and errors are the in-process
// renderer's.
func TestChildRenders(t *testing.T) {
	chart := writeChart(t, map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"2.0\"\n",
		"values.yaml":         "greeting: hello\ncount: 1\n",
		"templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  count: {{ .Values.count | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
		"templates/NOTES.txt": "Installed {{ .Release.Name }}.",
		"crds/crd.yaml":       "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n",
	})
	want, err := sdk.Renderer{}.RenderChart(t.Context(), request(chart))
	if err != nil {
		t.Fatal(err)
	}
	got, err := helmexec.Renderer{Path: child}.RenderChart(t.Context(), request(chart))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("child:\n%+v\nin process:\n%+v", got, want)
	}
	if len(got.Files) != 1 || !strings.Contains(got.Files[0].Data, `count: "3"`) || !strings.Contains(got.Files[0].Data, `kube: "v1.37.2"`) ||
		got.Notes != "Installed rel." || len(got.CRDs) != 1 || got.AppVersion != "2.0" {
		t.Errorf("child result %+v", got)
	}

	bad := writeChart(t, map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.deeper }}\n",
	})
	_, wantErr := sdk.Renderer{}.RenderChart(t.Context(), request(bad))
	_, gotErr := helmexec.Renderer{Path: child}.RenderChart(t.Context(), request(bad))
	if wantErr == nil || gotErr == nil || gotErr.Error() != wantErr.Error() || !errors.Is(gotErr, chartrender.ErrInvalidChart) {
		t.Errorf("render error in the child %v, in process %v; want the same text, an ErrInvalidChart", gotErr, wantErr)
	}
	if !strings.Contains(gotErr.Error(), "app/templates/cm.yaml:4") {
		t.Errorf("render error %q does not name the template and line", gotErr)
	}
	req := request(bad)
	req.ReleaseName = "Not_A_Name"
	if _, err := (helmexec.Renderer{Path: child}).RenderChart(t.Context(), req); !errors.Is(err, chartrender.ErrInvalidOptions) || errors.Is(err, chartrender.ErrInvalidChart) {
		t.Errorf("bad release name: %v, want ErrInvalidOptions only", err)
	}
}

// TestChildFailures: every way the child can fail is an error that names
// the chart and the program, and never a result.
func TestChildFailures(t *testing.T) {
	const chart = "/work/run/charts/app-1.0.0.tgz"
	for _, tc := range []struct {
		name, program string
		want          []string
	}{
		{"missing program", filepath.Join(t.TempDir(), "no", helmexec.Program), []string{"no such program", "GITSYNC_HELM_RENDERER"}},
		{"exits non-zero", script(t, "cat >/dev/null; echo 'sync-job-helm: something broke' >&2; exit 3"), []string{"exit status 3", "stderr: sync-job-helm: something broke"}},
		{"killed", script(t, "kill -9 $$"), []string{"signal: killed"}},
		{"garbage on stdout", script(t, "cat >/dev/null; echo 'this is not JSON'"), []string{"invalid output"}},
		{"empty output", script(t, "cat >/dev/null"), []string{"invalid output (EOF)"}},
		{"unknown field", script(t, `cat >/dev/null; echo '{"result":{"chart":"a","version":"1","files":[]},"extra":1}'`), []string{"invalid output", `unknown field "extra"`}},
		{"neither result nor error", script(t, `cat >/dev/null; echo '{}'`), []string{"exactly one of result and error"}},
		{"two responses", script(t, `cat >/dev/null; echo '{"error":{"message":"x"}}{"error":{"message":"y"}}'`), []string{"more than one response"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := helmexec.Renderer{Path: tc.program}.RenderChart(t.Context(), request(chart))
			if err == nil || res != nil {
				t.Fatalf("got %v, %v; want an error", res, err)
			}
			if !errors.Is(err, helmexec.ErrRenderer) {
				t.Errorf("%v: not an ErrRenderer", err)
			}
			for _, w := range append(tc.want, chart, tc.program) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: does not say %q", err, w)
				}
			}
		})
	}
}

// TestChildTimeout: a child that outlives the context is killed, and the
// error is the context's.
func TestChildTimeout(t *testing.T) {
	p := script(t, "exec sleep 30")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := helmexec.Renderer{Path: p}.RenderChart(ctx, request("/c/app.tgz"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "/c/app.tgz: Helm renderer") {
		t.Errorf("err %v, want DeadlineExceeded naming the chart", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s after the deadline", d)
	}
}

// TestFind: $GITSYNC_HELM_RENDERER wins; otherwise the program is next to
// the running binary.
func TestFind(t *testing.T) {
	t.Setenv(helmexec.EnvProgram, "/opt/x/renderer")
	if p, err := helmexec.Find(); err != nil || p != "/opt/x/renderer" {
		t.Errorf("Find with %s set: %q, %v", helmexec.EnvProgram, p, err)
	}
	t.Setenv(helmexec.EnvProgram, "")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, _ = filepath.EvalSymlinks(self)
	if p, err := helmexec.Find(); err != nil || p != filepath.Join(filepath.Dir(self), helmexec.Program) {
		t.Errorf("Find: %q, %v; want next to %s", p, err, self)
	}
}

// TestChildRefusesBadInput: the real child exits 1 on a request it cannot
// read, 2 on arguments, and says why on stderr.
func TestChildRefusesBadInput(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), child)
	cmd.Stdin = strings.NewReader(`{"chartPath": 1}`)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "reading the request") {
		t.Errorf("bad request: %v, %q", err, out)
	}
	out, err = exec.CommandContext(t.Context(), child, "render").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "usage") {
		t.Errorf("argument: %v, %q", err, out)
	}
	_, err = helmexec.Renderer{Path: child}.RenderChart(t.Context(), &chartrender.Request{ChartPath: "/no/such/chart", ReleaseName: "rel"})
	if !errors.Is(err, chartrender.ErrInvalidChart) || !strings.Contains(err.Error(), "/no/such/chart") {
		t.Errorf("missing chart: %v", err)
	}
}

// TestChildEnvironment: the child sees the Go runtime's settings, and
// nothing else of the parent's environment.
func TestChildEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "parent-secret")
	t.Setenv("GOGC", "77")
	out := filepath.Join(t.TempDir(), "env")
	p := script(t, "cat >/dev/null; env > "+out+"; echo '{\"error\":{\"message\":\"done\"}}'")
	if _, err := (helmexec.Renderer{Path: p}).RenderChart(t.Context(), request("/c/app.tgz")); err == nil || err.Error() != "done" {
		t.Fatalf("err %v", err)
	}
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "parent-secret") || !strings.Contains(string(env), "GOGC=77") {
		t.Errorf("child environment:\n%s", env)
	}
}

// TestChildMemoryBound: a template that allocates without bound (a range
// over 100 million numbers: about 3 GiB and a minute and a half of work)
// is stopped once the child passes MaxMemory, with an error naming the
// chart and the limit, instead of taking the Job's memory.
func TestChildMemoryBound(t *testing.T) {
	chart := writeChart(t, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\n" +
			"data:\n  x: \"{{ range until 100000000 }}x{{ end }}\"\n",
	})
	start := time.Now()
	_, err := helmexec.Renderer{Path: child, MaxMemory: 96 << 20}.RenderChart(t.Context(), request(chart))
	took := time.Since(start)
	if !errors.Is(err, helmexec.ErrTooMuchMemory) || !strings.Contains(err.Error(), chart) || !strings.Contains(err.Error(), "the limit is 96 MiB") {
		t.Fatalf("RenderChart: %v; want ErrTooMuchMemory naming the chart and the limit", err)
	}
	if took > 20*time.Second {
		t.Errorf("stopped after %v", took)
	}
	t.Logf("%v", err)
}
