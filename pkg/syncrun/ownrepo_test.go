package syncrun

import "testing"

// TestSameRepository: flux bootstrap writes the cluster's repository as
// ssh://git@host/org/repo, while the sync may read it over HTTPS or with
// Git's scp-like syntax; those name the same repository. Other hosts,
// paths and repositories do not.
func TestSameRepository(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"ssh://git@github.com/example/fleet", "https://github.com/example/fleet.git", true},
		{"ssh://git@github.com:22/example/fleet.git", "https://GitHub.com/example/fleet/", true},
		{"git@github.com:example/fleet.git", "https://github.com/example/fleet", true},
		{"https://user@gitlab.example.com:443/group/sub/fleet", "ssh://git@gitlab.example.com/group/sub/fleet.git", true},
		{"http://127.0.0.1:8080/fleet", "http://127.0.0.1:8080/fleet.git", true},
		{"ssh://git@github.com/example/fleet", "https://github.com/example/fleet-2", false},
		{"ssh://git@github.com/example/fleet", "https://gitlab.com/example/fleet", false},
		{"http://127.0.0.1:8080/fleet", "http://127.0.0.1:8081/fleet", false},
		{"ssh://git@github.com/Example/fleet", "https://github.com/example/fleet", false},
		{"", "", false},
	} {
		if got := sameRepository(tc.a, tc.b); got != tc.want {
			t.Errorf("sameRepository(%q, %q) = %v, want %v (keys %q, %q)", tc.a, tc.b, got, tc.want, repositoryKey(tc.a), repositoryKey(tc.b))
		}
	}
}
