package jobargs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestArgvParseRoundTrip(t *testing.T) {
	for _, a := range []Args{
		{},
		{Sync: "web"},
		{Sync: "web", Scope: ScopeNamespace, WorkDir: "/tmp"},
		{Sync: "web", Scope: ScopeCluster, WorkDir: "/tmp", Revision: "main@sha1:" + strings.Repeat("a", 40)},
		{Sync: "web", LogFormat: "text", LogLevel: "debug", Concurrency: 4, Revision: "sha1:" + strings.Repeat("b", 40)},
	} {
		got, err := Parse(a.Argv())
		if err != nil {
			t.Fatalf("Parse(%q): %v", a.Argv(), err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", a.Argv(), diff)
		}
	}
}

func TestArgvForm(t *testing.T) {
	// What install has always written, and a pin after it.
	a := Args{Sync: "web", Scope: ScopeNamespace, WorkDir: "/tmp", Revision: "R"}
	want := []string{"--sync", "web", "--scope", "namespace", "--work-dir", "/tmp", "--revision=R"}
	if diff := cmp.Diff(want, a.Argv()); diff != "" {
		t.Errorf("Argv (-want +got):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		argv    []string
		want    Args
		wantErr string
	}{
		{argv: []string{"--sync=web", "--scope", "namespace"}, want: Args{Sync: "web", Scope: ScopeNamespace}},
		{argv: []string{"--revision", "R", "--sync", "web"}, want: Args{Sync: "web", Revision: "R"}},
		{argv: []string{"--sync", "web", "--kubeconfig", "/k"}, wantErr: "unknown flag: --kubeconfig"},
		{argv: []string{"--sync", "web", "extra"}, wantErr: `unexpected "extra"`},
		{argv: []string{"--concurrency", "many"}, wantErr: "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			got, err := Parse(tt.argv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for a, want := range map[Args]string{
		{Sync: "web"}:                  "",
		{Sync: "web", Scope: "global"}: `--scope: must be cluster or namespace, not "global"`,
		{}:                             "--sync is required",
	} {
		err := a.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != want {
				t.Errorf("%+v: %q, want %q", a, got, want)
			}
		} else if want != "" {
			t.Errorf("%+v: no error, want %q", a, want)
		}
	}
}
