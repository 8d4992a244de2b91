package syncrun

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// renderUnitOf renders unit want of the sync whose own render root holds
// (rendered already): breadth first, each unit of the tree is rendered
// until one renders want, then want is rendered as a run would, and out
// describes it instead of the sync. Units that fail to render on the way
// are passed over: want may be elsewhere.
func (r *runner) renderUnitOf(ctx context.Context, root *unit, want flux.ID, out *Rendered) (*Rendered, error) {
	g := flux.NewGraph(r.graphOptions())
	if err := g.Add(flux.ID{}, r.decodeChildren(root)...); err != nil {
		return nil, fmt.Errorf("flux: %w", err)
	}
	expanded := map[flux.ID]bool{}
	var passed []string
	for {
		if obj := g.Object(want); obj != nil {
			fu, ok := obj.(flux.Unit)
			if !ok {
				return nil, fmt.Errorf("%s: not a unit: only Kustomizations and HelmReleases are", want)
			}
			if unitActions[want.Kind] != nil {
				return nil, fmt.Errorf("%s: renders nothing: it commits image updates when the sync runs", want)
			}
			u, objs, rnd, err := r.renderOneUnit(ctx, fu, g)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", want, err)
			}
			return r.describeUnit(u, objs, rnd, out)
		}
		var next flux.Unit
		for _, u := range g.Units() {
			if id := u.Metadata().ID; !expanded[id] {
				next = u
				break
			}
		}
		if next == nil {
			msg := fmt.Sprintf("%s: no unit of the sync's tree renders it", want)
			var known []string
			for _, u := range g.Units() {
				known = append(known, u.Metadata().ID.String())
			}
			slices.Sort(known)
			if len(known) > 0 {
				msg += "; its units are: " + listSome(known, 20)
			}
			if len(passed) > 0 {
				msg += fmt.Sprintf(" (units that failed to render: %s)", listSome(passed, 5))
			}
			return nil, fmt.Errorf("%s", msg)
		}
		id := next.Metadata().ID
		expanded[id] = true
		if unitActions[id.Kind] != nil {
			continue // an automation renders nothing, and a preview pushes nothing
		}
		u, _, _, err := r.renderOneUnit(ctx, next, g)
		if err != nil {
			passed = append(passed, fmt.Sprintf("%s (%v)", id, firstLine(err.Error())))
			continue
		}
		if err := g.Add(id, r.decodeChildren(u)...); err != nil {
			passed = append(passed, fmt.Sprintf("%s (%v)", id, firstLine(err.Error())))
		}
	}
}

// renderOneUnit renders unit fu of graph g as a run's pass would, without
// writing anything, and returns it with the objects it applies.
func (r *runner) renderOneUnit(ctx context.Context, fu flux.Unit, g *flux.Graph) (*unit, []*unstructured.Unstructured, *rendering, error) {
	if b, ok := fu.(*brokenObject); ok {
		return nil, nil, nil, b.err
	}
	sources, err := g.Sources(fu)
	if errors.Is(err, flux.ErrNotFound) && g.AddFallback(fu) {
		sources, err = g.Sources(fu)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	for _, s := range sources {
		if b, ok := s.(*brokenObject); ok {
			return nil, nil, nil, fmt.Errorf("source %s: %w", b.meta.ID, b.err)
		}
	}
	id := fu.Metadata().ID
	build := unitKinds[id.Kind]
	if build == nil {
		return nil, nil, nil, fmt.Errorf("kind %s is not run as a unit", id.Kind)
	}
	store := r.unitStore(flux.StateName(r.opts.Name, id))
	inv, err := store.Load(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	kind, settings, err := build(ctx, r, fu, sources, inv)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("source: %w", err)
	}
	u := &unit{id: id, store: store, inv: inv, labels: r.unitLabels(store), kind: kind, unitSettings: settings, res: &Result{}}
	if u.to, err = r.destinationFor(ctx, u.dest); err != nil {
		return nil, nil, nil, fmt.Errorf("target: %w", err)
	}
	in, err := kind.inputs(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("inputs: %w", err)
	}
	src, err := kind.resolve(ctx, &inv.Record)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("source: %w", err)
	}
	u.res.Revision = src.revision
	rnd, err := kind.render(ctx, src, in, inv.Record.LastAppliedRevision != "")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render: %w", err)
	}
	return u, r.lift(u, rnd), rnd, nil
}

// describeUnit fills out with unit u's render.
func (r *runner) describeUnit(u *unit, objs []*unstructured.Unstructured, rnd *rendering, out *Rendered) (*Rendered, error) {
	out.Unit = u.id
	out.Revision, out.Objects, out.Digest, out.Flux = u.res.Revision, objs, rnd.digest, u.children
	out.Labels, out.Inventory = u.labels, u.inv.Entries
	out.Prune, out.Force = u.prune, u.force
	if len(objs) == 0 && len(u.children) == 0 && len(u.inv.Entries) > 0 {
		return nil, fmt.Errorf("render: %w", errEmptyRender(len(u.inv.Entries)))
	}
	resolved, err := u.to.engine.Targets(objs)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.checkUnitRendered(u, objs, resolved); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := r.refuseReserved(objs, resolved, renderedFiles(rnd), false); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	out.Targets = resolved
	out.Stale = targets(inventory.Diff(u.inv.Entries, entriesOf(resolved, nil)))
	return out, nil
}
