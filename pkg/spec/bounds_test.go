package spec

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDurationBounds: every duration of the spec has an upper bound, named
// with its field path, so that the Job's deadline (spec.timeout plus two Git
// timeouts plus a margin, in seconds) can never overflow.
func TestDurationBounds(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"huge timeout", syncDoc(okSource + "timeout: 2562047h"), []string{
			`spec.timeout: Invalid value: "2562047h0m0s": must be at most 24h0m0s`,
		}},
		{"huge git timeout", gitSpec("url: https://example.com/r.git\ntimeout: 100000h"), []string{
			`spec.source.git.timeout: Invalid value: "100000h0m0s": must be at most 24h0m0s`,
		}},
		{"huge helm timeout", syncDoc("source: {helm: {url: 'https://charts.example.com', chart: web, timeout: 9000h}}"), []string{
			`spec.source.helm.timeout: Invalid value: "9000h0m0s": must be at most 24h0m0s`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors; got timeout %v", s.Spec.Timeout)
			}
			if diff := cmp.Diff(tt.want, errorStrings(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	// The largest accepted values still give a deadline that fits.
	s, err := Parse([]byte(gitSpec("url: https://example.com/r.git\ntimeout: 24h") + "  timeout: 24h\n"))
	if err != nil {
		t.Fatalf("the largest durations are refused: %v", err)
	}
	total := s.Spec.Timeout.Duration + 2*s.Spec.Source.Git.Timeout.Duration
	if total != 72*time.Hour {
		t.Errorf("timeout + 2 git timeouts = %v", total)
	}
}
