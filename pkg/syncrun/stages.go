package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
)

// readData reads the data of a ConfigMap or Secret of the sync's namespace
// (substituteFrom, valuesFrom); found is false when it does not exist. A
// ConfigMap's binaryData is included only with binary. field names the spec
// field in errors.
func (r *runner) readData(ctx context.Context, kind, name, field string, binary bool) (data map[string][]byte, found bool, err error) {
	var getErr error
	switch kind {
	case "ConfigMap":
		cm, err := r.client.CoreV1().ConfigMaps(r.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
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
		sec, err := r.client.CoreV1().Secrets(r.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			data = sec.Data
		}
		getErr = err
	default:
		return nil, false, fmt.Errorf("%s: kind %q is not ConfigMap or Secret", field, kind)
	}
	switch {
	case apierrors.IsNotFound(getErr):
		return nil, false, nil
	case getErr != nil:
		return nil, false, fmt.Errorf("%s (%s): %w", object.ID{Kind: kind, Namespace: r.opts.Namespace, Name: name}, field, getErr)
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
	vars := map[string]string{}
	for i, ref := range pb.SubstituteFrom {
		path := fmt.Sprintf("spec.postBuild.substituteFrom[%d]", i)
		data, found, err := r.readData(ctx, ref.Kind, ref.Name, path, false)
		if err != nil {
			return nil, "", err
		}
		if !found {
			if ref.Optional {
				continue
			}
			return nil, "", fmt.Errorf("%s (%s): not found", object.ID{Kind: ref.Kind, Namespace: r.opts.Namespace, Name: ref.Name}, path)
		}
		for k, v := range data {
			vars[k] = string(v)
		}
	}
	fromCluster := len(vars) > 0
	for k, v := range pb.Substitute {
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

// health waits for what the spec asks: every applied object with wait, the
// named objects with healthChecks.
func (r *runner) health(ctx context.Context, current []inventory.Entry) error {
	s := &r.sync.Spec
	var want []apply.Target
	switch {
	case s.Wait:
		want = targets(current)
	case len(s.HealthChecks) > 0:
		byID := make(map[object.ID]inventory.Entry, len(current))
		for _, e := range current {
			byID[e.ID] = e
		}
		for i, hc := range s.HealthChecks {
			group, _ := splitAPIVersion(hc.APIVersion)
			ns := hc.Namespace
			id := object.ID{Group: group, Kind: hc.Kind, Namespace: ns, Name: hc.Name}
			e, ok := byID[id]
			if !ok && ns == "" {
				id.Namespace = s.TargetNamespace
				if id.Namespace == "" {
					id.Namespace = r.opts.Namespace
				}
				e, ok = byID[id]
			}
			if !ok {
				return fmt.Errorf("spec.healthChecks[%d]: %s is not in the rendered set", i, id)
			}
			want = append(want, target(e))
		}
	default:
		return nil
	}
	return r.engine.Wait(ctx, want, apply.WaitOptions{Timeout: s.Timeout.Duration, Selector: r.objectLabels()})
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
// It runs even when ctx was cancelled (SIGTERM), on a short detached
// deadline, so a terminated run still says why it stopped.
func (r *runner) record(ctx context.Context, inv *inventory.Inventory, res *Result) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	run := inventory.Run{
		Revision:   res.Revision,
		SpecDigest: res.specDigest,
		SetDigest:  res.setDigest,
		Start:      res.Start,
		End:        res.End,
		Duration:   metav1.Duration{Duration: res.End.Sub(res.Start)},
		Message:    res.Message,
		Counts:     counts(res),
		Verified:   res.Verified,
	}
	if res.Outcome == Succeeded {
		if run.SetDigest == "" {
			run.SetDigest = inv.Record.LastAppliedSetDigest
		}
		inv.Record.Succeed(run)
	} else {
		inv.Record.Fail(run)
	}
	if err := r.store.Save(ctx, inv); err != nil {
		r.log.Error("recording the result failed", "error", err)
		if res.Err == nil {
			res.Outcome, res.Err = Failed, fmt.Errorf("record: %w", err)
		}
	}
	if res.Rendered || res.Outcome == Failed {
		h := inventory.History{
			Revision: res.Revision, Time: res.End, Result: inv.Record.LastRun.Result, Message: res.Message,
			SetDigest: run.SetDigest, SpecDigest: run.SpecDigest, ObjectCount: res.Objects,
			Duration: run.Duration, Counts: run.Counts,
		}
		if _, err := r.store.AppendHistory(ctx, h); err != nil {
			r.log.Warn("writing history failed", "error", err)
		}
	}
	r.event(ctx, res)
}

func counts(res *Result) map[string]int {
	out := map[string]int{}
	for _, cs := range []*apply.ChangeSet{res.Applied, res.Pruned} {
		if cs == nil {
			continue
		}
		for a, n := range cs.Counts() {
			out[lower(string(a))] += n
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
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

// deletedIDs returns the objects prune is done with: deleted, gone, or
// left alone on purpose (not ours, opted out) — none of them is tracked any
// more. Failed deletions stay in the inventory to be retried.
func deletedIDs(cs *apply.ChangeSet) []object.ID {
	if cs == nil {
		return nil
	}
	var ids []object.ID
	for _, c := range cs.Changes {
		if c.Action == apply.Deleted || c.Action == apply.Skipped && c.Err == nil {
			ids = append(ids, c.ID)
		}
	}
	return ids
}
