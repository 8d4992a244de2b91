package gitserver

import "testing"

// StartTest starts a server for the test t with Start, fails the test if it
// cannot, and closes it when the test ends, reporting a failed Close.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("gitserver.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("gitserver: Close: %v", err)
		}
	})
	return s
}

// StartTestRepo is StartTest with one repository, name, created empty.
func StartTestRepo(t testing.TB, opts Options, name string) (*Server, *Repo) {
	t.Helper()
	s := StartTest(t, opts)
	repo, err := s.CreateRepo(t.Context(), name)
	if err != nil {
		t.Fatalf("gitserver: CreateRepo %s: %v", name, err)
	}
	return s, repo
}
