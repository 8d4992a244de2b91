package inventory

import (
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/notify"
	"github.com/gitsync/gitsync/pkg/object"
)

// Result is the outcome of a run.
type Result string

// The results a run can end with.
const (
	ResultSucceeded Result = "Succeeded"
	ResultFailed    Result = "Failed"
)

// Record is the status of a sync as its last run left it. Store.Save writes
// it as JSON under the key "record.json" of the inventory ConfigMap, for
// example:
//
//	{
//	  "lastAppliedRevision": "main@sha1:3f2a…",
//	  "lastAppliedSpecDigest": "sha256:9e8d…",
//	  "lastAppliedSetDigest": "sha256:1c2b…",
//	  "lastAppliedTime": "2026-01-02T03:04:05Z",
//	  "lastAttemptedRevision": "main@sha1:3f2a…",
//	  "lastRun": {
//	    "revision": "main@sha1:3f2a…", "specDigest": "sha256:9e8d…", "setDigest": "sha256:1c2b…",
//	    "start": "2026-01-02T03:04:00Z", "end": "2026-01-02T03:04:05Z", "duration": "5s",
//	    "result": "Succeeded", "message": "applied 12 objects",
//	    "counts": {"created": 2, "configured": 1, "unchanged": 9}
//	  }
//	}
//
// The LastApplied fields change only when a run succeeds; they are what the
// next run compares against to skip fetch and render when neither the
// source revision nor the Sync spec changed.
type Record struct {
	// LastAppliedRevision is the source revision of the last run that
	// succeeded.
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAppliedSpecDigest is the digest of the Sync spec of that run.
	LastAppliedSpecDigest string `json:"lastAppliedSpecDigest,omitempty"`
	// LastAppliedSetDigest is the digest of the rendered set of that run.
	LastAppliedSetDigest string `json:"lastAppliedSetDigest,omitempty"`
	// LastAppliedTime is when that run ended.
	LastAppliedTime time.Time `json:"lastAppliedTime,omitzero"`
	// LastAttemptedRevision is the source revision of the last run, whatever
	// its result.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastRun describes the last run; it is zero before the first one ends.
	LastRun Run `json:"lastRun,omitzero"`
	// Units lists the units of the sync (units.go), in the order the last
	// run found them; empty for a sync whose render holds no Flux objects.
	Units []UnitRecord `json:"units,omitempty"`
	// Images lists the image policies the last runs resolved (images.go).
	Images []ImageRecord `json:"images,omitempty"`
	// RunBudget is how long a run of the sync may take when its units run
	// into their timeouts, as the last run with units found them; zero
	// without units. A Job's deadline shorter than it stops a slow run
	// before the units' own timeouts say what was slow.
	RunBudget metav1.Duration `json:"runBudget,omitzero"`
}

// Run describes one run of the sync job.
type Run struct {
	// Revision is the source revision the run worked on.
	Revision string `json:"revision,omitempty"`
	// SpecDigest is the digest of the Sync spec the run read.
	SpecDigest string `json:"specDigest,omitempty"`
	// SetDigest is the digest of the rendered set; empty when the run failed
	// before rendering or skipped rendering.
	SetDigest string `json:"setDigest,omitempty"`
	// Start and End bound the run.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Duration is End minus Start, kept for readers of the ConfigMap.
	Duration metav1.Duration `json:"duration,omitzero"`
	// Result is Succeeded, Failed or DependencyNotReady (wait.go).
	Result Result `json:"result,omitempty"`
	// Message says what happened, or why the run failed. Store truncates
	// it to MaxMessage bytes.
	Message string `json:"message,omitempty"`
	// Counts holds the number of objects per apply or prune action
	// (created, configured, unchanged, deleted, skipped, failed).
	Counts map[string]int `json:"counts,omitempty"`
	// Retries is how many API requests of the run were sent again after a
	// transient fault.
	Retries int64 `json:"retries,omitempty"`
	// VerifiedBy is the id of the key whose signature verified the
	// revision (an OpenPGP key fingerprint or an SSH key's SHA256
	// fingerprint; two joined by "," when a tag and its commit were signed
	// by different keys); empty when the source verifies no signatures.
	VerifiedBy string `json:"verifiedBy,omitempty"`
	// FailedUnits is how many of the sync's units failed or were skipped
	// in a run that applied the sync's own objects (see
	// SucceedExceptUnits).
	FailedUnits int `json:"failedUnits,omitempty"`
	// Orphaned lists objects this run dropped from the inventory without
	// deleting them, because they lie outside the sync's current scope (its
	// target namespace changed, or its rights went from cluster to
	// namespace): they stay in the cluster and no sync tracks them any
	// more. At most MaxOrphaned are listed; OrphanedCount counts them all.
	Orphaned      []object.ID `json:"orphaned,omitempty"`
	OrphanedCount int         `json:"orphanedCount,omitempty"`
	// Drifted is how many objects the drift check found changed or
	// missing.
	Drifted int `json:"drifted,omitempty"`
	// ConsecutiveFailures is how many runs in a row failed, this one
	// included; 0 after a success.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty"`
	// Notify is what became of the run's notifications (spec.notify), one
	// entry per provider that wanted the run's event; it names neither
	// addresses nor tokens.
	Notify []notify.Delivery `json:"notify,omitempty"`
	// Target is the API server the run applied to when it is not the
	// sync's own cluster (spec.kubeConfig); empty otherwise.
	Target string `json:"target,omitempty"`
	// WaitingOn names the dependencies (NAMESPACE/NAME, spec.dependsOn)
	// that kept a run with Result DependencyNotReady from applying
	// anything; empty otherwise.
	WaitingOn []string `json:"waitingOn,omitempty"`
	// ServiceAccount is the user the run's requests for the objects
	// impersonated (spec.serviceAccountName), such as
	// system:serviceaccount:NS:NAME; empty for the job's own identity.
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// MaxOrphaned bounds Run.Orphaned, so that narrowing the scope of a sync
// of thousands of objects cannot crowd the inventory out of its ConfigMap.
const MaxOrphaned = 100

// SetOrphaned records ids as orphaned by the run (see Run.Orphaned).
func (run *Run) SetOrphaned(ids []object.ID) {
	run.OrphanedCount = len(ids)
	run.Orphaned = nil
	if len(ids) > 0 {
		run.Orphaned = append([]object.ID(nil), ids[:min(len(ids), MaxOrphaned)]...)
	}
}

// Succeed records run as the last run and, because it succeeded, as the
// last applied state.
func (r *Record) Succeed(run Run) {
	run.Result = ResultSucceeded
	r.LastRun = run
	r.LastAttemptedRevision = run.Revision
	r.LastAppliedRevision = run.Revision
	r.LastAppliedSpecDigest = run.SpecDigest
	r.LastAppliedSetDigest = run.SetDigest
	r.LastAppliedTime = run.End
}

// Fail records run as the last run; the last applied state stays as it was.
func (r *Record) Fail(run Run) {
	run.Result = ResultFailed
	r.LastRun = run
	r.LastAttemptedRevision = run.Revision
}

// MaxMessage is the length in bytes above which Store cuts run and history
// messages: a failed run over thousands of objects can produce an error text
// that would otherwise crowd the inventory out of its ConfigMap.
const MaxMessage = 16 << 10

const truncatedMark = "… (truncated)"

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(truncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}
