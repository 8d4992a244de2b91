package action

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// The roles Trace tells apart.
const (
	// TraceApplied: the object was applied by a sync's run.
	TraceApplied = "applied"
	// TraceInstalled: the object is part of a sync's own machinery, written
	// by `kubectl gitsync install` (CronJob, spec ConfigMap, RBAC).
	TraceInstalled = "installed"
	// TraceState: the object is a sync's inventory or history ConfigMap.
	TraceState = "state"
)

// TraceResult is which sync manages an object, what `trace -o yaml|json`
// prints.
type TraceResult struct {
	// Object is the object traced, as Kind[.group]/[namespace/]name.
	Object string `json:"object"`
	// Managed tells whether the object names a gitsync sync in its labels.
	Managed bool `json:"managed"`
	// Role is TraceApplied, TraceInstalled or TraceState; empty when not
	// managed.
	Role string `json:"role,omitempty"`
	// Sync and SyncNamespace name the sync the labels name.
	Sync          string `json:"sync,omitempty"`
	SyncNamespace string `json:"syncNamespace,omitempty"`
	// ApplySet is the object's applyset.kubernetes.io/part-of label.
	ApplySet string `json:"applySet,omitempty"`
	// InInventory tells whether the sync's inventory (the unit's, for an
	// object a unit applied) lists the object.
	InInventory bool `json:"inInventory"`
	// Unit is the unit that applied the object, as Kind/namespace/name;
	// empty for an object of the sync's own render.
	Unit string `json:"unit,omitempty"`
	// UnitState is the object's gitsync.io/unit label: the unit's state
	// name.
	UnitState string `json:"unitState,omitempty"`
	// UnitRevision, UnitResult and UnitMessage describe the unit's last
	// run.
	UnitRevision string           `json:"unitRevision,omitempty"`
	UnitResult   inventory.Result `json:"unitResult,omitempty"`
	UnitMessage  string           `json:"unitMessage,omitempty"`
	// Source, Path and Revision describe the sync, when it exists.
	Source   SourceStatus `json:"source,omitzero"`
	Path     string       `json:"path,omitempty"`
	Revision string       `json:"revision,omitempty"`
	// Suspended tells whether the sync's scheduled runs are off.
	Suspended bool `json:"suspended,omitempty"`
	// LastRun is the sync's last run.
	LastRun *inventory.Run `json:"lastRun,omitempty"`
	// Problems say why the object is managed but not in order: the sync
	// does not exist, the ApplySet label does not match, the inventory does
	// not list the object.
	Problems []string `json:"problems,omitempty"`
}

// TraceOptions name the object Trace traces.
type TraceOptions struct {
	// Resource is a kind, resource or short name, optionally with .group
	// (deployment, deploy, Deployment.apps). Required.
	Resource string
	// Name is the object's name. Required.
	Name string
	// Namespace is the object's namespace; ignored for cluster-scoped
	// kinds. Required for namespaced ones.
	Namespace string
	// Mapper resolves Resource through discovery. Required.
	Mapper meta.RESTMapper
}

// Trace reads the gitsync labels of an object and the sync they name: its
// source, the revision last applied, the last run, and whether its
// inventory still lists the object.
func Trace(ctx context.Context, cfg *Config, opts TraceOptions) (*TraceResult, error) {
	mapping, err := resolveKind(opts.Mapper, opts.Resource)
	if err != nil {
		return nil, err
	}
	ns := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = opts.Namespace
	}
	id := object.ID{Group: mapping.GroupVersionKind.Group, Kind: mapping.GroupVersionKind.Kind, Namespace: ns, Name: opts.Name}
	m, err := cfg.metadata()
	if err != nil {
		return nil, err
	}
	obj, err := m.Resource(mapping.Resource).Namespace(ns).Get(ctx, opts.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: get: %w", id, err)
	}
	return trace(ctx, cfg, id, obj)
}

// resolveKind maps KIND to its REST mapping.
func resolveKind(mapper meta.RESTMapper, kind string) (*meta.RESTMapping, error) {
	fullGVR, gr := schema.ParseResourceArg(strings.ToLower(kind))
	var gvk schema.GroupVersionKind
	var err error
	if fullGVR != nil {
		gvk, err = mapper.KindFor(*fullGVR)
	}
	if gvk.Empty() {
		gvk, err = mapper.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		return nil, fmt.Errorf("KIND %q: %w", kind, err)
	}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("KIND %q: %w", kind, err)
	}
	return mapping, nil
}

// trace reads the sync the object's labels name.
func trace(ctx context.Context, cfg *Config, id object.ID, obj *metav1.PartialObjectMetadata) (*TraceResult, error) {
	l := obj.Labels
	res := &TraceResult{Object: id.String(), ApplySet: l[inventory.LabelApplySetPartOf]}
	res.Sync = l[names.LabelSync]
	if res.Sync == "" {
		return res, nil
	}
	res.Managed = true
	res.SyncNamespace = l[names.LabelSyncNamespace]
	if res.SyncNamespace == "" {
		// Labels from before sync-namespace existed: a sync's own objects
		// live in its namespace.
		res.SyncNamespace = id.Namespace
	}
	switch {
	case l[inventory.LabelManagedBy] == inventory.ManagedBy && (l[inventory.LabelKind] == inventory.KindInventory || l[inventory.LabelKind] == inventory.KindHistory):
		res.Role = TraceState
	case l[inventory.LabelManagedBy] != "" && l[inventory.LabelManagedBy] != inventory.ManagedBy && res.ApplySet == "":
		// install's objects say managed-by kubectl-gitsync and belong to
		// no ApplySet.
		res.Role = TraceInstalled
	default:
		res.Role = TraceApplied
	}
	if res.SyncNamespace == "" || names.Validate(res.Sync) != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("its labels name sync %q in namespace %q, which cannot exist", res.Sync, res.SyncNamespace))
		return res, nil
	}
	s, err := GetSync(ctx, cfg, Ref{Name: res.Sync, Namespace: res.SyncNamespace})
	if errors.Is(err, ErrSyncNotFound) {
		res.Problems = append(res.Problems, fmt.Sprintf("sync %s/%s does not exist (uninstalled without --prune?)", res.SyncNamespace, res.Sync))
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Spec != nil {
		res.Source = s.describeSource()
		res.Path = s.Spec.Spec.Path
	}
	res.Suspended = s.Suspended()
	rec := s.Record()
	res.Revision = rec.LastAppliedRevision
	if rec.LastRun.Result != "" {
		run := rec.LastRun
		res.LastRun = &run
	}
	if res.Role != TraceApplied {
		return res, nil
	}
	if s.InventoryErr != nil {
		res.Problems = append(res.Problems, "inventory: "+s.InventoryErr.Error())
		return res, nil
	}
	if state := l[syncrun.LabelUnit]; state != "" {
		traceUnit(ctx, cfg, s, state, id, res)
		return res, nil
	}
	want := s.Store(cfg.Client).ParentID()
	switch res.ApplySet {
	case want:
	case "":
		res.Problems = append(res.Problems, fmt.Sprintf("it has no %s label: prune will not delete it", inventory.LabelApplySetPartOf))
	default:
		res.Problems = append(res.Problems, fmt.Sprintf("its %s label is %s, not the sync's %s", inventory.LabelApplySetPartOf, res.ApplySet, want))
	}
	for _, e := range s.Entries() {
		if e.ID == id {
			res.InInventory = true
			break
		}
	}
	if !res.InInventory {
		res.Problems = append(res.Problems, "the sync's inventory does not list it: the sync no longer manages it and prune will not delete it")
	}
	return res, nil
}
