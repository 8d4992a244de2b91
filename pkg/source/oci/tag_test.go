package oci

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidTag holds validTag to the grammar of an OCI tag, written as the
// regular expression of the distribution spec.
func TestValidTag(t *testing.T) {
	grammar := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	for _, tag := range []string{
		"", "latest", "v1.2.3", "_x", "1", "a-b_c.d", ".hidden", "-x", "a/b", "a:b", "a b", "ä", "a@sha256",
		"A" + strings.Repeat("b", 127), "A" + strings.Repeat("b", 128), strings.Repeat("-", 3), "x\n",
	} {
		if got, want := validTag(tag), grammar.MatchString(tag); got != want {
			t.Errorf("validTag(%q) = %v, want %v", tag, got, want)
		}
	}
}
