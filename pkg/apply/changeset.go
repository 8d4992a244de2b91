package apply

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// Action is what the engine did to one object.
type Action string

// The actions a Change can report.
const (
	// Created: the object did not exist and was created.
	Created Action = "Created"
	// Configured: the object existed and its content changed.
	Configured Action = "Configured"
	// Unchanged: the object existed and applying it changed no content.
	Unchanged Action = "Unchanged"
	// Replaced: an immutable field changed and force was asked for, so the
	// object was deleted and created again (its UID changed).
	Replaced Action = "Replaced"
	// Deleted: prune deleted the object, or found it already gone.
	Deleted Action = "Deleted"
	// Skipped: the object was left alone on purpose; Change.Err is nil when an
	// annotation asked for it and wraps ErrNotAttempted when an earlier stage
	// failed.
	Skipped Action = "Skipped"
	// Failed: the request for this object failed; Change.Err says why.
	Failed Action = "Failed"
)

// ErrNotAttempted marks objects the engine did not send because an earlier
// stage failed (a CR is not applied when its CRD could not be). Such a
// Change is Skipped and its Err wraps ErrNotAttempted.
var ErrNotAttempted = errors.New("not attempted: an earlier stage failed")

// Target names one object on the server without needing discovery: enough
// to GET, LIST or DELETE it. The orchestrator stores Targets (as inventory
// entries) between runs.
type Target struct {
	object.ID
	// Version is the API version the object was applied with (v1, v1beta1);
	// the group is in ID.
	Version string
	// Resource is the plural resource name (deployments).
	Resource string
	// Namespaced tells whether the resource is namespaced.
	Namespaced bool
	// Fingerprint describes the object right after gitsync applied it (a
	// hash of its UID and of gitsync's share of its managedFields) and what
	// was applied (a hash of the body sent); at most 33 bytes. Drift compares
	// the first with the live object; Apply (Options.Fingerprints) uses both
	// to skip objects that cannot have changed. Empty for objects Drift must
	// not check (skipped, or not ours). Opaque to callers: store it verbatim.
	Fingerprint string
}

// GroupVersionResource returns the target's resource with its version.
func (t Target) GroupVersionResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: t.Group, Version: t.Version, Resource: t.Resource}
}

// Change is what happened to one object.
type Change struct {
	// Target is the object. Its ID is normalized: a cluster-scoped object
	// never carries a namespace, even when the rendered object had one. Its
	// Version and Resource are empty when the kind could not be resolved.
	Target
	// Action is what was done.
	Action Action
	// Err is set for Failed changes, and for Skipped ones that were not
	// attempted (ErrNotAttempted). It starts with the object's ID.
	Err error
	// Adopted is set when the apply took the object from someone else, and
	// says from whom; nil for objects that were ours or new.
	Adopted *Adoption
	// Before and After are set only by a dry run: the live object (nil when
	// it does not exist) and the server's dry-run result (nil when nothing
	// was sent). They let a caller show a diff.
	Before, After *unstructured.Unstructured
}

// Adoption says from whom Apply took an object.
type Adoption struct {
	// Labels are the live object's values of the keys of Options.Labels:
	// another owner's, whose object was adopted on request (Options.Adopt,
	// AnnotationAdopt). Empty for an object no owner had labelled.
	Labels map[string]string
	// Managers are the field managers that had written the object, other
	// than the engine's, sorted.
	Managers []string
}

// ChangeSet is the result of one Apply or Prune: one Change per object, in
// the order the objects were given (Apply) or processed (Prune).
type ChangeSet struct {
	Changes []Change
}

// Counts returns how many changes have each action.
func (cs *ChangeSet) Counts() map[Action]int {
	counts := make(map[Action]int)
	for _, c := range cs.Changes {
		counts[c.Action]++
	}
	return counts
}

// Err joins the errors of the Failed changes, each starting with its object's
// ID, and adds one line counting the objects that were not attempted. It is
// nil when nothing failed.
func (cs *ChangeSet) Err() error {
	var errs []error
	notAttempted := 0
	for _, c := range cs.Changes {
		switch {
		case c.Action == Failed:
			errs = append(errs, c.Err)
		case errors.Is(c.Err, ErrNotAttempted):
			notAttempted++
		}
	}
	if notAttempted > 0 {
		errs = append(errs, fmt.Errorf("%d objects %w", notAttempted, ErrNotAttempted))
	}
	return errors.Join(errs...)
}

// Targets returns the targets of the changes whose action is one of actions,
// or of all changes when actions is empty.
func (cs *ChangeSet) Targets(actions ...Action) []Target {
	var out []Target
	for _, c := range cs.Changes {
		if len(actions) == 0 || containsAction(actions, c.Action) {
			out = append(out, c.Target)
		}
	}
	return out
}

func containsAction(actions []Action, a Action) bool {
	for _, x := range actions {
		if x == a {
			return true
		}
	}
	return false
}

// ErrNotServed marks stale objects that prune kept because their resource is
// not served at any version (their CRD or API exists but serves none of its
// versions): the objects may still exist, so they are neither deleted nor
// forgotten. Such a Change is Skipped and its Err wraps ErrNotServed; the
// caller keeps it in the inventory, reports it, and the next run that finds
// the resource served again prunes it.
var ErrNotServed = errors.New("resource not served; kept in the inventory until it is served again")

// ErrOutOfScope marks stale objects that prune left alone because they lie
// outside the sync's current scope (PruneOptions.InScope): the sync may no
// longer touch them. Such a Change is Skipped and its Err wraps
// ErrOutOfScope; the caller drops it from the inventory and reports it as
// orphaned: it stays in the cluster, and no sync tracks it any more.
var ErrOutOfScope = errors.New("outside the sync's current scope; orphaned: left in place and no longer tracked")
