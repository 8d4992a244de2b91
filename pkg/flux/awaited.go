package flux

import (
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// In Flux, a Kustomization is Ready only when what it waits for is: with
// wait, every object it applied, the Kustomizations and HelmReleases among
// them included (kstatus reads their Ready condition); with healthChecks,
// the objects named. A unit that dependsOn it starts only then. In a run,
// the Kustomizations and HelmReleases a Kustomization renders are units
// that start after it ends, so its dependents wait for those units too.

// withAwaited returns deps and, for each Kustomization (or ResourceSet)
// among them, the units its readiness includes: with wait, every unit its
// render held;
// the Kustomizations and HelmReleases its healthChecks name; and, in turn,
// what each of those includes. Only units the graph holds count (those of
// a render are added when the render's unit ends, before anything
// depending on it starts). A unit never waits for itself, nor for units of
// a Kustomization it descends from (in Flux that would never be Ready).
func (g *Graph) withAwaited(u Unit, deps []ID) []ID {
	self := u.Metadata().ID
	seen := map[ID]bool{self: true}
	for _, d := range deps {
		seen[d] = true
	}
	out := slices.Clip(deps)
	queue := slices.Clone(deps)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if g.descends(self, id) {
			continue
		}
		var awaited []ID
		switch o := g.objects[id].(type) {
		case *Kustomization:
			awaited = g.awaitedBy(o)
		case *ResourceSet:
			// The Flux Operator's wait covers what the set generated, its
			// Flux objects' readiness included, as a Kustomization's.
			if o.Wait {
				awaited = g.renderedBy(o.ID)
			}
		}
		for _, a := range awaited {
			if seen[a] {
				continue
			}
			seen[a] = true
			out = append(out, a)
			queue = append(queue, a)
		}
	}
	return out
}

// awaitedBy returns the units of the graph Kustomization k's readiness
// includes directly: its render's units with wait, those its healthChecks
// name.
func (g *Graph) awaitedBy(k *Kustomization) []ID {
	var out []ID
	if k.Wait {
		out = g.renderedBy(k.ID)
	}
	for _, id := range HealthCheckUnits(k) {
		if _, ok := g.objects[id].(Unit); ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// renderedBy returns the units of the graph that parent's render held.
func (g *Graph) renderedBy(parent ID) []ID {
	var out []ID
	for _, id := range g.units {
		if g.parents[id] == parent {
			out = append(out, id)
		}
	}
	return out
}

// HealthCheckUnits returns the Kustomizations and HelmReleases k's
// healthChecks name (namespace defaulted to k's). A run judges them as
// units, not as objects in the cluster: they are not applied.
func HealthCheckUnits(k *Kustomization) []ID {
	var out []ID
	for _, hc := range k.HealthChecks {
		gv, _ := schema.ParseGroupVersion(hc.APIVersion)
		if !IsUnitKind(gv.Group, hc.Kind) {
			continue
		}
		ns := hc.Namespace
		if ns == "" {
			ns = k.ID.Namespace
		}
		out = append(out, ID{Kind: hc.Kind, Namespace: ns, Name: hc.Name})
	}
	return out
}

// IsUnitKind reports whether group and kind are those of a Kustomization
// or a HelmRelease (any group when group is empty).
func IsUnitKind(group, kind string) bool {
	switch kind {
	case KindKustomization:
		return group == "" || group == KustomizeGroup
	case KindHelmRelease:
		return group == "" || group == HelmGroup
	}
	return false
}
