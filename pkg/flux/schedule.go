package flux

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is what happened to a unit in Schedule.
type Status string

const (
	// Succeeded: the unit ran and its RunFunc returned no error.
	Succeeded Status = "Succeeded"
	// Failed: its RunFunc returned an error, or the unit could never run
	// (a cycle, a source or dependency no unit defines, a refused
	// cross-namespace reference, objects it rendered that were already in
	// the run).
	Failed Status = "Failed"
	// Skipped: a dependency failed or was skipped, or the run was
	// cancelled before the unit started.
	Skipped Status = "Skipped"
)

// ErrDependency is wrapped by the error of a unit skipped because a
// dependency did not succeed.
var ErrDependency = errors.New("dependency did not succeed")

// DefaultConcurrency is ScheduleOptions.Concurrency when not set.
const DefaultConcurrency = 4

// Result is what happened to one unit.
type Result struct {
	// Unit is the unit; Parent the unit whose render held it, zero for
	// the sync's own render.
	Unit   ID
	Parent ID
	Status Status
	// Err says why the unit failed or was skipped; nil when it succeeded.
	Err error
	// Start and End bound the unit's RunFunc; zero when it did not run.
	Start, End time.Time
}

// RunFunc runs one unit. sources are the unit's sources as Graph.Sources
// returns them, nearest first. It returns the Flux objects the unit's
// render held (decoded, Flux's installation left out), which join the
// graph as children of the unit; with a non-nil error they are not
// added, since Flux would not have applied them either. A RunFunc runs
// concurrently with others and must not call the Graph: everything it
// needs is passed in.
type RunFunc func(ctx context.Context, u Unit, sources []Object) ([]Object, error)

// ScheduleOptions are the options of Schedule.
type ScheduleOptions struct {
	// Run runs one unit. Required.
	Run RunFunc
	// Concurrency is how many units run at once. Default
	// DefaultConcurrency.
	Concurrency int
	// Unordered starts a unit without waiting for the units it depends on
	// (its sources it still waits for). For runs that only read, such as
	// the check of a tree before its run takes the Lease: every unit
	// found idle would have run in the same state in any order, and the
	// first that is not ends the check. A dependency that failed still
	// skips the units that have not started. Default false.
	Unordered bool
	// DependencyReady decides whether dependency dep, done with result r,
	// is ready for unit u when u's dependsOn entry for it has a readyExpr
	// (expr), instead of r's success, as Flux's readyExpr replaces its
	// readiness check. An error fails u. Without it, such an entry counts
	// as any other.
	DependencyReady func(ctx context.Context, u Unit, dep ID, expr string, r Result) (bool, error)
}

// ReadyExprs is implemented by units whose dependsOn entries may hold a
// readyExpr: it returns them by dependency.
type ReadyExprs interface {
	DependencyReadyExprs() map[ID]string
}

// DependencyReadyExprs implements ReadyExprs.
func (k *Kustomization) DependencyReadyExprs() map[ID]string { return k.ReadyExprs }

// DependencyReadyExprs implements ReadyExprs.
func (h *HelmRelease) DependencyReadyExprs() map[ID]string { return h.ReadyExprs }

// unitState is a unit's place in the schedule.
type unitState int

const (
	pending unitState = iota
	running
	done
)

// completion is what a worker reports.
type completion struct {
	id      ID
	objects []Object
	err     error
	start   time.Time
	end     time.Time
}

// Schedule runs every unit of g, and every unit their runs add, and
// returns one Result per unit in the order the units were added.
//
// The rules, in the words of Flux's dependsOn but within one run:
//   - A unit starts only when every unit it depends on has Succeeded in
//     this run; at most Concurrency units run at once, the others wait in
//     the order they were added.
//   - When a dependency Failed or was Skipped, the unit is Skipped, and its
//     error names that dependency and why.
//   - A dependsOn entry with a readyExpr replaces that rule for its
//     dependency, once it is done: ScheduleOptions.DependencyReady decides
//     whether it is ready (the unit then starts, even after a failed
//     dependency), not ready (Skipped) or cannot tell (Failed).
//   - A unit on a dependsOn cycle Fails as soon as the cycle is known, and
//     its error names the whole cycle.
//   - A dependency on a Kustomization includes what its readiness includes
//     in Flux: with wait, the units it renders; the units its healthChecks
//     name (Graph.Dependencies).
//   - A dependency or source the graph does not hold may still be rendered
//     by a unit that is running or waiting (app of apps: dependsOn may
//     name a unit found later). The unit waits until nothing that runs
//     could add it any more, then Fails naming what is missing.
//   - A sourceRef or chartRef still missing then is given
//     GraphOptions.Fallback's object, when it has one, and the units
//     reading it start.
//   - Suspended units are run like others: RunFunc decides what suspend
//     means (leave the objects as they are and succeed, so that
//     dependents run against what the unit applied before).
//   - When ctx is cancelled no further unit starts; the running ones are
//     waited for, the others are Skipped with ctx's error.
func Schedule(ctx context.Context, g *Graph, opts ScheduleOptions) []Result {
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	s := &scheduler{ctx: ctx, g: g, state: map[ID]unitState{}, results: map[ID]*Result{}, unordered: opts.Unordered,
		dependencyReady: opts.DependencyReady, judged: map[[2]ID]judgement{}}
	completions := make(chan completion)
	inFlight := 0
	for {
		s.track()
		s.settle(false)
		for _, id := range s.order {
			if inFlight >= limit || ctx.Err() != nil {
				break
			}
			if s.state[id] != pending {
				continue
			}
			u := g.objects[id].(Unit)
			sources, ok := s.ready(u)
			if !ok {
				continue
			}
			s.state[id] = running
			inFlight++
			go func() {
				start := time.Now()
				objs, err := opts.Run(ctx, u, sources)
				completions <- completion{id: id, objects: objs, err: err, start: start, end: time.Now()}
			}()
		}
		if inFlight == 0 {
			if ctx.Err() != nil {
				s.cancelPending(context.Cause(ctx))
				break
			}
			// Nothing runs, so nothing can add the missing objects any
			// more: what still waits for one fails now.
			if !s.settle(true) {
				break
			}
			continue
		}
		c := <-completions
		inFlight--
		s.finish(c)
	}
	out := make([]Result, len(s.order))
	for i, id := range s.order {
		out[i] = *s.results[id]
	}
	return out
}

// scheduler is Schedule's bookkeeping; only Schedule's goroutine uses it.
type scheduler struct {
	ctx     context.Context
	g       *Graph
	order   []ID
	state   map[ID]unitState
	results map[ID]*Result
	// cycles is g.Cycles(), computed again only when units are added,
	// since nothing else changes it.
	cycles map[ID]error
	// fellBack is set when settle added a GraphOptions.Fallback object:
	// the units waiting for it can start.
	fellBack bool
	// unordered is ScheduleOptions.Unordered.
	unordered bool
	// dependencyReady is ScheduleOptions.DependencyReady; judged what it
	// said, by unit and dependency (a done dependency does not change).
	dependencyReady func(ctx context.Context, u Unit, dep ID, expr string, r Result) (bool, error)
	judged          map[[2]ID]judgement
}

// judgement is a readyExpr's verdict on a done dependency.
type judgement struct {
	ready bool
	err   error
}

// judge returns what u's readyExpr for dep, done, says, and whether u has
// one for it.
func (s *scheduler) judge(u Unit, dep ID) (judgement, bool) {
	re, ok := u.(ReadyExprs)
	if !ok || s.dependencyReady == nil {
		return judgement{}, false
	}
	expr := re.DependencyReadyExprs()[dep]
	if expr == "" {
		return judgement{}, false
	}
	key := [2]ID{u.Metadata().ID, dep}
	if j, ok := s.judged[key]; ok {
		return j, true
	}
	ready, err := s.dependencyReady(s.ctx, u, dep, expr, *s.results[dep])
	j := judgement{ready: ready, err: err}
	s.judged[key] = j
	return j, true
}

// track picks up units added to the graph since the last call.
func (s *scheduler) track() {
	added := s.g.units[len(s.order):]
	for _, id := range added {
		s.order = append(s.order, id)
		parent, _ := s.g.Parent(id)
		s.results[id] = &Result{Unit: id, Parent: parent}
	}
	if len(added) > 0 || s.cycles == nil {
		s.cycles = s.g.Cycles()
	}
}

func (s *scheduler) end(id ID, status Status, err error) {
	s.state[id] = done
	s.results[id].Status = status
	s.results[id].Err = err
}

// settle ends the pending units that can never run: on a cycle, with a
// refused reference, after a dependency that did not succeed and, when
// final (nothing runs any more), with a dependency or source the graph
// does not hold. It repeats until nothing changes and reports whether any
// pending unit remains.
func (s *scheduler) settle(final bool) bool {
	for changed := true; changed; {
		changed = false
		for _, id := range s.order {
			if s.state[id] != pending {
				continue
			}
			u := s.g.objects[id].(Unit)
			if err := s.blocked(u, s.cycles[id], final); err != nil {
				status := Failed
				if errors.Is(err, ErrDependency) {
					status = Skipped
				}
				s.end(id, status, err)
				changed = true
			}
		}
	}
	if s.fellBack {
		s.fellBack = false
		return true
	}
	for _, id := range s.order {
		if s.state[id] == pending {
			if final {
				// Every pending unit waits for a pending unit. Through
				// dependsOn alone that ends on a cycle or a missing
				// object, both failed above; what is left waits through
				// the wait or healthChecks of a dependency (Graph.
				// Dependencies) for a unit that waits for it.
				var waits []string
				for _, d := range s.g.Dependencies(s.g.objects[id].(Unit)) {
					if s.state[d] == pending {
						waits = append(waits, d.String())
					}
				}
				s.end(id, Failed, fmt.Errorf("%s: %w: it waits for %s, through the wait or healthChecks of its dependencies, "+
					"and they wait for it", id, ErrCycle, strings.Join(waits, ", ")))
				continue
			}
			return true
		}
	}
	return false
}

// blocked returns why pending unit u can never run, or nil.
func (s *scheduler) blocked(u Unit, cycle error, final bool) error {
	id := u.Metadata().ID
	if cycle != nil {
		return fmt.Errorf("%s: %w", id, cycle)
	}
	if err := s.g.dependencyError(u, final); err != nil {
		return err
	}
	for _, dep := range s.g.Dependencies(u) {
		r, ok := s.results[dep]
		if !ok || s.state[dep] != done {
			continue
		}
		if j, has := s.judge(u, dep); has {
			switch {
			case j.err != nil:
				return fmt.Errorf("%s: spec.dependsOn %s: readyExpr: %w", id, dep, j.err)
			case !j.ready:
				return fmt.Errorf("%s: %w: %s is not ready: its readyExpr is false (it %s)", id, ErrDependency, dep, strings.ToLower(string(r.Status)))
			}
			continue
		}
		if r.Status == Succeeded {
			continue
		}
		what := "failed"
		if r.Status == Skipped {
			what = "was skipped"
		}
		return fmt.Errorf("%s: %w: %s %s: %w", id, ErrDependency, dep, what, r.Err)
	}
	if _, err := s.g.Sources(u); err != nil && (final || !errors.Is(err, ErrNotFound)) {
		if final && errors.Is(err, ErrNotFound) && s.g.AddFallback(u) {
			s.fellBack = true
			return nil
		}
		return err
	}
	return nil
}

// ready returns u's sources when u can start now.
func (s *scheduler) ready(u Unit) ([]Object, bool) {
	if !s.unordered && !s.dependenciesSucceeded(u) {
		return nil, false
	}
	sources, err := s.g.Sources(u)
	return sources, err == nil
}

// dependenciesSucceeded reports whether every unit u depends on ran and
// succeeded, or, for a dependsOn entry with a readyExpr, ran and is ready
// by it.
func (s *scheduler) dependenciesSucceeded(u Unit) bool {
	for _, dep := range s.g.Dependencies(u) {
		r, ok := s.results[dep]
		if !ok || s.state[dep] != done {
			return false
		}
		if j, has := s.judge(u, dep); has {
			if j.err != nil || !j.ready {
				return false
			}
			continue
		}
		if r.Status != Succeeded {
			return false
		}
	}
	return true
}

// finish records a completed run and adds what it rendered.
func (s *scheduler) finish(c completion) {
	r := s.results[c.id]
	r.Start, r.End = c.start, c.end
	if c.err != nil {
		s.end(c.id, Failed, fmt.Errorf("%s: %w", c.id, c.err))
		return
	}
	if err := s.g.Add(c.id, c.objects...); err != nil {
		s.end(c.id, Failed, err)
		return
	}
	s.end(c.id, Succeeded, nil)
}

func (s *scheduler) cancelPending(err error) {
	for _, id := range s.order {
		if s.state[id] == pending {
			s.end(id, Skipped, fmt.Errorf("%s: not run: %w", id, err))
		}
	}
}
