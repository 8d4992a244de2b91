package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/version"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		args    []string
		check   func(t *testing.T, out string)
		wantErr string
	}{
		{args: []string{"version"}, check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "kubectl-gitsync "+version.Version+" ") {
				t.Errorf("output %q does not start with the version", out)
			}
		}},
		{args: []string{"version", "-o", "json"}, check: func(t *testing.T, out string) {
			var got struct {
				Plugin       version.Info
				SyncJobImage string
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if got.Plugin.Version != version.Version || got.Plugin.GoVersion == "" || !strings.HasSuffix(got.SyncJobImage, ":"+version.Version) {
				t.Errorf("got %+v", got.Plugin)
			}
		}},
		{args: []string{"version", "-o", "wide"}, wantErr: "--output: must be json or yaml"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			cmd := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out})
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if ExitCode(err) != ExitError {
					t.Errorf("exit code %d, want %d", ExitCode(err), ExitError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, out.String())
		})
	}
}
