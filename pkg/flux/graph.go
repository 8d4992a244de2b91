package flux

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotFound is wrapped by the error for a sourceRef, chartRef or
// dependsOn that names no object of the run.
var ErrNotFound = errors.New("not found")

// ErrCycle is wrapped by the error of a unit whose dependsOn leads back to
// itself.
var ErrCycle = errors.New("dependsOn cycle")

// ErrCrossNamespace is wrapped by the error for a reference to another
// namespace when GraphOptions.NoCrossNamespaceRefs is set.
var ErrCrossNamespace = errors.New("cross-namespace reference not allowed")

// ErrDuplicate is wrapped by the error of Graph.Add for an object that is
// already in the graph.
var ErrDuplicate = errors.New("defined twice")

// GraphOptions are the options of a Graph.
type GraphOptions struct {
	// NoCrossNamespaceRefs refuses a sourceRef, chartRef or dependsOn that
	// names another namespace than the referring object's, as Flux's
	// controllers do with --no-cross-namespace-refs (its multi-tenancy
	// lockdown). Without it such references are allowed, as in Flux by
	// default.
	NoCrossNamespaceRefs bool
	// Fallback, when set, returns the object that stands for a sourceRef
	// or chartRef no object of the run defines, or nil. It is asked only
	// once nothing that still runs could render the object (see
	// Schedule), and what it returns joins the graph as an object of the
	// sync's own render. A run uses it for the repository the sync came
	// from: Flux names it GitRepository flux-system/flux-system, and the
	// Flux Operator creates it from its FluxInstance, not from Git.
	Fallback func(ref ID) Object
}

// Graph holds the Flux objects of one run, sources and units, and answers
// what each unit reads and waits for. Units found while the run goes on
// (a Kustomization that renders more Kustomizations) are added with Add.
// A Graph is not safe for concurrent use; Schedule is its only user while
// it runs.
type Graph struct {
	opts    GraphOptions
	objects map[ID]Object
	parents map[ID]ID
	units   []ID
	// automations are the ImageUpdateAutomations among units.
	automations []ID
}

// NewGraph returns an empty graph.
func NewGraph(opts GraphOptions) *Graph {
	return &Graph{opts: opts, objects: map[ID]Object{}, parents: map[ID]ID{}}
}

// Add adds the objects found in the render of unit parent; parent is the
// zero ID for the sync's own render. It adds all of them or, when one of
// them is already in the graph (or listed twice), none, and returns an
// error naming where each copy came from.
func (g *Graph) Add(parent ID, objs ...Object) error {
	var errs []error
	seen := map[ID]bool{}
	for _, o := range objs {
		id := o.Metadata().ID
		if _, ok := g.objects[id]; ok {
			errs = append(errs, fmt.Errorf("%s: %w: rendered by %s and by %s", id, ErrDuplicate,
				g.where(g.parents[id]), g.where(parent)))
		} else if seen[id] {
			errs = append(errs, fmt.Errorf("%s: %w in the render of %s", id, ErrDuplicate, g.where(parent)))
		}
		seen[id] = true
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, o := range objs {
		id := o.Metadata().ID
		g.objects[id] = o
		g.parents[id] = parent
		if _, ok := o.(Unit); ok {
			g.units = append(g.units, id)
		}
		if _, ok := o.(*ImageUpdateAutomation); ok {
			g.automations = append(g.automations, id)
		}
	}
	return nil
}

func (g *Graph) where(parent ID) string {
	if parent == (ID{}) {
		return "the sync"
	}
	return parent.String()
}

// Object returns the object with id, or nil.
func (g *Graph) Object(id ID) Object { return g.objects[id] }

// Parent returns the unit whose render held id; false for objects of the
// sync's own render and for unknown ids.
func (g *Graph) Parent(id ID) (ID, bool) {
	p, ok := g.parents[id]
	return p, ok && p != ID{}
}

// Units returns the units in the order they were added.
func (g *Graph) Units() []Unit {
	out := make([]Unit, len(g.units))
	for i, id := range g.units {
		out[i] = g.objects[id].(Unit)
	}
	return out
}

// Sources returns what unit u reads, nearest first: a Kustomization's
// GitRepository, OCIRepository or Bucket; a HelmRelease's chart source
// (HelmRepository, GitRepository or Bucket) or its chartRef
// (OCIRepository, or a HelmChart followed by the HelmChart's own source).
// When the last of these is a GitRepository with spec.include, the
// GitRepositories it includes follow, in order. An ExternalArtifact is
// followed by its ArtifactGenerator's sources, in order. A ResourceSet's
// are the ResourceSetInputProviders of its inputsFrom (resourceset.go).
// A reference to an object the graph does not hold wraps ErrNotFound; to
// another namespace under NoCrossNamespaceRefs, ErrCrossNamespace.
func (g *Graph) Sources(u Unit) ([]Object, error) {
	if a, ok := u.(*ImageUpdateAutomation); ok {
		return g.automationSources(a)
	}
	if rs, ok := u.(*ResourceSet); ok {
		return g.resourceSetSources(rs)
	}
	self := u.Metadata().ID
	field := "sourceRef"
	if h, ok := u.(*HelmRelease); ok {
		field = "chart.spec.sourceRef"
		if h.Chart == nil {
			field = "chartRef"
		}
	}
	ref := u.SourceRef()
	if err := g.crossNamespace(self, field, ref); err != nil {
		return nil, err
	}
	src, ok := g.objects[ref]
	if !ok {
		return nil, fmt.Errorf("%s: %s %s: %w in this run", self, field, ref, ErrNotFound)
	}
	out := []Object{src}
	if ea, ok := src.(*ExternalArtifact); ok {
		// The generator's sources follow, in the order of its
		// spec.sources.
		for i, s := range ea.Generator.Sources {
			gid := ea.Generator.ID
			if err := g.crossNamespace(gid, fmt.Sprintf("spec.sources[%d]", i), s.Ref); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", self, field, ref, err)
			}
			o, ok := g.objects[s.Ref]
			if !ok {
				return nil, fmt.Errorf("%s: %s %s: %s spec.sources[%d] %s: %w in this run", self, field, ref, gid, i, s.Ref, ErrNotFound)
			}
			out = append(out, o)
		}
		return out, nil
	}
	if hc, ok := src.(*HelmChart); ok {
		next, ok := g.objects[hc.SourceRef]
		if !ok {
			return nil, fmt.Errorf("%s: %s %s: sourceRef %s: %w in this run", self, field, ref, hc.SourceRef, ErrNotFound)
		}
		out = append(out, next)
	}
	if gr, ok := out[len(out)-1].(*GitRepository); ok {
		for i, inc := range gr.Include {
			o, ok := g.objects[inc.Repository]
			if !ok {
				return nil, fmt.Errorf("%s: %s %s: spec.include[%d].repository %s: %w in this run", self, field, gr.ID, i, inc.Repository, ErrNotFound)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// AddFallback adds GraphOptions.Fallback's object for u's sourceRef or
// chartRef when the graph holds none, and reports whether it did.
// Schedule calls it once nothing could render the object any more; a
// caller that renders one unit without Schedule (a preview) calls it when
// Sources says not found.
func (g *Graph) AddFallback(u Unit) bool {
	if g.opts.Fallback == nil {
		return false
	}
	refs := []ID{u.SourceRef()}
	if ea, ok := g.objects[refs[0]].(*ExternalArtifact); ok {
		refs = refs[:0]
		for _, s := range ea.Generator.Sources {
			refs = append(refs, s.Ref)
		}
	}
	added := false
	for _, ref := range refs {
		if _, ok := g.objects[ref]; ok || ref == (ID{}) {
			continue
		}
		if o := g.opts.Fallback(ref); o != nil && o.Metadata().ID == ref {
			g.objects[ref] = o
			g.parents[ref] = ID{}
			added = true
		}
	}
	return added
}

func (g *Graph) crossNamespace(self ID, field string, ref ID) error {
	if g.opts.NoCrossNamespaceRefs && ref.Namespace != self.Namespace {
		return fmt.Errorf("%s: %s %s: %w", self, field, ref, ErrCrossNamespace)
	}
	return nil
}

// dependencyError checks u's dependsOn: a reference to another namespace
// under NoCrossNamespaceRefs, or (when final) a dependency the graph does
// not hold.
func (g *Graph) dependencyError(u Unit, final bool) error {
	self := u.Metadata().ID
	for _, dep := range u.Dependencies() {
		if err := g.crossNamespace(self, "dependsOn", dep); err != nil {
			return err
		}
		if _, ok := g.objects[dep]; !ok && final {
			return fmt.Errorf("%s: dependsOn %s: %w: no unit of this run defines it", self, dep, ErrNotFound)
		}
	}
	return nil
}

// Cycles returns, for every unit on a dependsOn cycle, the error naming
// the shortest cycle through it:
// "dependsOn cycle: Kustomization/ns/a → Kustomization/ns/b → Kustomization/ns/a".
// Dependencies the graph does not hold (yet) are not followed.
func (g *Graph) Cycles() map[ID]error {
	out := map[ID]error{}
	for _, id := range g.units {
		if path := g.shortestCycle(id); path != nil {
			names := make([]string, len(path))
			for i, p := range path {
				names[i] = p.String()
			}
			out[id] = fmt.Errorf("%w: %s", ErrCycle, strings.Join(names, " → "))
		}
	}
	return out
}

// shortestCycle returns the shortest dependsOn path from start back to
// itself (start first and last), or nil. Breadth first, dependencies in
// the order they are written, so the answer is stable.
func (g *Graph) shortestCycle(start ID) []ID {
	prev := map[ID]ID{}
	queue := []ID{start}
	visited := map[ID]bool{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		u, ok := g.objects[cur].(Unit)
		if !ok {
			continue
		}
		for _, dep := range u.Dependencies() {
			if dep == start {
				path := []ID{start}
				for at := cur; at != start; at = prev[at] {
					path = append(path, at)
				}
				path = append(path, start)
				slices.Reverse(path)
				return path
			}
			if visited[dep] {
				continue
			}
			if _, known := g.objects[dep]; !known {
				continue
			}
			visited[dep] = true
			prev[dep] = cur
			queue = append(queue, dep)
		}
	}
	return nil
}

// Check returns every problem of a graph that will not grow any more:
// missing or refused sources and dependencies, and cycles, joined. It is
// for callers that look at a tree without running it (build, convert);
// Schedule finds the same problems unit by unit while it runs.
func (g *Graph) Check() error {
	var errs []error
	cycles := g.Cycles()
	for _, u := range g.Units() {
		id := u.Metadata().ID
		if err := cycles[id]; err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		if err := g.dependencyError(u, true); err != nil {
			errs = append(errs, err)
		}
		if _, err := g.Sources(u); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
