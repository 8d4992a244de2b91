package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestShortRevision(t *testing.T) {
	for in, want := range map[string]string{
		"":     "-",
		revWeb: "main@sha1:3f2a1b2c",
		"sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901a2b3c4": "sha1:0a1b2c3d",
		"v1.2.0@sha256:00112233445566778899":            "v1.2.0@sha256:00112233",
		"main@sha1:abc":                                 "main@sha1:abc",
		"latest":                                        "latest",
	} {
		if got := ShortRevision(in); got != want {
			t.Errorf("ShortRevision(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHumanTimes(t *testing.T) {
	now := goldenNow
	tests := []struct{ got, want string }{
		{HumanAge(now, time.Time{}), "-"},
		{HumanAge(now, now.Add(-45*time.Second)), "45s"},
		{HumanAge(now, now.Add(-5*time.Minute)), "5m"},
		{HumanAge(now, now.Add(-50*time.Hour)), "2d2h"},
		{HumanUntil(now, now.Add(3*time.Minute)), "in 3m"},
		{HumanUntil(now, now.Add(-time.Minute)), "now"},
		{HumanUntil(now, time.Time{}), "-"},
		{HumanDuration(0), "-"},
		{HumanDuration(420 * time.Millisecond), "420ms"},
		{HumanDuration(1234 * time.Millisecond), "1.23s"},
		{HumanDuration(150 * time.Second), "2m30s"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestFormatCounts(t *testing.T) {
	got := FormatCounts(map[string]int{"Failed": 1, "unchanged": 9, "created": 2, "Zeta": 1, "skipped": 0})
	if want := "created 2, unchanged 9, failed 1, zeta 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := FormatCounts(nil); got != "-" {
		t.Errorf("empty: %q", got)
	}
}

func TestOneLine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"a longer message", 8, "a longe…"},
		{"first\nsecond", 0, "first …"},
		{"  padded  \n", 0, "padded"},
	} {
		if got := OneLine(tt.in, tt.max); got != tt.want {
			t.Errorf("OneLine(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestValidateSyncName(t *testing.T) {
	for name, ok := range map[string]bool{
		"web": true, "web-2": true, "": false, "Web": false, "a/b": false, "web.prod": false,
		strings.Repeat("a", 44): true, strings.Repeat("a", 45): false,
	} {
		if err := ValidateSyncName(name); (err == nil) != ok {
			t.Errorf("ValidateSyncName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

// TestHelp checks that every command of this package's operations reads
// well in `kubectl gitsync --help`: a short line without a final period, an
// example in kubectl's style, and a Long text for the non-obvious ones.
func TestHelp(t *testing.T) {
	root := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	mine := map[string]bool{"status": true, "history": true, "tree": true, "trace": true, "suspend": true,
		"resume": true, "uninstall": true, "check": true, "logs": true}
	found := map[string]bool{}
	for _, cmd := range root.Commands() {
		if !mine[cmd.Name()] {
			continue
		}
		found[cmd.Name()] = true
		t.Run(cmd.Name(), func(t *testing.T) {
			if cmd.Short == "" || strings.HasSuffix(cmd.Short, ".") || cmd.Short[0] < 'A' || cmd.Short[0] > 'Z' {
				t.Errorf("Short %q", cmd.Short)
			}
			if cmd.Long == "" {
				t.Error("no Long")
			}
			if !strings.HasPrefix(cmd.Example, "  # ") || !strings.Contains(cmd.Example, "\n  kubectl gitsync "+cmd.Name()) {
				t.Errorf("Example not in kubectl's style:\n%s", cmd.Example)
			}
			if strings.Contains(cmd.Use, "NAME") && cmd.ValidArgsFunction == nil && cmd.Name() != "trace" {
				t.Error("takes NAME but does not complete it")
			}
			var out bytes.Buffer
			cmd.SetOut(&out)
			if err := cmd.Help(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "kubectl gitsync "+cmd.Name()) {
				t.Errorf("help does not show the command as a kubectl plugin:\n%s", out.String())
			}
		})
	}
	if len(found) != len(mine) {
		t.Errorf("commands registered: %v, want %v", found, mine)
	}
}
