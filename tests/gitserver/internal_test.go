package gitserver

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseGitCommand checks how SSH exec commands are split and unquoted.
func TestParseGitCommand(t *testing.T) {
	tests := []struct {
		command, service, repo string
		wantErr                bool
	}{
		{command: "git-upload-pack '/app.git'", service: "upload-pack", repo: "/app.git"},
		{command: "git-receive-pack 'team/app.git'", service: "receive-pack", repo: "team/app.git"},
		{command: "git upload-pack '/app.git'", service: "upload-pack", repo: "/app.git"},
		{command: "git-upload-pack /app.git", service: "upload-pack", repo: "/app.git"},
		{command: `git-upload-pack '/it'\''s.git'`, service: "upload-pack", repo: "/it's.git"},
		{command: `git-upload-pack '/a b.git'`, service: "upload-pack", repo: "/a b.git"},
		{command: "git-upload-pack '~/app.git'", service: "upload-pack", repo: "~/app.git"},
		{command: "git-upload-pack", wantErr: true},
		{command: "git-upload-pack ''", wantErr: true},
		{command: "git-upload-pack '-x'", wantErr: true},
		{command: "git-upload-pack 'a' 'b'", wantErr: true},
		{command: "git-upload-pack 'a';id", wantErr: true},
		{command: "git-upload-pack a$(id)", wantErr: true},
		{command: "git-upload-pack `id`", wantErr: true},
		{command: "git-upload-pack 'unterminated", wantErr: true},
		{command: `git-upload-pack trailing\`, wantErr: true},
		{command: "git-upload-archive '/app.git'", wantErr: true},
		{command: "git upload-archive '/app.git'", wantErr: true},
		{command: "git", wantErr: true},
		{command: "sh -c id", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			service, repo, err := parseGitCommand(tt.command)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed as %q %q, want an error", service, repo)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([2]string{tt.service, tt.repo}, [2]string{service, repo}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestQuotePath checks the C-style quoting of fast-import paths.
func TestQuotePath(t *testing.T) {
	tests := map[string]string{
		"a/b.yaml":      `"a/b.yaml"`,
		`say "hi"`:      `"say \"hi\""`,
		`back\slash`:    `"back\\slash"`,
		"tab\there":     `"tab\011here"`,
		"ünï":           `"ünï"`,
		"space in name": `"space in name"`,
	}
	for in, want := range tests {
		if got := quotePath(in); got != want {
			t.Errorf("quotePath(%q) = %s, want %s", in, got, want)
		}
	}
}
