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
