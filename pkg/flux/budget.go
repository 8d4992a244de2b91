package flux

import "time"

// Budget bounds how long Schedule takes to run g's units with concurrency
// workers when no unit takes longer than cost says: the total work shared
// by the workers plus the longest chain of units that wait for one another
// (a unit waits for those it dependsOn and for the unit whose render holds
// it). Schedule starts a unit as soon as a worker is free and the unit is
// ready, and such a schedule never takes longer than W/c + L (Graham's
// bound for list scheduling). Units of a dependency cycle never run and
// count once. concurrency <= 0 means DefaultConcurrency.
func Budget(g *Graph, concurrency int, cost func(Unit) time.Duration) time.Duration {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	units := g.Units()
	costs := make(map[ID]time.Duration, len(units))
	var work time.Duration
	for _, u := range units {
		c := cost(u)
		costs[u.Metadata().ID] = c
		work += c
	}
	// chain[id] is the longest chain of waits ending with id, id included.
	chain := make(map[ID]time.Duration, len(units))
	visiting := map[ID]bool{}
	var longest func(id ID) time.Duration
	longest = func(id ID) time.Duration {
		if d, ok := chain[id]; ok {
			return d
		}
		c, ok := costs[id]
		if !ok || visiting[id] {
			return 0 // not a unit of g, or a cycle: it does not run
		}
		visiting[id] = true
		var before time.Duration
		waits := g.Object(id).(Unit).Dependencies()
		if p, ok := g.Parent(id); ok {
			waits = append(waits[:len(waits):len(waits)], p)
		}
		for _, w := range waits {
			before = max(before, longest(w))
		}
		delete(visiting, id)
		chain[id] = before + c
		return chain[id]
	}
	var critical time.Duration
	for _, u := range units {
		critical = max(critical, longest(u.Metadata().ID))
	}
	return work/time.Duration(concurrency) + critical
}
