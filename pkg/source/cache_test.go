package source_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
)

// countingSource counts its calls and writes one file per Fetch. The
// cache is pure bookkeeping, so a stub stands in for a server here; the
// run's tests (pkg/syncrun) use it with real Git and Helm servers.
type countingSource struct {
	rev              source.Revision
	resolves, fetchs atomic.Int32
	fail             error
}

func (s *countingSource) Resolve(context.Context) (source.Revision, error) {
	s.resolves.Add(1)
	return s.rev, s.fail
}

func (s *countingSource) Fetch(_ context.Context, rev source.Revision, dir string) (*source.Artifact, error) {
	s.fetchs.Add(1)
	if err := os.WriteFile(filepath.Join(dir, "rev"), []byte(rev), 0o600); err != nil {
		return nil, err
	}
	return &source.Artifact{Dir: dir, Revision: rev}, s.fail
}

func (s *countingSource) ContentDigest(rev source.Revision) string { return "digest-of-" + string(rev) }

func TestCacheSharesResolveAndFetch(t *testing.T) {
	c := source.NewCache(t.TempDir())
	a := &countingSource{rev: "main@sha1:" + sha1a}
	other := &countingSource{rev: "1.2.3"}

	// The first user's Source is the one the key keeps; every later user
	// brings its own, which is never asked.
	if _, err := c.Resolve(t.Context(), "git:a", a); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	arts := make([]*source.Artifact, 8)
	for i := range arts {
		wg.Go(func() {
			src := &countingSource{rev: "never@sha1:" + sha1b}
			r, err := c.Resolve(t.Context(), "git:a", src)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Revision != a.rev || r.Source != a || r.ContentDigest != "digest-of-"+string(a.rev) {
				t.Errorf("Resolve = %+v, want the first source's revision", r)
			}
			arts[i], err = c.Fetch(t.Context(), r)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if a.resolves.Load() != 1 || a.fetchs.Load() != 1 {
		t.Errorf("source resolved %d and fetched %d times, want once each", a.resolves.Load(), a.fetchs.Load())
	}
	for _, art := range arts[1:] {
		if art != arts[0] {
			t.Fatalf("artifacts differ: %+v and %+v", art, arts[0])
		}
	}

	r, err := c.Resolve(t.Context(), "helm:b", other)
	if err != nil {
		t.Fatal(err)
	}
	artB, err := c.Fetch(t.Context(), r)
	if err != nil || artB.Dir == arts[0].Dir || other.resolves.Load() != 1 {
		t.Fatalf("second key: %+v, %v; want its own resolve and directory", artB, err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{arts[0].Dir, artB.Dir} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v, want removed", dir, err)
		}
	}
	if _, err := c.Resolve(t.Context(), "git:a", a); err == nil {
		t.Error("Resolve after Close: no error")
	}
}

func TestCacheRemembersFailures(t *testing.T) {
	c := source.NewCache(t.TempDir())
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	bad := &countingSource{fail: errors.New("refused")}
	for range 2 {
		if _, err := c.Resolve(t.Context(), "k", bad); err == nil || err.Error() != "refused" {
			t.Fatalf("Resolve = %v, want the source's error", err)
		}
	}
	if bad.resolves.Load() != 1 {
		t.Errorf("a failing source was asked %d times, want once", bad.resolves.Load())
	}

	dir := t.TempDir()
	failing := &countingSource{rev: "sha256:" + sha256a}
	c2 := source.NewCache(dir)
	r, err := c2.Resolve(t.Context(), "k", failing)
	if err != nil {
		t.Fatal(err)
	}
	failing.fail = errors.New("download failed")
	for range 2 {
		if _, err := c2.Fetch(t.Context(), r); err == nil {
			t.Fatal("Fetch: no error")
		}
	}
	if failing.fetchs.Load() != 1 {
		t.Errorf("a failing fetch ran %d times, want once", failing.fetchs.Load())
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a failed fetch left %d entries in the cache directory", len(left))
	}
}
