package syncrun

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/spec"
)

// lockDown reads the lockdown of the sync's namespace (pkg/lockdown) and
// holds s to it: the default ServiceAccount for a spec that names none,
// cross-namespace references refused. Both change s, so they join the spec
// digest and a changed lockdown makes the next run render. Units get the
// default ServiceAccount in fluxDestination.
//
// A run that cannot read its Namespace cannot tell whether it is locked
// down, and stops before it reads anything else: install grants that read
// (pkg/install ownRules). A render for build or diff, made as the
// plugin's user, goes on without the lockdown and says so.
func (r *runner) lockDown(ctx context.Context, s *spec.Sync) error {
	p, err := lockdown.Read(ctx, r.client, r.opts.Namespace)
	if err != nil {
		if r.dests.callerOnly && apierrors.IsForbidden(err) {
			r.log.Warn("rendering without the namespace's lockdown", "error", err)
			return nil
		}
		return &SpecError{err}
	}
	r.lockdown = p
	if changed := p.Apply(s); len(changed) > 0 {
		r.log.Info("namespace lockdown applied", "namespace", r.opts.Namespace, "set", changed)
	}
	return nil
}
