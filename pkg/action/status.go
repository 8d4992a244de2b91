package action

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// statusHistoryLimit is how many history entries a detailed status holds.
const statusHistoryLimit = 5

// SyncStatus is the structured status of one sync, what `status -o
// yaml|json` prints. Its JSON field names are a stable interface for
// scripts.
type SyncStatus struct {
	// Name and Namespace name the sync.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Source is where the manifests come from; empty when the spec cannot
	// be read.
	Source SourceStatus `json:"source,omitzero"`
	// Path is the directory inside the source.
	Path string `json:"path,omitempty"`
	// TargetNamespace is spec.targetNamespace.
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// Prune is spec.prune with its default applied.
	Prune bool `json:"prune"`
	// DependsOn are the syncs (NAMESPACE/NAME) of spec.dependsOn; which of
	// them the last run waited on is LastRun.WaitingOn.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Schedule is the CronJob's schedule.
	Schedule string `json:"schedule,omitempty"`
	// Suspended tells whether scheduled runs are off.
	Suspended bool `json:"suspended"`
	// PinnedRevision is the revision a rollback pinned the sync to; resume
	// clears it.
	PinnedRevision string `json:"pinnedRevision,omitempty"`
	// LastScheduleTime is when the CronJob last started a scheduled run.
	LastScheduleTime *time.Time `json:"lastScheduleTime,omitempty"`
	// NextRun is when the CronJob will start the next run; absent when
	// suspended or unknown.
	NextRun *time.Time `json:"nextRun,omitempty"`
	// LastAppliedRevision is the revision of the last successful run.
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAppliedTime is when that run ended.
	LastAppliedTime *time.Time `json:"lastAppliedTime,omitempty"`
	// LastCheckedTime is when a run last ended having checked the sync:
	// the newest of the last recorded run's end, the CronJob's
	// status.lastSuccessfulTime and, in a detailed status, the
	// completionTime of the newest of its Jobs that succeeded. A run that
	// found nothing to do rewrites no record (docs/architecture.md, "One
	// run"), so only its Job says when it ran. A Job that succeeded may
	// also be a run that found another run holding the Lease; a run
	// outside a Job (`run --local`) that found nothing to do leaves no
	// trace.
	LastCheckedTime *time.Time `json:"lastCheckedTime,omitempty"`
	// LastAttemptedRevision is the revision of the last run.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastRun is the last run; absent before the first one.
	LastRun *inventory.Run `json:"lastRun,omitempty"`
	// Objects is the number of objects in the inventory.
	Objects int `json:"objects"`
	// ObjectsByKind counts the inventory's objects per Kind[.group]
	// (detailed status only).
	ObjectsByKind map[string]int `json:"objectsByKind,omitempty"`
	// History holds the newest history entries, newest first (detailed
	// status only).
	History []inventory.History `json:"history,omitempty"`
	// ActiveJobs are the CronJob's unfinished Jobs (detailed status only).
	ActiveJobs []JobStatus `json:"activeJobs,omitempty"`
	// Lease is the sync's Lease, while a run holds it or until a dead
	// run's Lease expires (detailed status only).
	Lease *LeaseStatus `json:"lease,omitempty"`
	// Units are the Kustomizations and HelmReleases the sync's last run
	// executed as units, in the order it found them: each names its
	// parent, source, dependencies, the dependency that blocked it,
	// result, revision and objects.
	Units []inventory.UnitRecord `json:"units,omitempty"`
	// Problems are what is wrong with the sync's objects: an invalid spec,
	// a missing CronJob, an unreadable inventory.
	Problems []string `json:"problems,omitempty"`
}

// SourceStatus is the source of a SyncStatus.
type SourceStatus struct {
	// Kind is the kind of source: "git", "helm", "oci" or "bucket".
	Kind string `json:"kind,omitempty"`
	// URL is the Git repository, the Helm repository, the OCI artifact's
	// repository or the bucket's endpoint, credentials masked.
	URL string `json:"url,omitempty"`
	// Ref says what is taken from it, in words: the Git ref ("branch main",
	// "tag v1.2.0"), the chart and version ("chart web, version 1.x"), the
	// artifact's ref ("semver >=1.0.0") or the bucket and prefix.
	Ref string `json:"ref,omitempty"`
	// Digest pins the content of the last applied revision: the Git
	// commit (sha1:...), the artifact's manifest digest or the bucket
	// listing's digest (sha256:...). Empty before the first successful
	// run and for a chart version of an HTTP repository.
	Digest string `json:"digest,omitempty"`
	// Details are the source's other settings in words, one an entry
	// (spec.Source.Details): the Secret of its credentials, signature
	// verification, sparse checkout, submodules, includes, ignore rules,
	// a bucket's region.
	Details []string `json:"details,omitempty"`
}

// DescribeSource returns the source of a spec as status shows it.
func DescribeSource(s *spec.SyncSpec) SourceStatus {
	kind, url, ref := s.Source.Describe()
	return SourceStatus{Kind: kind, URL: url, Ref: ref, Details: s.Source.Details()}
}

// describeSource is DescribeSource of the sync's spec with the digest of
// the last applied revision, and for a Git ref that follows the remote's
// HEAD also the branch HEAD named at the last run ("default branch main",
// from the recorded revision).
func (s *Sync) describeSource() SourceStatus {
	src := DescribeSource(&s.Spec.Spec)
	rec := s.Record()
	src.Digest = source.Revision(rec.LastAppliedRevision).Digest()
	if g := s.Spec.Spec.Source.Git; g != nil && g.Ref == (spec.GitRef{}) {
		if branch, _, ok := strings.Cut(cmp.Or(rec.LastAttemptedRevision, rec.LastAppliedRevision), "@sha1:"); ok && branch != "" {
			src.Ref = "default branch " + branch
		}
	}
	return src
}

// JobStatus is one of a sync's unfinished Jobs.
type JobStatus struct {
	// Name is the Job's name.
	Name string `json:"name"`
	// Status is Suspended, Pending (no Pod yet), Starting (Pods not ready)
	// or Running.
	Status string `json:"status"`
	// StartTime is when the Job controller started it.
	StartTime *time.Time `json:"startTime,omitempty"`
}

// StatusList is the status of several syncs, what `status -o yaml|json`
// prints without NAME.
type StatusList struct {
	// Items are the syncs, sorted by namespace and name.
	Items []SyncStatus `json:"items"`
}

// StatusOptions select the status Status returns.
type StatusOptions struct {
	// Ref names the sync.
	Ref
	// Detail adds what only a description of one sync shows: the objects
	// per kind, the newest history entries and the active Jobs. Default
	// false.
	Detail bool
}

// Status returns the status of one sync at cfg's clock. Parts that cannot
// be read are reported in Problems; only a sync that does not exist
// (ErrSyncNotFound) or cannot be read at all fails it.
func Status(ctx context.Context, cfg *Config, opts StatusOptions) (*SyncStatus, error) {
	s, err := GetSync(ctx, cfg, opts.Ref)
	if err != nil {
		return nil, err
	}
	st := BuildStatus(s, cfg.now())
	if !opts.Detail {
		return &st, nil
	}
	if entries := s.Entries(); len(entries) > 0 {
		st.ObjectsByKind = map[string]int{}
		for _, e := range entries {
			st.ObjectsByKind[KindName(e.Group, e.Kind)]++
		}
	}
	hist, err := s.Store(cfg.Client).ListHistory(ctx)
	if err != nil {
		st.Problems = append(st.Problems, "history: "+err.Error())
	}
	st.History = hist[:min(len(hist), statusHistoryLimit)]
	jobs, checked, err := activeJobs(ctx, cfg, s)
	if err != nil {
		st.Problems = append(st.Problems, "jobs: "+err.Error())
	}
	st.ActiveJobs = jobs
	st.LastCheckedTime = later(st.LastCheckedTime, checked)
	if st.Lease, err = readLease(ctx, cfg, opts.Ref, cfg.now()); err != nil {
		st.Problems = append(st.Problems, "lease: "+err.Error())
	}
	return &st, nil
}

// StatusOfAll returns the status of every sync ListSyncs finds.
func StatusOfAll(ctx context.Context, cfg *Config, opts ListOptions) (*StatusList, error) {
	syncs, err := ListSyncs(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	now := cfg.now()
	list := &StatusList{Items: make([]SyncStatus, 0, len(syncs))}
	for _, s := range syncs {
		list.Items = append(list.Items, BuildStatus(s, now))
	}
	return list, nil
}

// BuildStatus returns the status of s at time now, without what only a
// detailed status shows (objects per kind, history, Jobs).
func BuildStatus(s *Sync, now time.Time) SyncStatus {
	st := SyncStatus{
		Name:           s.Name,
		Namespace:      s.Namespace,
		Schedule:       s.Schedule(),
		Suspended:      s.Suspended(),
		PinnedRevision: s.PinnedRevision(),
		Prune:          spec.DefaultPrune,
	}
	if s.Spec != nil {
		sp := s.Spec.Spec
		st.Source = s.describeSource()
		st.Path = sp.Path
		st.TargetNamespace = sp.TargetNamespace
		st.Prune = sp.PruneEnabled()
		for _, d := range s.Spec.DependenciesIn(s.Namespace) {
			st.DependsOn = append(st.DependsOn, d.String())
		}
	}
	if s.SpecErr != nil {
		st.Problems = append(st.Problems, "spec: "+s.SpecErr.Error())
	}
	if s.CronJob == nil {
		st.Problems = append(st.Problems, fmt.Sprintf("CronJob/%s/%s: not found: no scheduled runs", s.Namespace, names.CronJob(s.Name)))
	} else {
		if t := s.CronJob.Status.LastScheduleTime; t != nil {
			st.LastScheduleTime = timePtr(t.Time)
		}
		if !st.Suspended {
			next, err := NextRun(s.CronJob, now)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Sprintf("CronJob/%s/%s: %v", s.Namespace, s.CronJob.Name, err))
			} else if !next.IsZero() {
				st.NextRun = timePtr(next)
			}
		}
	}
	if s.InventoryErr != nil {
		st.Problems = append(st.Problems, "inventory: "+s.InventoryErr.Error())
	}
	rec := s.Record()
	st.LastAppliedRevision = rec.LastAppliedRevision
	st.LastAttemptedRevision = rec.LastAttemptedRevision
	if !rec.LastAppliedTime.IsZero() {
		st.LastAppliedTime = timePtr(rec.LastAppliedTime)
	}
	if rec.LastRun.Result != "" || !rec.LastRun.Start.IsZero() {
		run := rec.LastRun
		st.LastRun = &run
	}
	st.LastCheckedTime = later(nil, rec.LastRun.End)
	if s.CronJob != nil && s.CronJob.Status.LastSuccessfulTime != nil {
		st.LastCheckedTime = later(st.LastCheckedTime, s.CronJob.Status.LastSuccessfulTime.Time)
	}
	st.Objects = len(s.Entries())
	st.Units = rec.Units
	return st
}

// later returns the later of t and u (in UTC); nil when both are unset.
func later(t *time.Time, u time.Time) *time.Time {
	if u.IsZero() || t != nil && !u.After(*t) {
		return t
	}
	return timePtr(u)
}

func timePtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

// KindName returns Kind for the core group and Kind.group otherwise.
func KindName(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// activeJobs returns the unfinished Jobs the sync's CronJob owns, oldest
// first, and when the newest of those that succeeded completed (zero when
// none did).
func activeJobs(ctx context.Context, cfg *Config, s *Sync) ([]JobStatus, time.Time, error) {
	if s.CronJob == nil {
		return nil, time.Time{}, nil
	}
	jobs, err := ownedJobs(ctx, cfg.Client, s.CronJob)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []JobStatus
	var completed time.Time
	for i := len(jobs) - 1; i >= 0; i-- {
		j := jobs[i]
		if finished, succeeded, _ := jobOutcome(j); finished {
			if succeeded && j.Status.CompletionTime != nil && j.Status.CompletionTime.After(completed) {
				completed = j.Status.CompletionTime.Time
			}
			continue
		}
		js := JobStatus{Name: j.Name, Status: jobPhase(j)}
		if j.Status.StartTime != nil {
			js.StartTime = timePtr(j.Status.StartTime.Time)
		}
		out = append(out, js)
	}
	return out, completed, nil
}
