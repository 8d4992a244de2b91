package syncrun

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/health"
)

// dependencyReady is the run's flux.ScheduleOptions.DependencyReady: it
// evaluates the readyExpr of unit u's dependsOn entry for dep, done with
// result res, as kustomize-controller and helm-controller do: `self` is
// u's object and `dep` the dependency's, each as Git holds it with
// metadata.generation 1 (gitsync creates no Flux objects in the cluster),
// and dep's status what its pass in this run would have made Flux write
// (readyStatus). The expression replaces the check that the dependency
// succeeded.
func (r *runner) dependencyReady(ctx context.Context, u flux.Unit, dep flux.ID, src string, res flux.Result) (bool, error) {
	if src == flux.ReadyWhenDone {
		return true, nil // no CEL child to start for it
	}
	expr, err := health.Compile(src) // compiled at decode: cached
	if err != nil {
		return false, err
	}
	self := r.readyObject(u.Metadata().ID)
	depObj := r.readyObject(dep)
	depObj["status"] = r.readyStatus(dep, res)
	ready, err := expr.Eval(ctx, map[string]any{"self": self, "dep": depObj})
	if err != nil {
		return false, err
	}
	r.log.Info("dependency judged by its readyExpr", "unit", u.Metadata().ID.String(), "dependency", dep.String(), "ready", ready)
	return ready, nil
}

// readyObject returns Flux object id as the run read it from Git, with
// metadata.generation 1 unless it has one.
func (r *runner) readyObject(id flux.ID) map[string]any {
	raw := r.tree.rawObject(id)
	if raw == nil {
		raw = &unstructured.Unstructured{Object: map[string]any{}}
		raw.SetKind(id.Kind)
		raw.SetNamespace(id.Namespace)
		raw.SetName(id.Name)
	}
	obj := raw.DeepCopy()
	if obj.GetGeneration() == 0 {
		obj.SetGeneration(1)
	}
	return obj.Object
}

// readyStatus is the status Flux's controller would show for unit id
// after this run's pass with result res: the Ready condition (True when it
// succeeded), the revisions, and observedGeneration 1 once the unit
// succeeded with its current spec (Flux sets it on success only; a spec
// that changed is a new generation).
func (r *runner) readyStatus(id flux.ID, res flux.Result) map[string]any {
	var attempted, applied string
	observed := false
	for _, u := range r.tree.ran() {
		if u.id != id {
			continue
		}
		attempted, applied = u.res.Revision, u.inv.Record.LastAppliedRevision
		observed = u.res.specDigest != "" && u.inv.Record.LastAppliedSpecDigest == u.res.specDigest
	}
	cond := map[string]any{"type": "Ready", "status": "False", "reason": "ReconciliationFailed", "observedGeneration": int64(1)}
	if res.Err != nil {
		cond["message"] = res.Err.Error()
	}
	switch res.Status {
	case flux.Succeeded:
		cond["status"], cond["reason"], cond["message"] = "True", "ReconciliationSucceeded", "Applied revision: "+attempted
		applied, observed = attempted, true
	case flux.Skipped:
		cond["reason"] = "DependencyNotReady"
	}
	status := map[string]any{"conditions": []any{cond}, "lastAttemptedRevision": attempted, "lastAppliedRevision": applied}
	if observed {
		status["observedGeneration"] = int64(1)
	}
	return status
}
