package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanDependencies guards a cut that made sync-job smaller and quicker
// to start (docs/benchmarks.md, "Binary and start-up"): a run links none of
// the plugin's CLI packages. Put new command-line code for sync-job in this
// package, with pflag and client-go's clientcmd.
func TestLeanDependencies(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	refused := []string{
		"github.com/spf13/cobra",
		"k8s.io/cli-runtime/",
		"k8s.io/kubectl/",
		"github.com/gitsync/gitsync/pkg/cli",
		"github.com/gitsync/gitsync/pkg/action",
		// The Helm SDK renders in a child process (cmd/sync-job-helm);
		// only helm.sh/helm/v4/pkg/strvals, which has no dependencies, is
		// linked.
		"helm.sh/helm/v4/pkg/engine",
		"helm.sh/helm/v4/pkg/chart/",
		"helm.sh/helm/v4/pkg/release/",
		"github.com/gitsync/gitsync/pkg/helm/sdk",
		// client-go's clientset and discovery register every API group's
		// types (kubernetes/scheme); sync-job uses pkg/kube instead.
		"k8s.io/client-go/kubernetes/",
		"k8s.io/client-go/discovery/",
		// Sigstore bundles and keyless signatures are checked in the same
		// child process (`sync-job-helm verify`, pkg/source/oci/sigcheck):
		// sigstore-go and what it brings (Rekor's OpenAPI client, TUF,
		// in-toto, gRPC) were 6 MB of the binary and 6 MiB of a run's peak.
		"github.com/sigstore/",
		"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sdk",
		"google.golang.org/grpc",
		"github.com/go-openapi/runtime",
		"github.com/go-openapi/strfmt",
		"github.com/asaskevich/govalidator",
		// healthCheckExprs compile and evaluate in the child too
		// (`sync-job-helm cel`, pkg/health/celexec): cel-go was 5.6 MB.
		"github.com/google/cel-go/",
		"github.com/antlr4-go/antlr/",
		"github.com/gitsync/gitsync/pkg/health/celeval",
		// The metrics are written in the text format by hand (pkg/metrics):
		// client_golang's init (procfs, runtime/metrics, expvar) cost every
		// run's start more than a push does.
		"github.com/prometheus/",
	}
	for _, p := range deps {
		if r := matching(p, refused); r != "" {
			t.Errorf("sync-job links %s (refused: %s)", p, r)
		}
	}
	t.Run("no clientset in gitsync packages", noClientset)
}

// noClientset names the gitsync package that brings client-go's clientset
// or discovery back into sync-job, and says what to use instead.
func noClientset(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	refused := []string{"k8s.io/client-go/kubernetes/", "k8s.io/client-go/discovery/"}
	ours := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "github.com/gitsync/gitsync/") {
			continue
		}
		ours++
		for _, imp := range f[1:] {
			if r := matching(imp, refused); r != "" {
				t.Errorf("%s imports %s (refused in sync-job: %s; use pkg/kube)", f[0], imp, r)
			}
		}
	}
	if ours < 10 {
		t.Fatalf("go list -deps listed %d gitsync packages:\n%s", ours, out)
	}
}

// matching returns the entry of refused that p is or is under, or "". An
// entry ending in "/" refuses the package and everything under it.
func matching(p string, refused []string) string {
	for _, r := range refused {
		if p == strings.TrimSuffix(r, "/") || strings.HasPrefix(p, r) || strings.HasPrefix(p, r+"/") {
			return r
		}
	}
	return ""
}

func TestHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if got := run(t.Context(), []string{"--help"}, &stdout, &stderr); got != exitOK {
		t.Fatalf("--help: exit %d: %s", got, stderr.String())
	}
	for _, want := range []string{"sync-job --sync NAME", "--kubeconfig", "--namespace", "--sync", "Exit codes"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help does not mention %q:\n%s", want, stdout.String())
		}
	}
	if got := run(t.Context(), []string{"frobnicate"}, &stdout, &stderr); got != exitUsage || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("sync-job frobnicate: exit %d, stderr %q; want %d and the command named", got, stderr.String(), exitUsage)
	}
}
