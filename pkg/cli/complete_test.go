package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
