package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
)

// traceOptions are the options of `kubectl gitsync trace`.
type traceOptions struct {
	// Resource is the KIND part of KIND/NAME: a kind, resource or short
	// name, optionally with .group (deployment, deploy, Deployment.apps).
	Resource string
	// ObjectName is the NAME part.
	ObjectName string
	// Namespace is --namespace, else the kubeconfig context's namespace;
	// ignored for cluster-scoped kinds.
	Namespace string
	// print is -o: "" (a description), yaml, json, name (the object),
	// jsonpath=..., go-template=....
	print *printFlags

	flags  *genericclioptions.ConfigFlags
	cfg    *action.Config
	mapper meta.RESTMapper

	genericiooptions.IOStreams
}

// newTraceCommand returns the `trace` command.
func newTraceCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &traceOptions{flags: flags, IOStreams: streams, print: newPrintFlags(outputTable)}
	cmd := &cobra.Command{
		Use:   "trace KIND/NAME | trace KIND NAME",
		Short: "Show which sync (and which of its units) manages an object, and from which source and revision",
		Long: `Read the gitsync labels of an object (gitsync.io/sync, gitsync.io/sync-namespace and the ApplySet label
applyset.kubernetes.io/part-of) and show the sync that manages it: its source, the revision last applied, the
last run, and whether the sync's inventory still lists the object. An object applied by a unit of the sync (a
Flux Kustomization or HelmRelease in its repository) carries gitsync.io/unit: trace then names that unit, its
last result and revision, and checks the object against the unit's own ApplySet and inventory.

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
	o.print.addFlags(cmd, false)
	return cmd
}

// Complete splits the argument and builds the clients and the REST mapper.
func (o *traceOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 2 {
		o.Resource, o.ObjectName = args[0], args[1]
	} else {
		var ok bool
		if o.Resource, o.ObjectName, ok = strings.Cut(args[0], "/"); !ok {
			return fmt.Errorf("%q: want KIND/NAME or KIND NAME", args[0])
		}
	}
	if err := o.print.complete(); err != nil {
		return err
	}
	var err error
	if o.Namespace, err = syncNamespace(o.flags); err != nil {
		return err
	}
	if o.cfg, err = actionConfig(cmd.Context(), o.flags); err != nil {
		return err
	}
	if o.mapper, err = o.flags.ToRESTMapper(); err != nil {
		return fmt.Errorf("kubeconfig: discovery: %w", err)
	}
	return nil
}

// Validate checks the argument and flags.
func (o *traceOptions) Validate() error {
	if o.Resource == "" || o.ObjectName == "" || strings.Contains(o.ObjectName, "/") {
		return fmt.Errorf("%q: want KIND/NAME or KIND NAME", o.Resource+"/"+o.ObjectName)
	}
	return nil
}

// Run traces the object. An object that is not managed, or managed but not
// in order, makes it return an error with ExitFailed.
func (o *traceOptions) Run(ctx context.Context) error {
	res, err := action.Trace(ctx, o.cfg, action.TraceOptions{
		Resource: o.Resource, Name: o.ObjectName, Namespace: o.Namespace, Mapper: o.mapper,
	})
	if err != nil {
		return err
	}
	if !o.print.table() {
		var named []runtime.Object
		if id, err := object.ParseID(res.Object); err == nil {
			named = append(named, nameOfID(id))
		}
		if err := o.print.print(o.Out, res, named); err != nil {
			return err
		}
	} else if res.Managed {
		if err := printTrace(o.Out, res, o.cfg.Now()); err != nil {
			return err
		}
	}
	switch {
	case !res.Managed:
		return withExitCode(ExitFailed, fmt.Errorf("%s is not managed by gitsync: it has no %s label", res.Object, names.LabelSync))
	case len(res.Problems) > 0:
		return withExitCode(ExitFailed, fmt.Errorf("%s: %s", res.Object, strings.Join(res.Problems, "; ")))
	}
	return nil
}

func printTrace(out io.Writer, res *action.TraceResult, now time.Time) error {
	var b strings.Builder
	if err := writeTrace(&b, res, now); err != nil {
		return err
	}
	_, err := io.WriteString(out, format.TrimLineEnds(b.String()))
	return err
}

func writeTrace(out io.Writer, res *action.TraceResult, now time.Time) error {
	w := newTableWriter(out)
	field := func(key, value string) { writeRow(w, key+":", value) }
	field("Object", res.Object)
	sync := res.SyncNamespace + "/" + res.Sync
	switch res.Role {
	case action.TraceInstalled:
		sync += " (part of the sync itself, written by kubectl gitsync install)"
	case action.TraceState:
		sync += " (the sync's own state, written by its runs)"
	}
	field("Sync", sync)
	if res.UnitState != "" {
		unit := format.OrDash(res.Unit)
		if res.UnitResult != "" {
			unit += fmt.Sprintf(" (%s at %s)", res.UnitResult, format.OrDash(res.UnitRevision))
		}
		field("Unit", unit)
		field("Unit State", "ConfigMap gitsync-"+res.UnitState+"-inventory")
		if res.UnitMessage != "" {
			field("Unit Message", format.OneLine(res.UnitMessage, 0))
		}
	}
	field("Source", sourceCell(res.Source))
	field("Path", format.OrDash(res.Path))
	field("Revision", format.OrDash(res.Revision))
	if r := res.LastRun; r != nil {
		when := ""
		if end := runEnd(*r); !end.IsZero() {
			when = " " + format.Age(now, end) + " ago"
		}
		field("Last Run", fmt.Sprintf("%s%s: %s", r.Result, when, format.OrDash(format.OneLine(r.Message, 0))))
	} else {
		field("Last Run", "none yet")
	}
	field("Suspended", fmt.Sprint(res.Suspended))
	if res.Role == action.TraceApplied {
		field("ApplySet", format.OrDash(res.ApplySet))
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
