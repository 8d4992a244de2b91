package syncrun

import (
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// secretHint is what a run adds to a Forbidden read of a Secret of the
// sync's namespace that its spec does not name (so install did not grant
// it): a Flux object of the tree names it, and spec.flux.readSecrets is how
// the installer grants it. "" otherwise.
func (r *runner) secretHint(kind, ns, name string, err error) string {
	if kind != "Secret" || ns != r.opts.Namespace || !apierrors.IsForbidden(err) || r.sync == nil ||
		slices.Contains(r.sync.SecretNames(), name) {
		return ""
	}
	return "; to let the sync read it, list it in spec.flux.readSecrets (kubectl gitsync install ... --flux-secret " + name + ")"
}
