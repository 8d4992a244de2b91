package syncrun

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// DependencyNotReady: a sync this one depends on (spec.dependsOn) has not
// applied its latest revision or is not healthy, so the run applied
// nothing. It is not a failure: the run exits 0, no failure is notified,
// and the dependency's next success starts the run again.
const DependencyNotReady Outcome = "DependencyNotReady"

// dependsOnBudget bounds reading the dependencies, and starting the
// dependents, of one run.
const dependsOnBudget = 20 * time.Second

// waitOnDependencies is the run's dependency gate, called before anything
// is resolved, fetched or applied. When every sync of spec.dependsOn is
// ready it returns false and the run goes on. Otherwise it finishes the
// run itself and returns true: a dependency not ready is recorded as
// DependencyNotReady (one history entry and one Event per new reason, so a
// long wait does not flood them), a cycle among the syncs' dependsOn as a
// failure; the Lease is released either way.
//
// A dependency is ready, as in Flux, when its last run succeeded (which
// includes its health checks and those of its units) and its last applied
// revision is its last attempted one.
func (r *runner) waitOnDependencies(ctx context.Context, inv *inventory.Inventory, res *Result) bool {
	deps := r.sync.DependenciesIn(r.opts.Namespace)
	if len(deps) == 0 {
		return false
	}
	gctx, cancel := context.WithTimeout(ctx, dependsOnBudget)
	defer cancel()
	self := spec.DependencyReference{Name: r.opts.Name, Namespace: r.opts.Namespace}
	specs := map[spec.DependencyReference]*spec.Sync{}
	readErrs := map[spec.DependencyReference]error{}
	read := func(d spec.DependencyReference) ([]spec.DependencyReference, error) {
		s, err := r.readDependencySpec(gctx, d)
		if err != nil {
			readErrs[d] = err
			return nil, spec.ErrDependencyUnknown
		}
		specs[d] = s
		return s.DependenciesIn(d.Namespace), nil
	}
	if err := spec.FindCycle(self, deps, read); err != nil {
		res.Outcome, res.Err = Failed, fmt.Errorf("spec.dependsOn: %w", err)
		res.Message = res.Err.Error()
		r.finishGated(ctx, inv, res)
		return true
	}
	var waiting, reasons []string
	for _, d := range deps {
		if specs[d] == nil && readErrs[d] == nil {
			_, _ = read(d) // not walked by FindCycle; read it here
		}
		reason := ""
		if err := readErrs[d]; err != nil {
			reason = err.Error()
		} else {
			reason = r.dependencyNotReady(gctx, d)
		}
		if reason != "" {
			waiting = append(waiting, d.String())
			reasons = append(reasons, d.String()+" "+reason)
		}
	}
	if len(waiting) == 0 {
		return false
	}
	res.Outcome = DependencyNotReady
	res.Message = string(DependencyNotReady) + ": " + strings.Join(reasons, "; ")
	r.log.Info("dependencies not ready; nothing applied", "waitingOn", waiting)
	r.finishGated(ctx, inv, res, waiting...)
	return true
}

// readDependencySpec reads the spec of sync d. Its errors say what keeps
// d from being ready.
func (r *runner) readDependencySpec(ctx context.Context, d spec.DependencyReference) (*spec.Sync, error) {
	cm, err := spec.GetConfigMap(ctx, r.client, d.Namespace, d.Name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, errors.New("does not exist (no spec ConfigMap " + names.Spec(d.Name) + ")")
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("cannot be read: %w (install this sync again to grant it the right)", err)
	case err != nil:
		return nil, fmt.Errorf("cannot be read: %w", err)
	}
	s, err := spec.FromConfigMap(cm)
	if err != nil {
		return nil, fmt.Errorf("has an invalid spec: %w", err)
	}
	return s, nil
}

// dependencyNotReady returns why sync d is not ready, or "" when it is.
func (r *runner) dependencyNotReady(ctx context.Context, d spec.DependencyReference) string {
	cm, err := r.client.ConfigMaps(d.Namespace).Get(ctx, names.Inventory(d.Name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "has not run yet"
	case err != nil:
		return fmt.Sprintf("record cannot be read: %v", err)
	}
	var rec inventory.Record
	if data := cm.Data[inventory.KeyRecord]; data != "" {
		if err := json.Unmarshal([]byte(data), &rec); err != nil {
			return fmt.Sprintf("record cannot be read: ConfigMap/%s/%s: %s: %v", d.Namespace, cm.Name, inventory.KeyRecord, err)
		}
	}
	run := rec.LastRun
	switch {
	case run.Result == "":
		return "has not run yet"
	case run.Result == inventory.ResultDependencyNotReady:
		return "is waiting on its own dependencies (" + strings.Join(run.WaitingOn, ", ") + ")"
	case run.Result != inventory.ResultSucceeded && run.FailedUnits > 0:
		return fmt.Sprintf("is not healthy: %d of its units failed in its last run", run.FailedUnits)
	case run.Result != inventory.ResultSucceeded:
		return "last run failed: " + oneLine(run.Message, 200)
	case rec.LastAppliedRevision != rec.LastAttemptedRevision:
		return fmt.Sprintf("applied revision %s, not its latest %s", rec.LastAppliedRevision, rec.LastAttemptedRevision)
	}
	return ""
}

// finishGated ends a run the gate stopped: it records the run (a failure
// as every failure is, a wait with recordWait), releases the Lease and
// pushes the metrics. A failure is notified; a wait is not.
func (r *runner) finishGated(ctx context.Context, inv *inventory.Inventory, res *Result, waitingOn ...string) {
	res.End = r.now()
	if res.Outcome == Failed {
		r.notify(ctx, inv, res)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBudget)
	defer cancel()
	if err := r.guard(fctx, "record"); err != nil {
		r.log.Error("the run is not recorded", "error", err)
	} else {
		res.Retries = r.retries.Retries()
		if res.Outcome == Failed {
			r.record(fctx, inv, res)
		} else {
			r.recordWait(fctx, inv, res, waitingOn)
		}
	}
	r.releaseLease(fctx)
	r.pushMetrics(ctx, inv, res)
}

// recordWait records a run that waited on its dependencies. The history
// entry and the Event are written only when the reason is new, so that a
// sync waiting for hours on a five-minute schedule keeps its history.
func (r *runner) recordWait(ctx context.Context, inv *inventory.Inventory, res *Result, waitingOn []string) {
	again := inv.Record.Waiting() && inv.Record.LastRun.Message == res.Message
	inv.Record.Wait(inventory.Run{
		Start: res.Start, End: res.End, Duration: metav1.Duration{Duration: res.End.Sub(res.Start)},
		Message: res.Message, Retries: res.Retries, WaitingOn: waitingOn,
	})
	if err := r.store.Save(ctx, inv); err != nil {
		r.log.Error("recording the result failed", "error", err)
		return
	}
	if again {
		return
	}
	h := inventory.History{Time: res.End, Result: inventory.ResultDependencyNotReady, Message: res.Message,
		Duration: metav1.Duration{Duration: res.End.Sub(res.Start)}}
	if _, err := r.store.AppendHistory(ctx, h); err != nil {
		r.log.Warn("writing history failed", "error", err)
	}
	r.emit(ctx, corev1.EventTypeNormal, string(DependencyNotReady), res.Message, res.End)
}

// startDependents starts, after a run that succeeded and changed
// something (a new revision or spec rendered, objects created, configured
// or deleted, which includes a recovery), a run of every sync that depends
// on this one: a Job made from its CronJob, as `kubectl gitsync run` makes
// one, annotated names.TriggeredBy. Dependents are found by the label
// names.DependsOnLabel their install put on their spec ConfigMap: in every
// namespace when the run may list them there, else in its own. Suspended
// dependents are left alone. A dependent that cannot be started is logged
// and named in a Warning Event; the run's outcome stays.
func (r *runner) startDependents(ctx context.Context, res *Result) {
	if res.Outcome != Succeeded || !(res.Rendered || len(changedObjects(res)) > 0) {
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dependsOnBudget)
	defer cancel()
	self := spec.DependencyReference{Name: r.opts.Name, Namespace: r.opts.Namespace}
	selector := install.LabelKind + "=" + install.KindSpec + "," + names.DependsOnLabel(self.Namespace, self.Name)
	ns := metav1.NamespaceAll
	if r.opts.NamespaceScoped {
		ns = r.opts.Namespace
	}
	// From the API server's watch cache as it is (resourceVersion 0): a
	// consistent LIST may first wait up to 100 ms for the cache to catch up
	// with etcd, on every changing run, and a dependent installed in that
	// moment still runs on its own schedule.
	opts := metav1.ListOptions{LabelSelector: selector, ResourceVersion: "0"}
	list, err := r.client.ConfigMaps(ns).List(tctx, opts)
	if apierrors.IsForbidden(err) && ns == metav1.NamespaceAll {
		// A cluster-scope sync that delegates has rights in its own
		// namespace only.
		list, err = r.client.ConfigMaps(r.opts.Namespace).List(tctx, opts)
	}
	if err != nil {
		r.log.Warn("dependents not started: listing them failed", "error", err)
		r.emit(tctx, corev1.EventTypeWarning, "DependentsNotStarted", "listing the syncs that depend on this one failed: "+err.Error(), r.now())
		return
	}
	var started, failed []string
	for i := range list.Items {
		cm := &list.Items[i]
		name, ok := names.SyncOfSpec(cm.Name)
		if !ok {
			continue
		}
		s, err := spec.FromConfigMap(cm)
		if err != nil || !slices.Contains(s.DependenciesIn(cm.Namespace), self) || s.Spec.Suspend {
			continue // a stale label, or nothing to start
		}
		ref := cm.Namespace + "/" + name
		job, err := r.startDependent(tctx, cm.Namespace, name)
		switch {
		case err != nil:
			r.log.Warn("dependent not started", "dependent", ref, "error", err)
			failed = append(failed, ref+": "+err.Error())
		case job != "":
			r.log.Info("dependent started", "dependent", ref, "job", job)
			started = append(started, ref+" (Job "+job+")")
		}
	}
	if len(started) > 0 {
		r.emit(tctx, corev1.EventTypeNormal, "DependentsStarted", "started runs of "+strings.Join(started, ", "), r.now())
	}
	if len(failed) > 0 {
		r.emit(tctx, corev1.EventTypeWarning, "DependentsNotStarted", "could not start "+strings.Join(failed, "; "), r.now())
	}
}

// startDependent creates a Job from the CronJob of sync name in namespace
// ns and returns its name; "" when its CronJob is suspended.
func (r *runner) startDependent(ctx context.Context, ns, name string) (string, error) {
	cj, err := r.client.CronJobs(ns).Get(ctx, names.CronJob(name), metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("CronJob/%s/%s: %w", ns, names.CronJob(name), err)
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return "", nil
	}
	for attempt := 0; ; attempt++ {
		job := install.JobFromCronJob(cj, dependentJobName(cj.Name))
		job.Annotations[names.TriggeredBy] = r.opts.Namespace + "/" + r.opts.Name
		// Without blockOwnerDeletion the dependency needs no right on the
		// CronJob's finalizers.
		for i := range job.OwnerReferences {
			job.OwnerReferences[i].BlockOwnerDeletion = nil
		}
		created, err := r.client.Jobs(ns).Create(ctx, job, metav1.CreateOptions{FieldManager: "gitsync"})
		if apierrors.IsAlreadyExists(err) && attempt < 3 {
			continue // a name collision: draw another suffix
		}
		if err != nil {
			return "", fmt.Errorf("CronJob/%s/%s: create Job: %w", ns, cj.Name, err)
		}
		return created.Name, nil
	}
}

// dependentJobName names a Job a dependency started:
// gitsync-NAME-dep-<5 random characters>.
func dependentJobName(cronJob string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return cronJob + "-dep-" + string(b)
}

// oneLine shortens s to its first line and at most n bytes.
func oneLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
