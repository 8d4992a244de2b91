package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/object"
)

// DiffOptions say what Diff compares.
type DiffOptions struct {
	RenderOptions
}

// ObjectDiff is one object's change: its live state and what it would be,
// either nil when the object does not exist on that side.
type ObjectDiff struct {
	// ID is the object.
	ID object.ID
	// Before is the live object; nil when the run would create it.
	Before *unstructured.Unstructured
	// After is what the API server's dry run made of it; nil when the run
	// would prune it.
	After *unstructured.Unstructured
	// From and To name the two sides in a unified diff's headers. Default
	// "live" and "merged".
	From, To string
}

// DiffResult is what the next run of a sync would change.
type DiffResult struct {
	// Diffs are the objects that would change: created, configured or
	// replaced in apply order, then pruned in prune order.
	Diffs []ObjectDiff
	// Err joins the dry run's per-object failures; nil when every object
	// could be dry-run.
	Err error
}

// Summary counts the diffs by kind of change: "3 objects would change (1
// created, 1 changed, 1 pruned)".
func (r *DiffResult) Summary() string {
	var created, changed, deleted int
	for _, d := range r.Diffs {
		switch {
		case d.Before == nil:
			created++
		case d.After == nil:
			deleted++
		default:
			changed++
		}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{created, "created"}, {changed, "changed"}, {deleted, "pruned"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return fmt.Sprintf("%d objects would change (%s)", len(r.Diffs), strings.Join(parts, ", "))
}

// Diff renders the sync as a run would and asks the API server what
// applying it would change: a server-side dry-run apply with the sync's
// labels and field manager, so defaults, admission and ownership are the
// server's own. When the spec prunes, what the run would prune comes from
// apply.Engine.PreviewPrune: the prune itself, every delete a dry run.
// Nothing is written: no Lease, no inventory, no object.
//
// Offline there is no live state to compare with: Diff then compares the
// render of opts.Path with the render of the spec's source at its ref (what
// the sync applies, as far as Git knows), sides "source" and "local", both
// rendered offline; objects removed from the render show as pruned when the
// spec prunes.
func Diff(ctx context.Context, cfg *Config, opts DiffOptions) (*DiffResult, error) {
	if opts.Offline {
		return diffOffline(ctx, opts)
	}
	r, err := renderSync(ctx, cfg, opts.RenderOptions)
	if err != nil {
		return nil, err
	}
	engine, err := apply.New(cfg.REST, nil)
	if err != nil {
		return nil, err
	}
	cs, err := engine.Apply(ctx, r.Objects, apply.Options{DryRun: true, Labels: r.Labels, Force: r.Force})
	if err != nil {
		return nil, err
	}
	labeled := r.WithLabels()
	res := &DiffResult{}
	for i, c := range cs.Changes {
		switch c.Action {
		case apply.Created, apply.Configured, apply.Replaced:
			after := c.After
			if after == nil {
				// Not sent: a custom resource whose CRD is in this set, or an
				// object in a Namespace of this set, or a replacement of an
				// immutable object. The rendered object is what would go.
				after = labeled[i]
			}
			res.Diffs = append(res.Diffs, ObjectDiff{ID: c.ID, Before: c.Before, After: after})
		}
	}
	errs := []error{cs.Err()}
	if r.Prune && len(r.Stale) > 0 {
		pruned, err := engine.PreviewPrune(ctx, r.Stale, apply.PruneOptions{Selector: r.Labels, InScope: r.InScope})
		if err != nil {
			return nil, err
		}
		for _, c := range pruned.Changes {
			if c.Action == apply.Deleted && c.Before != nil {
				res.Diffs = append(res.Diffs, ObjectDiff{ID: c.ID, Before: c.Before})
			}
		}
		errs = append(errs, pruned.Err())
	}
	res.Err = errors.Join(errs...)
	return res, nil
}

// DiffContext is the number of unchanged lines around each change, as in
// diff -u.
const DiffContext = 3

// Unified returns the diff -u of the object's two sides (see YAML), headed
// "--- live/ID" and "+++ merged/ID".
func (d ObjectDiff) Unified() (string, error) {
	before, after, err := d.YAML()
	if err != nil {
		return "", err
	}
	from, to := cmp.Or(d.From, "live"), cmp.Or(d.To, "merged")
	return format.UnifiedDiff(from+"/"+d.ID.String(), to+"/"+d.ID.String(), format.Lines(before), format.Lines(after), DiffContext), nil
}

// diffHiddenMetadata are the metadata fields every write changes, left out
// of a diff.
var diffHiddenMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"}

// YAML returns both sides of the diff as YAML, "" for a missing side:
// without the metadata every write changes (diffHiddenMetadata), and, for a
// Secret, with the values of data and stringData (and of kubectl's
// last-applied annotation) masked, so that no secret value is ever shown.
// The objects themselves are not changed.
func (d ObjectDiff) YAML() (before, after string, err error) {
	b, a := cleanForDiff(d.Before), cleanForDiff(d.After)
	if d.ID.Group == "" && d.ID.Kind == "Secret" {
		maskSecret(b, a)
	}
	if before, err = yamlText(b); err != nil {
		return "", "", fmt.Errorf("%s: %w", d.ID, err)
	}
	if after, err = yamlText(a); err != nil {
		return "", "", fmt.Errorf("%s: %w", d.ID, err)
	}
	return before, after, nil
}

// cleanForDiff returns a copy of u's content without diffHiddenMetadata, or
// nil for nil.
func cleanForDiff(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	c := u.DeepCopy().Object
	if md, ok := c["metadata"].(map[string]any); ok {
		for _, k := range diffHiddenMetadata {
			delete(md, k)
		}
	}
	return c
}

// lastApplied is kubectl's annotation holding the whole last applied object:
// for a Secret, its values.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maskSecret replaces, in place, the values of a Secret's data and
// stringData on both sides (either may be nil), and its last-applied
// annotation, with "***" when a value is the same on both sides (or only on
// one), and "*** (before)" / "*** (after)" when it changed. The keys stay
// visible, so a reader still sees which values change.
func maskSecret(before, after map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		b, _ := fieldMap(before, field)
		a, _ := fieldMap(after, field)
		maskPair(b, a)
	}
	b, _ := fieldMap(before, "metadata", "annotations")
	a, _ := fieldMap(after, "metadata", "annotations")
	if b[lastApplied] == nil && a[lastApplied] == nil {
		return
	}
	pb, pa := pick(b, lastApplied), pick(a, lastApplied)
	maskPair(pb, pa)
	maps.Copy(b, pb)
	maps.Copy(a, pa)
}

// pick returns a map holding only key of m, if present.
func pick(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	if v, ok := m[key]; ok {
		out[key] = v
	}
	return out
}

// maskPair masks the values of two maps of the same field; either may be
// nil.
func maskPair(before, after map[string]any) {
	for k, bv := range before {
		av, ok := after[k]
		switch {
		case !ok:
			before[k] = "***"
		case fmt.Sprint(av) == fmt.Sprint(bv):
			before[k], after[k] = "***", "***"
		default:
			before[k], after[k] = "*** (before)", "*** (after)"
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			after[k] = "***"
		}
	}
}

// fieldMap returns the map at path in m, or nil.
func fieldMap(m map[string]any, path ...string) (map[string]any, bool) {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

// yamlText returns obj as YAML, "" for nil.
func yamlText(obj map[string]any) (string, error) {
	if obj == nil {
		return "", nil
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// diffOffline compares the render of opts.Path with the render of the
// spec's source, both offline.
func diffOffline(ctx context.Context, opts DiffOptions) (*DiffResult, error) {
	if opts.Path == "" {
		return nil, fmt.Errorf("sync %s: an offline diff compares a local directory with the source: it needs the directory", opts.Ref)
	}
	local, err := renderSync(ctx, nil, opts.RenderOptions)
	if err != nil {
		return nil, err
	}
	srcOpts := opts.RenderOptions
	srcOpts.Path = ""
	source, err := renderSync(ctx, nil, srcOpts)
	if err != nil {
		return nil, err
	}
	before := map[object.ID]*unstructured.Unstructured{}
	src := source.WithLabels()
	for i, t := range source.Targets {
		before[t.ID] = src[i]
	}
	res := &DiffResult{}
	after := local.WithLabels()
	for i, t := range local.Targets {
		b := before[t.ID]
		delete(before, t.ID)
		if b != nil && equality.Semantic.DeepEqual(b.Object, after[i].Object) {
			continue
		}
		res.Diffs = append(res.Diffs, ObjectDiff{ID: t.ID, Before: b, After: after[i], From: "source", To: "local"})
	}
	if local.Prune {
		for i, t := range source.Targets {
			if before[t.ID] != nil {
				res.Diffs = append(res.Diffs, ObjectDiff{ID: t.ID, Before: src[i], From: "source", To: "local"})
			}
		}
	}
	return res, nil
}
