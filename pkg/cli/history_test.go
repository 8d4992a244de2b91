package cli

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/action"
)

func TestHistoryGolden(t *testing.T) {
	ns, stable := seedGolden(t)
	ctx := t.Context()
	tests := []struct {
		name, golden string
		args         []string
	}{
		{"table", "testdata/history/web.txt", []string{"history", "web"}},
		{"wide", "testdata/history/web-wide.txt", []string{"history", "web", "-o", "wide"}},
		{"failed run", "testdata/history/api.txt", []string{"history", "api"}},
		{"yaml", "testdata/history/api.yaml", []string{"history", "api", "-o", "yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := gitsyncCLI(ctx, append(tt.args, "--kubeconfig", env.KubeconfigPath(), "-n", ns)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tt.golden, stable(out))
		})
	}

	t.Run("json lists the entries newest first", func(t *testing.T) {
		out, _, err := gitsyncCLI(ctx, "history", "web", "-o", "json", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		must(t, err)
		var got action.HistoryList
		must(t, json.Unmarshal([]byte(out), &got))
		var numbers []int
		for _, h := range got.Items {
			numbers = append(numbers, h.Number)
		}
		if diff := cmp.Diff([]int{4, 3, 2, 1}, numbers); diff != "" || got.Sync != "web" || got.Namespace != ns {
			t.Errorf("sync %s/%s, numbers (-want +got):\n%s", got.Namespace, got.Sync, diff)
		}
	})

	t.Run("no history yet", func(t *testing.T) {
		out, errOut, err := gitsyncCLI(ctx, "history", "new", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		if err != nil || out != "" || errOut != "No history for sync new in namespace "+ns+": it has not run yet.\n" {
			t.Errorf("err %v, stdout %q, stderr %q", err, out, errOut)
		}
		out, _, err = gitsyncCLI(ctx, "history", "new", "-o", "json", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		must(t, err)
		var got action.HistoryList
		must(t, json.Unmarshal([]byte(out), &got))
		if got.Items == nil || len(got.Items) != 0 {
			t.Errorf("items %#v, want an empty list", got.Items)
		}
	})

	t.Run("unknown sync", func(t *testing.T) {
		_, _, err := gitsyncCLI(ctx, "history", "nope", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		wantExit(t, err, ExitError, "sync not found")
	})
}
