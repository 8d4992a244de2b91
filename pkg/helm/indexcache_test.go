package helm

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// TestIndexCacheReadsEachIndexOnce resolves several charts of one real
// HTTP repository with and without a run's IndexCache.
func TestIndexCacheReadsEachIndexOnce(t *testing.T) {
	r, err := helmrepo.StartRepo(helmrepo.RepoOptions{Username: "user", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	for _, c := range []helmrepo.Chart{simpleChart("web", "1.0.0"), simpleChart("web", "1.1.0"), simpleChart("api", "2.0.0"), simpleChart("db", "3.0.0")} {
		if _, err := r.Publish(c); err != nil {
			t.Fatal(err)
		}
	}
	auth := source.Credentials{Username: "user", Password: "secret", CAPEM: r.CA().CertPEM}
	charts := []ChartSource{
		{URL: r.URL(), Chart: "web", Auth: auth},
		{URL: r.URL(), Chart: "api", Auth: auth},
		{URL: r.URL(), Chart: "db", Auth: auth},
		{URL: r.URL(), Chart: "web", Version: "1.0.0", Auth: auth},
	}
	want := []string{"1.1.0", "2.0.0", "3.0.0", "1.0.0"}

	// Without a cache: one download per chart, as before.
	before := r.Requests("index.yaml")
	for i, c := range charts {
		res, err := Resolve(t.Context(), c)
		if err != nil || res.Version != want[i] {
			t.Fatalf("%s: %v, %v", c.Chart, res, err)
		}
	}
	if n := r.Requests("index.yaml") - before; n != len(charts) {
		t.Errorf("without a cache: %d index downloads, want %d", n, len(charts))
	}

	// With a cache, concurrently as units resolve: one download, and
	// every chart resolves as without it.
	cache := NewIndexCache(t.TempDir())
	ctx := WithIndexCache(t.Context(), cache)
	before = r.Requests("index.yaml")
	var wg sync.WaitGroup
	errs := make([]error, len(charts))
	for i, c := range charts {
		wg.Go(func() {
			res, err := Resolve(ctx, c)
			if err == nil && res.Version != want[i] {
				err = errors.New(c.Chart + ": resolved " + res.Version + ", want " + want[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := r.Requests("index.yaml") - before; n != 1 || cache.Downloads() != 1 {
		t.Errorf("with a cache: %d index downloads (cache counted %d), want 1", n, cache.Downloads())
	}

	// Other credentials are another index: a wrong password is refused,
	// not answered from the cache.
	bad := ChartSource{URL: r.URL(), Chart: "web", Auth: source.Credentials{Username: "user", Password: "WRONG", CAPEM: r.CA().CertPEM}}
	if _, err := Resolve(ctx, bad); !errors.Is(err, ErrAuthentication) {
		t.Errorf("wrong password through the cache: %v, want ErrAuthentication", err)
	}
	// A failed download is remembered for the run.
	before = r.Requests("index.yaml")
	if _, err := Resolve(ctx, bad); !errors.Is(err, ErrAuthentication) || r.Requests("index.yaml") != before {
		t.Errorf("second failing resolve: %v, %d more requests; want the remembered error and none", err, r.Requests("index.yaml")-before)
	}

	// Close removes the files; the cache is then unusable.
	files, _ := os.ReadDir(cache.dir)
	if len(files) != 1 {
		t.Errorf("%d files in the cache directory, want 1", len(files))
	}
	if err := cache.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(cache.dir); len(files) != 0 {
		t.Errorf("files left after Close: %v", files)
	}
	if _, err := Resolve(ctx, charts[0]); err == nil {
		t.Error("Resolve through a closed cache succeeded")
	}
}
