package inventory

import "time"

// A sync whose render holds Flux objects runs each Kustomization and
// HelmRelease as a unit of the same run (see pkg/syncrun). Each unit has a
// Store of its own, named after the sync and the unit (its state name);
// the sync's Record lists every unit with what its last run did, so that a
// reader finds a sync's units, and a run the units that left Git, from one
// ConfigMap.

// LabelUnitOf is set on a unit's own ConfigMaps (inventory, history) to
// the name of the sync whose run executes the unit: `kubectl get
// configmaps -l gitsync.io/unit-of=NAME` lists a sync's unit state.
const LabelUnitOf = "gitsync.io/unit-of"

// UnitRecord is one unit of a sync as the sync's last run left it. Store
// writes it in the sync's Record (record.json), for example:
//
//	{"kind": "HelmRelease", "namespace": "apps", "name": "podinfo",
//	 "parent": "Kustomization/flux-system/apps", "state": "staging.hr.apps.podinfo",
//	 "source": "HelmRepository/apps/podinfo", "dependsOn": ["HelmRelease/apps/redis"],
//	 "result": "Succeeded", "revision": "6.5.4", "rendered": true, "objects": 4,
//	 "start": "…", "end": "…", "message": "revision 6.5.4: 4 objects (4 created)",
//	 "deletionPolicy": "Delete"}
type UnitRecord struct {
	// Kind, Namespace and Name identify the Flux object.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Parent is the unit whose render held this one, as
	// Kind/namespace/name; empty for the sync's own render.
	Parent string `json:"parent,omitempty"`
	// State is the unit's state name: its ConfigMaps are
	// InventoryName(State) and HistoryName(State, n), in the sync's
	// namespace, and its applied objects carry it in the gitsync.io/unit
	// label. Empty for an object that could not be read as a unit.
	State string `json:"state,omitempty"`
	// Source is the object the unit reads, as Kind/namespace/name.
	Source string `json:"source,omitempty"`
	// DependsOn lists the units that must succeed first, as
	// Kind/namespace/name.
	DependsOn []string `json:"dependsOn,omitempty"`
	// BlockedBy is the dependency (or parent) that did not succeed, for a
	// unit that was Skipped.
	BlockedBy string `json:"blockedBy,omitempty"`
	// Result is Succeeded, Failed or Skipped.
	Result Result `json:"result"`
	// Message says what the unit's run did, or why it failed or was
	// skipped.
	Message string `json:"message,omitempty"`
	// Revision is the revision of the unit's source it ran with.
	Revision string `json:"revision,omitempty"`
	// Start and End bound the unit's run; zero when it did not run.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Rendered tells whether the unit fetched and rendered its source;
	// false when only its drift was checked.
	Rendered bool `json:"rendered,omitempty"`
	// Objects is the number of objects the unit manages.
	Objects int `json:"objects,omitempty"`
	// Suspended is the unit's spec.suspend: it was not run.
	Suspended bool `json:"suspended,omitempty"`
	// DeletionPolicy says what a run does with the unit's objects once
	// the unit leaves Git: DeletionDelete, DeletionWait or DeletionOrphan.
	// Recorded because the unit's spec is gone by then.
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// MaxUnitMessage is the length in bytes above which Store cuts the message
// of each UnitRecord: a sync may have hundreds of units.
const MaxUnitMessage = 2 << 10

// ResultSkipped is the Result of a unit that did not run: a dependency or
// its parent did not succeed.
const ResultSkipped Result = "Skipped"

// What removing a unit from Git does to its objects (UnitRecord.DeletionPolicy).
const (
	// DeletionDelete deletes them (Flux's Delete, and MirrorPrune with
	// prune: true; a HelmRelease's always).
	DeletionDelete = "Delete"
	// DeletionWait deletes them and waits until they are gone (Flux's
	// WaitForTermination).
	DeletionWait = "WaitForTermination"
	// DeletionOrphan leaves them (Flux's Orphan, and MirrorPrune with
	// prune: false).
	DeletionOrphan = "Orphan"
)

// SucceedExceptUnits records run as the sync's own success (the
// LastApplied fields move, as with Succeed) in a run whose units did not
// all succeed: the run's Result is Failed and FailedUnits says how many
// units failed or were skipped.
func (r *Record) SucceedExceptUnits(run Run, failed int) {
	r.Succeed(run)
	r.LastRun.Result = ResultFailed
	r.LastRun.FailedUnits = failed
}

// SelfSucceeded reports whether the last run applied the sync's own
// objects successfully, whatever its units did.
func (r *Record) SelfSucceeded() bool {
	return r.LastRun.Result == ResultSucceeded || r.LastRun.FailedUnits > 0
}
