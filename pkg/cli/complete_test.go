package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync/gitsync/tests/cluster"
)

func TestCompleteSyncNames(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	ns := env.NewNamespace(t)
	seedSync(t, ns, syncFixture{name: "web", url: "https://git.example.com/web.git", schedule: "0 4 * * *", suspend: true})
	seedSync(t, ns, syncFixture{name: "worker", url: "https://git.example.com/worker.git", schedule: "0 4 * * *", suspend: true})
	// Named like a spec but without the key, and a spec written from Git
	// without install's labels.
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-notaspec"}, Data: map[string]string{"other": "x"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-api"}, Data: map[string]string{"sync.yaml": "from git"}},
	} {
		_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		must(t, err)
	}

	complete := func(t *testing.T, args ...string) []string {
		t.Helper()
		out, _, err := gitsyncCLI(ctx, append([]string{"__complete"}, args...)...)
		must(t, err)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// The last line is cobra's directive: ":4" is NoFileComp.
		if last := lines[len(lines)-1]; last != ":4" {
			t.Errorf("directive %q, want :4", last)
		}
		return lines[:len(lines)-1]
	}
	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}
	for _, cmd := range []string{"status", "history", "tree", "suspend", "resume", "uninstall", "logs"} {
		t.Run(cmd, func(t *testing.T) {
			got := complete(t, append(append([]string{cmd}, kc...), "")...)
			if diff := cmp.Diff([]string{"api", "web", "worker"}, got); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("prefix", func(t *testing.T) {
		if diff := cmp.Diff([]string{"web", "worker"}, complete(t, append(append([]string{"status"}, kc...), "w")...)); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("second argument", func(t *testing.T) {
		if got := complete(t, append(append([]string{"history"}, kc...), "web", "")...); len(got) != 0 {
			t.Errorf("completions %v, want none", got)
		}
	})
	t.Run("unreachable cluster", func(t *testing.T) {
		if got := complete(t, "status", "--server", "https://127.0.0.1:1", ""); len(got) != 0 {
			t.Errorf("completions %v, want none", got)
		}
	})
}

func TestCompleteNamespaceAndContext(t *testing.T) {
	ns := env.NewNamespace(t)
	out, _, err := gitsyncCLI(t.Context(), "__complete", "status", "--kubeconfig", env.KubeconfigPath(), "-n", ns[:len(ns)-3])
	must(t, err)
	if !slices.Contains(strings.Split(out, "\n"), ns) {
		t.Errorf("-n completions lack %s:\n%s", ns, out)
	}
	out, _, err = gitsyncCLI(t.Context(), "__complete", "status", "--kubeconfig", env.KubeconfigPath(), "--context", "")
	must(t, err)
	raw, err := clientcmd.LoadFromFile(env.KubeconfigPath())
	must(t, err)
	for name := range raw.Contexts {
		if !slices.Contains(strings.Split(out, "\n"), name) {
			t.Errorf("--context completions lack %s:\n%s", name, out)
		}
	}
}

// TestCompletionThroughKubectl runs the real kubectl of the test cluster's
// binaries with the plugin and its completion shim on PATH, as krew (and
// the caveat's link) leave them: `kubectl gitsync <TAB>` and `-n <TAB>`
// complete through kubectl_complete-gitsync.
func TestCompletionThroughKubectl(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the shim is a shell script; Windows has kubectl_complete-gitsync.cmd")
	}
	bin, err := cluster.TestbinDir()
	must(t, err)
	dir := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(dir, "kubectl-gitsync"), "../../cmd/kubectl-gitsync")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	shim, err := os.ReadFile("../../cmd/kubectl-gitsync/kubectl_complete-gitsync")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "kubectl_complete-gitsync"), shim, 0o755))
	must(t, os.Symlink(filepath.Join(bin, "kubectl"), filepath.Join(dir, "kubectl")))

	ns := env.NewNamespace(t)
	seedSync(t, ns, syncFixture{name: "web", url: "https://git.example.com/web.git", schedule: "0 4 * * *", suspend: true})
	kubectl := func(args ...string) []string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(dir, "kubectl"), args...)
		cmd.Env = append(os.Environ(), "PATH="+dir, "KUBECONFIG="+env.KubeconfigPath())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	if got := kubectl("__complete", "gitsync", "sta"); !slices.Contains(got, "status\tShow the state of syncs: revision, last run, objects, next run") {
		t.Errorf("kubectl gitsync sta<TAB>: %q", got)
	}
	if got := kubectl("__complete", "gitsync", "status", "-n", ns, "w"); !slices.Contains(got, "web") {
		t.Errorf("kubectl gitsync status -n NS w<TAB>: %q", got)
	}
	if got := kubectl("__complete", "gitsync", "status", "-n", ns[:len(ns)-2]); !slices.Contains(got, ns) {
		t.Errorf("kubectl gitsync status -n <TAB>: %q", got)
	}
}
