package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
)

// readData reads the data of a ConfigMap or Secret of the sync's namespace
// (substituteFrom, valuesFrom); found is false when it does not exist. A
// ConfigMap's binaryData is included only with binary. field names the spec
// field in errors.
func (r *runner) readData(ctx context.Context, kind, name, field string, binary bool) (data map[string][]byte, found bool, err error) {
	return r.readDataIn(ctx, r.opts.Namespace, kind, name, field, binary)
}

// readDataIn is readData in namespace ns: a unit reads the ConfigMaps and
// Secrets of its Flux object's namespace.
func (r *runner) readDataIn(ctx context.Context, ns, kind, name, field string, binary bool) (data map[string][]byte, found bool, err error) {
	var getErr error
	switch kind {
	case "ConfigMap":
		cm, err := r.client.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			data = make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			if binary {
				for k, v := range cm.BinaryData {
					data[k] = v
				}
			}
		}
		getErr = err
	case "Secret":
		sec, err := r.client.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			data = sec.Data
			r.secrets.AddData(data)
		}
		getErr = err
	default:
		return nil, false, fmt.Errorf("%s: kind %q is not ConfigMap or Secret", field, kind)
	}
	switch {
	case apierrors.IsNotFound(getErr):
		return nil, false, nil
	case getErr != nil:
		return nil, false, fmt.Errorf("%s (%s): %w%s", object.ID{Kind: kind, Namespace: ns, Name: name}, field, getErr, r.secretHint(kind, ns, name, getErr))
	}
	return data, true, nil
}

// substitutions gathers the postBuild variables: substituteFrom in order
// (later entries win), then substitute (wins over all), as Flux does. The
// digest covers the values read from the cluster, so that a changed
// ConfigMap or Secret makes the next run render again.
func (r *runner) substitutions(ctx context.Context) (map[string]string, string, error) {
	pb := r.sync.Spec.PostBuild
	if pb == nil {
		return nil, "", nil
	}
	return r.collectVars(ctx, r.opts.Namespace, pb.SubstituteFrom, pb.Substitute, "spec.postBuild")
}

// collectVars reads the variables of substituteFrom (ConfigMaps and Secrets
// of namespace ns) in order and sets inline over them; path names the
// postBuild field in errors. It returns a non-nil map, and the digest of
// the values read from the cluster ("" when none were).
func (r *runner) collectVars(ctx context.Context, ns string, from []spec.SubstituteReference, inline map[string]string, path string) (map[string]string, string, error) {
	vars := map[string]string{}
	for i, ref := range from {
		path := fmt.Sprintf("%s.substituteFrom[%d]", path, i)
		data, found, err := r.readDataIn(ctx, ns, ref.Kind, ref.Name, path, false)
		if err != nil {
			return nil, "", err
		}
		if !found {
			if ref.Optional {
				continue
			}
			return nil, "", fmt.Errorf("%s (%s): not found", object.ID{Kind: ref.Kind, Namespace: ns, Name: ref.Name}, path)
		}
		for k, v := range data {
			vars[k] = string(v)
		}
	}
	fromCluster := len(vars) > 0
	for k, v := range inline {
		vars[k] = v
	}
	if !fromCluster {
		// Inline values are part of the spec digest already.
		return vars, "", nil
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s=%d:%s\n", len(k), k, len(vars[k]), vars[k])
	}
	return vars, hex.EncodeToString(h.Sum(nil)), nil
}

func splitAPIVersion(apiVersion string) (group, version string) {
	for i := len(apiVersion) - 1; i >= 0; i-- {
		if apiVersion[i] == '/' {
			return apiVersion[:i], apiVersion[i+1:]
		}
	}
	return "", apiVersion
}

// record writes the run's result: the narrowed inventory and record, a
// history entry for runs that applied, and an Event on the spec ConfigMap.
// The caller gives it a context detached from the run's, with a short
// deadline, so a terminated run still says why it stopped.
func (r *runner) record(ctx context.Context, inv *inventory.Inventory, res *Result) {
	// The stored render of the units that rendered is written beside the
	// record: it is trusted only for the render the record says was
	// applied last.
	keep := map[string]bool{r.opts.Name: true}
	for _, u := range inv.Record.Units {
		if u.State != "" {
			keep[u.State] = true
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.saveRenders(ctx, keep) })
	defer wg.Wait()
	// The Event says what the record says (a record that cannot be saved
	// fails the run), so it waits for the save, not for the history entry.
	r.saveState(ctx, r.store, inv, res, func() { r.event(ctx, res) })
}

// saveState writes one unit's result (the sync's own, or a unit's) into its
// store: the narrowed inventory and record, and a history entry for runs
// that rendered or failed. alongside, when not nil, runs once the record
// is saved (or failed to be), beside the history entry's write.
func (r *runner) saveState(ctx context.Context, store *inventory.Store, inv *inventory.Inventory, res *Result, alongside func()) {
	r.maskResult(res)
	for i := range inv.Record.Units {
		inv.Record.Units[i].Message = r.secrets.Text(inv.Record.Units[i].Message)
	}
	orphaned := noteResult(inv, res)
	run := inv.Record.LastRun
	saveErr := store.Save(ctx, inv)
	if saveErr != nil {
		r.log.Error("recording the result failed", "state", store.Sync, "error", saveErr)
		if res.Err == nil {
			res.Outcome, res.Err = Failed, fmt.Errorf("record: %w", saveErr)
		}
	}
	if saveErr == nil {
		r.emitOrphaned(ctx, store.Sync, orphaned, res)
	}
	if alongside != nil {
		var wg sync.WaitGroup
		wg.Go(alongside)
		defer wg.Wait()
	}
	// A record refused by the inventory's precondition (written by another
	// run, or deleted by uninstall) gets no history either.
	if (res.Rendered || res.Outcome == Failed) && !errors.Is(saveErr, inventory.ErrConflict) {
		h := inventory.History{
			Revision: res.Revision, Time: res.End, Result: inv.Record.LastRun.Result, Message: res.Message,
			SetDigest: run.SetDigest, SpecDigest: run.SpecDigest, ObjectCount: res.Objects,
			Duration: run.Duration, Counts: run.Counts,
		}
		if _, err := store.AppendHistory(ctx, h); err != nil {
			r.log.Warn("writing history failed", "state", store.Sync, "error", err)
		}
	}
}

// noteResult updates inv's record (in memory) with the run's result, and
// returns the objects the run orphaned.
func noteResult(inv *inventory.Inventory, res *Result) []object.ID {
	run := inventory.Run{
		Revision:   res.Revision,
		SpecDigest: res.specDigest,
		SetDigest:  res.setDigest,
		Start:      res.Start,
		End:        res.End,
		Duration:   metav1.Duration{Duration: res.End.Sub(res.Start)},
		Message:    res.Message,
		Counts:     res.Counts(),
		Retries:    res.Retries,
		VerifiedBy: res.VerifiedBy,
		Drifted:    len(res.Drifted),
		Notify:     res.Notify,
	}
	if res.Outcome != Succeeded && !res.selfSucceeded {
		run.ConsecutiveFailures = inv.Record.LastRun.ConsecutiveFailures + 1
	}
	orphaned := orphanedIDs(res.Pruned)
	run.SetOrphaned(orphaned)
	run.Target, run.ServiceAccount = res.Target, res.ServiceAccount
	if run.SetDigest == "" && (res.Outcome == Succeeded || res.selfSucceeded) {
		run.SetDigest = inv.Record.LastAppliedSetDigest
	}
	switch {
	case res.Outcome == Succeeded:
		inv.Record.Succeed(run)
	case res.selfSucceeded:
		// The sync's own objects were applied; some of its units were not.
		inv.Record.SucceedExceptUnits(run, res.failedUnits)
	default:
		inv.Record.Fail(run)
	}
	return orphaned
}

// defaultNamespace puts namespaced objects rendered without a namespace
// into the sync's own namespace, as `kubectl apply -n` would (targetNamespace
// sets one for all of them), and refuses the set if that makes two objects
// the same.
func defaultNamespace(objs []*unstructured.Unstructured, resolved []apply.Target, namespace string) error {
	seen := make(map[object.ID]bool, len(resolved))
	for i := range resolved {
		if resolved[i].Namespaced && resolved[i].Namespace == "" {
			resolved[i].Namespace = namespace
			objs[i].SetNamespace(namespace)
		}
		if seen[resolved[i].ID] {
			return fmt.Errorf("%s: rendered twice (once without a namespace, which defaults to the sync's namespace %s)", resolved[i].ID, namespace)
		}
		seen[resolved[i].ID] = true
	}
	return nil
}

// checkScope enforces a namespaced install: a sync whose ServiceAccount only
// has rights in its own namespace (and targetNamespace) must not try to
// apply cluster-scoped objects or objects elsewhere. Checking before apply
// fails the run with one clear message instead of a Forbidden error per
// object after half of them were applied.
func checkScope(resolved []apply.Target, allowed []string) error {
	ok := make(map[string]bool, len(allowed))
	for _, ns := range allowed {
		ok[ns] = true
	}
	var errs []error
	for _, t := range resolved {
		switch {
		case !t.Namespaced:
			errs = append(errs, fmt.Errorf("%s: cluster-scoped objects are not allowed in a namespaced sync", t.ID))
		case !ok[t.Namespace]:
			errs = append(errs, fmt.Errorf("%s: namespace %s is outside this namespaced sync (allowed: %s)", t.ID, t.Namespace, strings.Join(allowed, ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the render leaves the sync's scope; nothing was applied:\n%w", errors.Join(errs...))
	}
	return nil
}

// entriesOf returns inventory entries for resolved targets, keeping the
// fingerprints the previous run recorded until apply replaces them.
func entriesOf(resolved []apply.Target, previous []inventory.Entry) []inventory.Entry {
	prev := make(map[object.ID]string, len(previous))
	for _, e := range previous {
		prev[e.ID] = e.Fingerprint
	}
	out := make([]inventory.Entry, 0, len(resolved))
	for _, t := range resolved {
		out = append(out, inventory.Entry{
			ID: t.ID, Version: t.Version, Resource: t.Resource, Namespaced: t.Namespaced, Fingerprint: prev[t.ID],
		})
	}
	inventory.Sort(out)
	return out
}

// mergeFingerprints records what apply left: the new fingerprint of every
// object it applied, and none for objects it skipped or failed on, which
// the drift check must then not trust.
func mergeFingerprints(entries []inventory.Entry, cs *apply.ChangeSet) []inventory.Entry {
	if cs == nil {
		return entries
	}
	byID := make(map[object.ID]apply.Change, len(cs.Changes))
	for _, c := range cs.Changes {
		byID[c.ID] = c
	}
	for i, e := range entries {
		c, ok := byID[e.ID]
		if !ok {
			continue
		}
		switch c.Action {
		case apply.Created, apply.Configured, apply.Unchanged, apply.Replaced:
			if c.Resource != "" {
				entries[i].Version, entries[i].Resource, entries[i].Namespaced = c.Version, c.Resource, c.Namespaced
			}
			entries[i].Fingerprint = c.Fingerprint
		case apply.Skipped:
			// An IfNotPresent object that exists and is ours keeps a
			// fingerprint, so the drift check notices its deletion; other
			// skipped objects have none and are not checked.
			entries[i].Fingerprint = ""
			if c.Err == nil {
				entries[i].Fingerprint = c.Fingerprint
			}
		default:
			entries[i].Fingerprint = ""
		}
	}
	return entries
}

func target(e inventory.Entry) apply.Target {
	return apply.Target{ID: e.ID, Version: e.Version, Resource: e.Resource, Namespaced: e.Namespaced, Fingerprint: e.Fingerprint}
}

func targets(entries []inventory.Entry) []apply.Target {
	out := make([]apply.Target, len(entries))
	for i, e := range entries {
		out[i] = target(e)
	}
	return out
}

// deletedIDs returns the objects prune is done with: deleted, gone, left
// alone on purpose (not ours, opted out) or orphaned (outside the current
// scope) — none of them is tracked any more. Failed deletions stay in the
// inventory to be retried, and objects whose resource is not served.
func deletedIDs(cs *apply.ChangeSet) []object.ID {
	if cs == nil {
		return nil
	}
	var ids []object.ID
	for _, c := range cs.Changes {
		if c.Action == apply.Deleted || c.Action == apply.Skipped && (c.Err == nil || errors.Is(c.Err, apply.ErrOutOfScope)) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}
