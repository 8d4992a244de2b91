package flux

import (
	"fmt"
	"slices"
)

// automationSources returns what ImageUpdateAutomation a reads: its
// GitRepository, then each ImagePolicy it selects (by name) followed by
// the policy's ImageRepository. A policy whose ImageRepository the graph
// does not hold wraps ErrNotFound.
func (g *Graph) automationSources(a *ImageUpdateAutomation) ([]Object, error) {
	self := a.ID
	if err := g.crossNamespace(self, "sourceRef", a.Source); err != nil {
		return nil, err
	}
	src, ok := g.objects[a.Source]
	if !ok {
		return nil, fmt.Errorf("%s: sourceRef %s: %w in this run", self, a.Source, ErrNotFound)
	}
	out := []Object{src}
	var policies []ID
	for id, o := range g.objects {
		if a.Selects(o) {
			policies = append(policies, id)
		}
	}
	slices.SortFunc(policies, func(x, y ID) int { return cmpString(x.Name, y.Name) })
	for _, id := range policies {
		p := g.objects[id]
		out = append(out, p)
		ip, ok := p.(*ImagePolicy)
		if !ok {
			continue // a policy that could not be decoded fails the automation
		}
		if err := g.crossNamespace(id, "imageRepositoryRef", ip.ImageRepositoryRef); err != nil {
			return nil, err
		}
		repo, ok := g.objects[ip.ImageRepositoryRef]
		if !ok {
			return nil, fmt.Errorf("%s: %s imageRepositoryRef %s: %w in this run", self, id, ip.ImageRepositoryRef, ErrNotFound)
		}
		out = append(out, repo)
	}
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Dependencies returns what unit u waits for: its dependsOn and, unless u
// is one itself, every ImageUpdateAutomation of the graph that writes to
// a GitRepository u reads (so that u applies the commit the automation
// pushes in the same run). An automation u rendered itself, directly or
// through its children, is not waited for: it cannot run before u. Each
// Kustomization of dependsOn brings the units its readiness includes in
// Flux (see withAwaited).
func (g *Graph) Dependencies(u Unit) []ID {
	deps := g.withAwaited(u, u.Dependencies())
	if _, ok := u.(*ImageUpdateAutomation); ok || len(g.automations) == 0 {
		return deps
	}
	srcs, err := g.Sources(u)
	if err != nil {
		return deps
	}
	self := u.Metadata().ID
	for _, aid := range g.automations {
		a := g.objects[aid].(*ImageUpdateAutomation)
		if !slices.ContainsFunc(srcs, func(o Object) bool { return o.Metadata().ID == a.Source }) || g.descends(aid, self) {
			continue
		}
		if !slices.Contains(deps, aid) {
			deps = append(slices.Clip(deps), aid)
		}
	}
	return deps
}

// descends reports whether id was rendered by unit ancestor, directly or
// through its children.
func (g *Graph) descends(id, ancestor ID) bool {
	for range 64 {
		p, ok := g.parents[id]
		if !ok || p == (ID{}) {
			return false
		}
		if p == ancestor {
			return true
		}
		id = p
	}
	return false
}
