package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOutputFormats checks kubectl's output flags on the printing commands:
// -o name, jsonpath and go-template through cli-runtime's printers, and
// --no-headers, which leaves the table as it is but for its header.
func TestOutputFormats(t *testing.T) {
	ns, stable := seedGolden(t)
	ctx := t.Context()
	kc := []string{"--kubeconfig", env.KubeconfigPath(), "-n", ns}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, err := gitsyncCLI(ctx, append(args, kc...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		return stable(out)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"status name", []string{"status", "-o", "name"}, "sync.gitsync.io/api\nsync.gitsync.io/new\nsync.gitsync.io/web\n"},
		{"status NAME name", []string{"status", "web", "-o", "name"}, "sync.gitsync.io/web\n"},
		{"status jsonpath", []string{"status", "-o", "jsonpath={.items[*].name}"}, "api new web"},
		{"status jsonpath range", []string{"status", "-o", `jsonpath={range .items[*]}{.name}={.suspended}{"\n"}{end}`}, "api=true\nnew=false\nweb=false\n"},
		{"status go-template", []string{"status", "web", "-o", "go-template={{.lastRun.result}} {{.objects}}"}, "Succeeded 8"},
		{"status --template", []string{"status", "web", "--template", "{{.schedule}}"}, "30 4 * * 0"},
		{"history jsonpath", []string{"history", "web", "-o", "jsonpath={.items[*].number}"}, "4 3 2 1"},
		{"history name", []string{"history", "api", "-o", "name"}, "configmap/gitsync-api-rev-2\nconfigmap/gitsync-api-rev-1\n"},
		{"tree name", []string{"tree", "api", "-o", "name"}, "configmap/api-config\ndeployment.apps/api\nservice/api\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, run(t, tt.args...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// The rows of the golden tables, cell by cell; the columns are only as
	// wide as the rows need, as with kubectl get --no-headers.
	cells := func(table string) [][]string {
		var out [][]string
		for _, l := range strings.Split(strings.TrimSuffix(table, "\n"), "\n") {
			out = append(out, strings.Split(strings.Join(strings.Fields(l), " "), " "))
		}
		return out
	}
	t.Run("--no-headers", func(t *testing.T) {
		for args, file := range map[string]string{"status": "testdata/status/table.txt", "status -o wide": "testdata/status/wide.txt", "history web": "testdata/history/web.txt"} {
			table, err := os.ReadFile(file)
			must(t, err)
			want := cells(string(table))[1:]
			if diff := cmp.Diff(want, cells(run(t, append(strings.Fields(args), "--no-headers")...))); diff != "" {
				t.Errorf("%s --no-headers (-want +got):\n%s", args, diff)
			}
		}
	})

	t.Run("bad formats", func(t *testing.T) {
		for _, args := range [][]string{{"status", "-o", "custom-columns=NAME:.name"}, {"tree", "web", "-o", "wide"}, {"status", "-o", "jsonpath="}} {
			_, _, err := gitsyncCLI(ctx, append(args, kc...)...)
			wantExit(t, err, ExitError, "--output:")
		}
	})
}
