package source

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRemote(t *testing.T) {
	tests := []struct {
		raw      string
		insecure bool
		want     Remote
		err      string
	}{
		{raw: "git@github.com:org/app.git", want: Remote{URL: "ssh://git@github.com/org/app.git", SSH: true, HostPort: "github.com:22", User: "git"}},
		{raw: "ssh://git@h.example:2222/app", want: Remote{URL: "ssh://git@h.example:2222/app", SSH: true, HostPort: "h.example:2222", User: "git"}},
		{raw: "https://h.example/app", want: Remote{URL: "https://h.example/app", HTTPS: true}},
		{raw: "http://h.example/app", insecure: true, want: Remote{URL: "http://h.example/app"}},
		{raw: "http://h.example/app", err: "needs insecure"},
		{raw: "https://bot:s3cret@h.example/app", err: "URL holds a password"},
	}
	for _, tt := range tests {
		got, err := ParseRemote(tt.raw, tt.insecure)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: error %v, want one containing %q and no password", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.raw, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.raw, diff)
		}
	}
}

func TestGitAuthNeedsKnownHosts(t *testing.T) {
	r, err := ParseRemote("ssh://git@h.example/app", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := GitAuth(r, Credentials{Identity: []byte("x")}, 0); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Errorf("error %v, want known_hosts required", err)
	}
	h, err := ParseRemote("https://h.example/app", false)
	if err != nil {
		t.Fatal(err)
	}
	_, ca, err := GitAuth(h, Credentials{Username: "bot", Password: "p", CAPEM: []byte("ca")}, 0)
	if err != nil || string(ca) != "ca" {
		t.Errorf("https: %v %q", err, ca)
	}
}
