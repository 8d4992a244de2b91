package spec

import "time"

// DefaultSourceBudget is the FetchBudget of a kind of source that says
// nothing about its time: a Resolve and a Fetch of a minute each.
const DefaultSourceBudget = 2 * 60 * time.Second

// budgeter is implemented by members of Source to say how long their
// Resolve and Fetch may take together at most.
type budgeter interface {
	budget() time.Duration
}

// FetchBudget returns how long resolving and fetching the source may take
// at most when every operation runs into its timeout: each kind's timeout
// bounds its Resolve and its Fetch, and a Git source's includes and
// submodules are one Resolve and one Fetch more each (the submodules
// counted once: how many there are is only known after the fetch). The
// Job's activeDeadlineSeconds includes it, so that a slow source fails on
// its own timeout, with a message saying so, instead of being killed.
// DefaultSourceBudget when no kind or several are set.
func (s *Source) FetchBudget() time.Duration {
	m, ok := s.one()
	if !ok {
		return DefaultSourceBudget
	}
	if b, ok := m.kind.(budgeter); ok {
		return b.budget()
	}
	return DefaultSourceBudget
}

// timeoutOr returns d's duration, or def when d is nil.
func timeoutOr(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func (g *GitSource) budget() time.Duration {
	ops := 2 + 2*len(g.Include)
	if g.RecurseSubmodules {
		ops += 2
	}
	return time.Duration(ops) * timeoutOr(g.Timeout, DefaultGitTimeout)
}

func (h *HelmSource) budget() time.Duration {
	return 2 * timeoutOr(h.Timeout, DefaultHelmTimeout)
}

func (o *OCISource) budget() time.Duration {
	return 2 * timeoutOr(o.Timeout, DefaultOCITimeout)
}

func (b *BucketSource) budget() time.Duration {
	return 2 * timeoutOr(b.Timeout, DefaultBucketTimeout)
}
