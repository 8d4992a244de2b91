package apply

import (
	"fmt"
	"strings"
)

// Annotation keys that change how one object is applied or pruned. Each has
// a Flux twin under kustomize.toolkit.fluxcd.io/ with the same meaning, so
// manifests written for Flux work unchanged; when both are set the gitsync.io
// key wins. Values are matched case-insensitively.
const (
	// AnnotationReconcile "disabled" leaves the object alone: it is neither
	// applied nor pruned. It is honoured on the rendered object and, as an
	// annotation or a label, on the live object (to pause one object from the
	// cluster side without a commit).
	AnnotationReconcile = "gitsync.io/reconcile"
	// AnnotationSSA chooses the apply policy: Override (default), Merge,
	// IfNotPresent or Ignore. See SSAPolicy.
	AnnotationSSA = "gitsync.io/ssa"
	// AnnotationForce "enabled" lets the engine delete and recreate the
	// object when an immutable field changed, as Options.Force does for all.
	AnnotationForce = "gitsync.io/force"
	// AnnotationPrune "disabled" keeps the object in the cluster when it
	// leaves the rendered set.
	AnnotationPrune = "gitsync.io/prune"
	// AnnotationAdopt "enabled" lets the engine take over the live object
	// when it belongs to another owner (see Options.Adopt). It has no Flux
	// twin: Flux takes every object over without asking.
	AnnotationAdopt = "gitsync.io/adopt"

	fluxPrefix = "kustomize.toolkit.fluxcd.io/"
)

// SSAPolicy is the value of AnnotationSSA.
type SSAPolicy string

// The apply policies, with the semantics of Flux's kustomize-controller.
const (
	// SSAOverride (the default) applies the object and, the first time,
	// migrates fields that kubectl's client-side apply (or a pre-SSA
	// writer) owns to gitsync, so a field removed from Git is removed from
	// the cluster.
	SSAOverride SSAPolicy = "Override"
	// SSAMerge applies the object but skips that migration: fields added by
	// kubectl apply and not in Git are preserved. Fields in Git are still
	// enforced.
	SSAMerge SSAPolicy = "Merge"
	// SSAIfNotPresent creates the object when it does not exist and never
	// updates it afterwards (for objects that other controllers fill in, like
	// a cert-manager Secret). It is still pruned when it leaves the set.
	SSAIfNotPresent SSAPolicy = "IfNotPresent"
	// SSAIgnore skips the object: it is not applied, and a live object
	// annotated Ignore is never pruned (it is orphaned, as in Flux).
	SSAIgnore SSAPolicy = "Ignore"
)

// Policy is what an object's annotations ask of the engine.
type Policy struct {
	// ReconcileDisabled: leave the object alone (Skipped, never pruned).
	ReconcileDisabled bool
	// SSA is the apply policy; never empty after PolicyOf.
	SSA SSAPolicy
	// Force: recreate on immutable-field changes.
	Force bool
	// PruneDisabled: never delete the object when it leaves the set.
	PruneDisabled bool
	// Adopt: take the object over from another owner.
	Adopt bool
}

// PolicyOf reads the policy from an object's annotations. An unknown value is
// an error naming the key, so a typo does not silently change behaviour.
func PolicyOf(annotations map[string]string) (Policy, error) {
	p := Policy{SSA: SSAOverride}
	reconcile, err := switchValue(annotations, AnnotationReconcile)
	if err != nil {
		return p, err
	}
	force, err := switchValue(annotations, AnnotationForce)
	if err != nil {
		return p, err
	}
	prune, err := switchValue(annotations, AnnotationPrune)
	if err != nil {
		return p, err
	}
	switch v, ok := annotations[AnnotationAdopt]; {
	case !ok, strings.EqualFold(v, "disabled"):
	case strings.EqualFold(v, "enabled"):
		p.Adopt = true
	default:
		return p, fmt.Errorf("annotation %s: unknown value %q (want enabled or disabled)", AnnotationAdopt, v)
	}
	p.ReconcileDisabled = reconcile == "disabled"
	p.Force = force == "enabled"
	p.PruneDisabled = prune == "disabled"
	key, v, ok := lookup(annotations, AnnotationSSA)
	if ok {
		switch {
		case strings.EqualFold(v, string(SSAOverride)):
			p.SSA = SSAOverride
		case strings.EqualFold(v, string(SSAMerge)):
			p.SSA = SSAMerge
		case strings.EqualFold(v, string(SSAIfNotPresent)):
			p.SSA = SSAIfNotPresent
		case strings.EqualFold(v, string(SSAIgnore)):
			p.SSA = SSAIgnore
		default:
			return p, fmt.Errorf("annotation %s: unknown value %q (want Override, Merge, IfNotPresent or Ignore)", key, v)
		}
	}
	return p, nil
}

// switchValue reads an enabled/disabled key (gitsync.io or its Flux twin)
// and returns "enabled", "disabled", or "" when neither key is set.
func switchValue(annotations map[string]string, key string) (string, error) {
	k, v, ok := lookup(annotations, key)
	switch {
	case !ok:
		return "", nil
	case strings.EqualFold(v, "enabled"):
		return "enabled", nil
	case strings.EqualFold(v, "disabled"):
		return "disabled", nil
	}
	return "", fmt.Errorf("annotation %s: unknown value %q (want enabled or disabled)", k, v)
}

// lookup returns the gitsync.io key's value, else the Flux twin's.
func lookup(m map[string]string, key string) (string, string, bool) {
	if v, ok := m[key]; ok {
		return key, v, true
	}
	flux := fluxPrefix + strings.TrimPrefix(key, "gitsync.io/")
	if v, ok := m[flux]; ok {
		return flux, v, true
	}
	return "", "", false
}

// liveOptOut tells whether a live object's annotations or labels disable
// reconciliation. Unknown values are ignored here: the live object is not
// ours to validate, and ignoring errs on the side of applying as Git says.
func liveOptOut(annotations, labels map[string]string) bool {
	for _, m := range []map[string]string{annotations, labels} {
		if _, v, ok := lookup(m, AnnotationReconcile); ok && strings.EqualFold(v, "disabled") {
			return true
		}
	}
	return false
}

// livePruneOptOut tells whether a live object asks not to be pruned: prune
// disabled, reconcile disabled (as annotation or label) or ssa Ignore.
func livePruneOptOut(annotations, labels map[string]string) (bool, string) {
	if liveOptOut(annotations, labels) {
		return true, "reconcile disabled"
	}
	if k, v, ok := lookup(annotations, AnnotationPrune); ok && strings.EqualFold(v, "disabled") {
		return true, k + ": " + v
	}
	if k, v, ok := lookup(annotations, AnnotationSSA); ok && strings.EqualFold(v, string(SSAIgnore)) {
		return true, k + ": " + v
	}
	return false, ""
}
