package format

import (
	"testing"
	"time"
)

func TestRevision(t *testing.T) {
	for in, want := range map[string]string{
		"": "-",
		"main@sha1:3f2a1b2c4d5e6f708192a3b4c5d6e7f801234567": "main@sha1:3f2a1b2c",
		"sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901a2b3c4":      "sha1:0a1b2c3d",
		"v1.2.0@sha256:00112233445566778899":                 "v1.2.0@sha256:00112233",
		"main@sha1:abc":                                      "main@sha1:abc",
		"latest":                                             "latest",
	} {
		if got := Revision(in); got != want {
			t.Errorf("Revision(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHumanTimes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct{ got, want string }{
		{Age(now, time.Time{}), "-"},
		{Age(now, now.Add(-45*time.Second)), "45s"},
		{Age(now, now.Add(-5*time.Minute)), "5m"},
		{Age(now, now.Add(-50*time.Hour)), "2d2h"},
		{Until(now, now.Add(3*time.Minute)), "in 3m"},
		{Until(now, now.Add(-time.Minute)), "now"},
		{Until(now, time.Time{}), "-"},
		{Duration(0), "-"},
		{Duration(420 * time.Millisecond), "420ms"},
		{Duration(1234 * time.Millisecond), "1.23s"},
		{Duration(150 * time.Second), "2m30s"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestCounts(t *testing.T) {
	got := Counts(map[string]int{"Failed": 1, "unchanged": 9, "created": 2, "Zeta": 1, "skipped": 0})
	if want := "created 2, unchanged 9, failed 1, zeta 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Counts(nil); got != "-" {
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
