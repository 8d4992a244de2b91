package syncrun

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/spec"
)

// lockDown holds s to the lockdown of the sync's namespace (pkg/lockdown),
// p as lockdown.Read returned it with err (loadSpec reads it beside the
// spec): the default ServiceAccount for a spec that names none,
// cross-namespace references refused. Both change s, so they join the spec
// digest and a changed lockdown makes the next run render. Units get the
// default ServiceAccount in fluxDestination.
//
// A run that cannot read its Namespace cannot tell whether it is locked
// down, and stops before it uses the spec: install grants that read
// (pkg/install ownRules). A render for build or diff, made as the
// plugin's user, goes on without the lockdown and says so.
func (r *runner) lockDown(s *spec.Sync, p lockdown.Policy, err error) error {
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
