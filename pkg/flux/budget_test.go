package flux

import (
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	minutes := func(u Unit) time.Duration {
		return map[string]time.Duration{"a": 1, "b": 2, "c": 3, "d": 4, "child": 5, "x": 7, "y": 7}[u.Metadata().ID.Name] * time.Minute
	}
	// a ← b ← c (dependsOn), d alone, child inside c's render.
	g := NewGraph(GraphOptions{})
	if err := g.Add(ID{}, gitRepo("ns/repo"), ks("ns/a", "repo"), ks("ns/b", "repo", "a"), ks("ns/c", "repo", "b"), ks("ns/d", "repo")); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(ID{KindKustomization, "ns", "c"}, ks("ns/child", "repo")); err != nil {
		t.Fatal(err)
	}
	// Work 15m; the longest chain a → b → c → child is 11m.
	for _, tc := range []struct {
		concurrency int
		want        time.Duration
	}{
		{1, 15*time.Minute + 11*time.Minute},
		{3, 5*time.Minute + 11*time.Minute},
		{0, 15*time.Minute/time.Duration(DefaultConcurrency) + 11*time.Minute},
	} {
		if got := Budget(g, tc.concurrency, minutes); got != tc.want {
			t.Errorf("concurrency %d: budget %v, want %v", tc.concurrency, got, tc.want)
		}
	}

	// A dependency cycle never runs: its chain is not followed around.
	g = NewGraph(GraphOptions{})
	if err := g.Add(ID{}, gitRepo("ns/repo"), ks("ns/x", "repo", "y"), ks("ns/y", "repo", "x")); err != nil {
		t.Fatal(err)
	}
	if got := Budget(g, 1, minutes); got <= 14*time.Minute || got > 28*time.Minute {
		t.Errorf("cycle: budget %v, want the work (14m) plus a finite chain", got)
	}
}
