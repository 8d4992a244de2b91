package syncrun

import "testing"

// TestHelmIndexReadOncePerRun: the Flux tree's two HelmReleases podinfo
// and web read charts of one HTTP repository through two HelmRepository
// objects of the same URL and CA; a run downloads its index once, whether
// it renders (the first run) or only resolves (nothing changed).
func TestHelmIndexReadOncePerRun(t *testing.T) {
	f, ft := newFluxTree(t)
	for _, what := range []string{"first run", "nothing changed"} {
		before := ft.repo.Requests("index.yaml")
		res := f.run()
		mustUnitsSucceed(t, res)
		if n := ft.repo.Requests("index.yaml") - before; n != 1 {
			t.Errorf("%s: %d downloads of index.yaml, want 1 for the two charts of the repository", what, n)
		}
	}
}
