package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// The roles trace tells apart.
const (
	// TraceApplied: the object was applied by a sync's run.
	TraceApplied = "applied"
	// TraceInstalled: the object is part of a sync's own machinery, written
	// by `kubectl gitsync install` (CronJob, spec ConfigMap, RBAC).
	TraceInstalled = "installed"
	// TraceState: the object is a sync's inventory or history ConfigMap.
	TraceState = "state"
)

// TraceResult is what `trace -o yaml|json` prints.
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
	// InInventory tells whether the sync's inventory lists the object.
	InInventory bool `json:"inInventory"`
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

// TraceOptions are the options of `kubectl gitsync trace`.
type TraceOptions struct {
	// Resource is the KIND part of KIND/NAME: a kind, resource or short
	// name, optionally with .group (deployment, deploy, Deployment.apps).
	Resource string
	// ObjectName is the NAME part.
	ObjectName string
	// Namespace is --namespace, else the kubeconfig context's namespace;
	// ignored for cluster-scoped kinds.
	Namespace string
	// Output is "" (description), "yaml" or "json".
	Output string

	flags  *genericclioptions.ConfigFlags
	client kubernetes.Interface
	meta   metadata.Interface
	mapper meta.RESTMapper
	now    func() time.Time

	genericiooptions.IOStreams
}

// NewTraceCommand returns the `trace` command.
func NewTraceCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &TraceOptions{flags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "trace KIND/NAME | trace KIND NAME",
		Short: "Show which sync manages an object, and from which source and revision",
		Long: `Read the gitsync labels of an object (gitsync.io/sync, gitsync.io/sync-namespace and the ApplySet label
applyset.kubernetes.io/part-of) and show the sync that manages it: its source, the revision last applied, the
last run, and whether the sync's inventory still lists the object.

KIND is anything kubectl accepts: a kind, a resource or a short name, optionally with its group
(deployment, deploy, deployments.apps). The object is looked up in --namespace unless its kind is
cluster-scoped.

Exit status 1 when the object is not managed by gitsync, or when it names a sync that does not exist, does
not carry that sync's ApplySet label, or is missing from the sync's inventory (then prune will never delete it).`,
		Example: `  # Which sync manages Deployment web in namespace apps?
  kubectl gitsync trace deployment/web -n apps

  # Cluster-scoped objects need no namespace
  kubectl gitsync trace clusterrole view-web

  # As JSON
  kubectl gitsync trace deploy/web -n apps -o json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: runE(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: yaml or json")
	return cmd
}

// Complete splits the argument and builds the clients and the REST mapper.
func (o *TraceOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 2 {
		o.Resource, o.ObjectName = args[0], args[1]
	} else {
		var ok bool
		if o.Resource, o.ObjectName, ok = strings.Cut(args[0], "/"); !ok {
			return fmt.Errorf("%q: want KIND/NAME or KIND NAME", args[0])
		}
	}
	o.now = clockFrom(cmd.Context())
	var err error
	if o.Namespace, err = SyncNamespace(o.flags); err != nil {
		return err
	}
	client, cfg, err := KubeClient(o.flags)
	if err != nil {
		return err
	}
	o.client = client
	if o.meta, err = metadata.NewForConfig(cfg); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if o.mapper, err = o.flags.ToRESTMapper(); err != nil {
		return fmt.Errorf("kubeconfig: discovery: %w", err)
	}
	return nil
}

// Validate checks the argument and flags.
func (o *TraceOptions) Validate() error {
	if o.Resource == "" || o.ObjectName == "" || strings.Contains(o.ObjectName, "/") {
		return fmt.Errorf("%q: want KIND/NAME or KIND NAME", o.Resource+"/"+o.ObjectName)
	}
	return ValidateOutput(o.Output, OutputTable, OutputYAML, OutputJSON)
}

// resolve maps KIND to its REST mapping through discovery.
func (o *TraceOptions) resolve() (*meta.RESTMapping, error) {
	fullGVR, gr := schema.ParseResourceArg(strings.ToLower(o.Resource))
	var gvk schema.GroupVersionKind
	var err error
	if fullGVR != nil {
		gvk, err = o.mapper.KindFor(*fullGVR)
	}
	if gvk.Empty() {
		gvk, err = o.mapper.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		return nil, fmt.Errorf("KIND %q: %w", o.Resource, err)
	}
	mapping, err := o.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("KIND %q: %w", o.Resource, err)
	}
	return mapping, nil
}

// Run traces the object. An object that is not managed, or managed but not
// in order, makes it return an error with ExitFailed.
func (o *TraceOptions) Run(ctx context.Context) error {
	mapping, err := o.resolve()
	if err != nil {
		return err
	}
	ns := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = o.Namespace
	}
	id := object.ID{Group: mapping.GroupVersionKind.Group, Kind: mapping.GroupVersionKind.Kind, Namespace: ns, Name: o.ObjectName}
	obj, err := o.meta.Resource(mapping.Resource).Namespace(ns).Get(ctx, o.ObjectName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: get: %w", id, err)
	}
	res, err := o.trace(ctx, id, obj)
	if err != nil {
		return err
	}
	if o.Output != OutputTable {
		if err := PrintStructured(o.Out, o.Output, res); err != nil {
			return err
		}
	} else if res.Managed {
		if err := printTrace(o.Out, res, o.now()); err != nil {
			return err
		}
	}
	switch {
	case !res.Managed:
		return WithExitCode(ExitFailed, fmt.Errorf("%s is not managed by gitsync: it has no %s label", id, inventory.LabelSync))
	case len(res.Problems) > 0:
		return WithExitCode(ExitFailed, fmt.Errorf("%s: %s", id, strings.Join(res.Problems, "; ")))
	}
	return nil
}

// trace reads the sync the object's labels name.
func (o *TraceOptions) trace(ctx context.Context, id object.ID, obj *metav1.PartialObjectMetadata) (*TraceResult, error) {
	l := obj.Labels
	res := &TraceResult{Object: id.String(), ApplySet: l[inventory.LabelApplySetPartOf]}
	res.Sync = l[inventory.LabelSync]
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
	if res.SyncNamespace == "" || ValidateSyncName(res.Sync) != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("its labels name sync %q in namespace %q, which cannot exist", res.Sync, res.SyncNamespace))
		return res, nil
	}
	s, err := GetSync(ctx, o.client, res.SyncNamespace, res.Sync)
	if errors.Is(err, ErrSyncNotFound) {
		res.Problems = append(res.Problems, fmt.Sprintf("sync %s/%s does not exist (uninstalled without --prune?)", res.SyncNamespace, res.Sync))
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Spec != nil {
		res.Source = DescribeSource(&s.Spec.Spec)
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
	want := s.Store(o.client).ParentID()
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

func printTrace(out io.Writer, res *TraceResult, now time.Time) error {
	var b strings.Builder
	if err := writeTrace(&b, res, now); err != nil {
		return err
	}
	_, err := io.WriteString(out, TrimLineEnds(b.String()))
	return err
}

func writeTrace(out io.Writer, res *TraceResult, now time.Time) error {
	w := NewTableWriter(out)
	field := func(key, value string) { WriteRow(w, key+":", value) }
	field("Object", res.Object)
	sync := res.SyncNamespace + "/" + res.Sync
	switch res.Role {
	case TraceInstalled:
		sync += " (part of the sync itself, written by kubectl gitsync install)"
	case TraceState:
		sync += " (the sync's own state, written by its runs)"
	}
	field("Sync", sync)
	field("Source", sourceCell(res.Source))
	field("Path", cellOrDash(res.Path))
	field("Revision", cellOrDash(res.Revision))
	if r := res.LastRun; r != nil {
		when := ""
		if end := runEnd(*r); !end.IsZero() {
			when = " " + HumanAge(now, end) + " ago"
		}
		field("Last Run", fmt.Sprintf("%s%s: %s", r.Result, when, cellOrDash(OneLine(r.Message, 0))))
	} else {
		field("Last Run", "none yet")
	}
	field("Suspended", fmt.Sprint(res.Suspended))
	if res.Role == TraceApplied {
		field("ApplySet", cellOrDash(res.ApplySet))
		field("In Inventory", fmt.Sprint(res.InInventory))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		fmt.Fprintln(out, "Problems:")
		for _, p := range res.Problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
	}
	return nil
}
