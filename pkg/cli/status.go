package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
)

// statusOptions are the options of `kubectl gitsync status`. The embedded
// syncRef names the sync to describe; its Name "" lists the syncs.
type statusOptions struct {
	// AllNamespaces (-A) lists the syncs of every namespace.
	AllNamespaces bool
	// print is -o ("" a table, or a description with NAME; wide; yaml,
	// json, name, jsonpath=..., go-template=...) and --no-headers.
	print *printFlags
	// Watch re-prints whenever an inventory ConfigMap changes, until
	// interrupted.
	Watch bool

	syncRef
	genericiooptions.IOStreams
}

// newStatusCommand returns the `status` command.
func newStatusCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &statusOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, print: newPrintFlags(outputTable, outputWide, outputPrometheus)}
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show the state of syncs: revision, last run, objects, next run",
		Long: `Without NAME, list the syncs of the namespace (of every namespace with -A) with their source, the revision
last applied, when the last run ended and how, how many objects the sync manages, and when the CronJob will start
the next run. -o wide adds the last run's duration and message. A run that found nothing to do records nothing;
LAST RUN and "Last Checked" say when it ended, from the CronJob's last successful Job (lastCheckedTime in -o
json|yaml), while the result, duration and message stay those of the last run that wrote the record.

A sync whose repository holds Flux objects lists its units (Kustomizations and HelmReleases) under it,
nested as their parents render them: the Flux source each reads, its revision, result and objects; -o wide
adds each one's message, saying which dependency a skipped unit waits on.


With NAME, describe one sync: its spec, the source with the digest of the last applied revision and its
settings (credentials Secret, signature verification, sparse checkout, includes, ignore rules, region), the
Lease of a run in progress (holder, age, expiry), the last run with its counts per action, the objects per
kind, the recent history, the CronJob's active Jobs and its units with the dependencies each waits on.

-o yaml|json prints the same as a structured object (a list under "items" without NAME); -o jsonpath=... and
-o go-template=... select from that object, -o name prints sync.gitsync.io/NAME. -o prometheus prints the
metrics a run pushes to a Pushgateway, from the records, for a textfile collector (docs/monitoring.md). --no-headers leaves out the
table's header. --watch prints again whenever a run records its result, until interrupted.`,
		Example: `  # List the syncs of the current namespace
  kubectl gitsync status

  # List the syncs of every namespace, with the last run's message
  kubectl gitsync status -A -o wide

  # Describe one sync, and keep watching it
  kubectl gitsync status web --watch

  # The status as JSON, for scripts
  kubectl gitsync status web -o json | jq -r .lastRun.result

  # The result of every sync's last run, without jq
  kubectl gitsync status -A -o jsonpath='{range .items[*]}{.namespace}/{.name} {.lastRun.result}{"\n"}{end}'`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "list the syncs of every namespace")
	o.print.addFlags(cmd, true)
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "print again whenever a run records its result, until interrupted")
	return cmd
}

// Complete reads the argument, the namespace and -o, and builds the
// client.
func (o *statusOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.print.complete(); err != nil {
		return err
	}
	return o.complete(cmd, args)
}

// Validate checks the flags.
func (o *statusOptions) Validate() error {
	if o.Name != "" {
		if err := validateSyncName(o.Name); err != nil {
			return err
		}
		if o.AllNamespaces {
			return errors.New("--all-namespaces: cannot be combined with NAME")
		}
	}
	return nil
}

// Run prints the status once, or on every change with --watch.
func (o *statusOptions) Run(ctx context.Context) error {
	if !o.Watch {
		return o.printOnce(ctx)
	}
	return action.Watch(ctx, o.cfg, action.WatchOptions{
		Namespace: o.listNamespace(),
		Name:      o.Name,
		Changed: func(initial bool) error {
			if !initial {
				if err := o.printSeparator(); err != nil {
					return err
				}
			}
			return o.printOnce(ctx)
		},
	})
}

func (o *statusOptions) listNamespace() string {
	if o.AllNamespaces {
		return metav1.NamespaceAll
	}
	return o.Namespace
}

func (o *statusOptions) printOnce(ctx context.Context) error {
	if o.print.Output == outputPrometheus {
		return o.printPrometheus(ctx)
	}
	now := o.now()
	if o.Name != "" {
		st, err := action.Status(ctx, o.cfg, action.StatusOptions{Ref: o.ref(), Detail: true})
		if err != nil {
			return err
		}
		if !o.print.table() {
			return o.print.print(o.Out, st, []runtime.Object{syncName(st.Name)})
		}
		return printStatusDetail(o.Out, *st, now)
	}
	list, err := action.StatusOfAll(ctx, o.cfg, action.ListOptions{Namespace: o.listNamespace()})
	if err != nil {
		return err
	}
	if !o.print.table() {
		names := make([]runtime.Object, len(list.Items))
		for i, st := range list.Items {
			names[i] = syncName(st.Name)
		}
		return o.print.print(o.Out, list, names)
	}
	if len(list.Items) == 0 {
		_, err := fmt.Fprintf(o.ErrOut, "No syncs found in %s.\n", action.NamespaceWords(o.listNamespace()))
		return err
	}
	return printStatusTable(o.Out, list.Items, now, o.AllNamespaces, o.print.wide(), o.print.NoHeaders)
}

// printSeparator separates two snapshots of --watch: "---" between YAML
// documents, an empty line otherwise.
func (o *statusOptions) printSeparator() error {
	sep := "\n"
	if o.print.Output == outputYAML {
		sep = "---\n"
	}
	_, err := io.WriteString(o.Out, sep)
	return err
}

// sourceCell is the SOURCE column: the URL and the ref in words.
func sourceCell(src action.SourceStatus) string {
	if src.URL == "" {
		return "-"
	}
	return src.URL + " (" + src.Ref + ")"
}

// revisionCell is the REVISION column: the last applied revision,
// shortened, marked when a rollback pinned it.
func revisionCell(st action.SyncStatus) string {
	rev := format.Revision(st.LastAppliedRevision)
	if st.PinnedRevision != "" {
		rev += " (pinned)"
	}
	return rev
}

// syncName is a sync as -o name prints it: sync.gitsync.io/NAME.
func syncName(name string) runtime.Object { return nameOf(spec.APIVersion, spec.Kind, name) }

func printStatusTable(out io.Writer, items []action.SyncStatus, now time.Time, allNamespaces, wide, noHeaders bool) error {
	w := newTableWriter(out)
	header := []string{"NAME", "SOURCE", "REVISION", "LAST RUN", "RESULT", "OBJECTS", "SCHEDULE", "NEXT RUN", "SUSPENDED"}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if wide {
		header = append(header, "DURATION", "MESSAGE")
	}
	if !noHeaders {
		writeRow(w, header...)
	}
	for _, st := range items {
		lastRun, result, dur, msg := "-", "-", "-", ""
		if r := st.LastRun; r != nil {
			lastRun = format.Age(now, runEnd(*r))
			if c := st.LastCheckedTime; c != nil && c.After(runEnd(*r)) {
				// A later run found nothing to do and recorded nothing.
				lastRun = format.Age(now, *c)
			}
			result = format.OrDash(string(r.Result))
			dur = format.Duration(r.Duration.Duration)
			msg = r.Message
		}
		if len(st.Problems) > 0 && (msg == "" || st.LastRun == nil) {
			msg = st.Problems[0]
		}
		next := "-"
		if st.NextRun != nil {
			next = format.Until(now, *st.NextRun)
		}
		if r := st.LastRun; r != nil {
			result = resultCell(*r) // with the syncs a wait was on
		}
		row := []string{st.Name, sourceCell(st.Source), revisionCell(st), lastRun, result,
			strconv.Itoa(st.Objects), format.OrDash(st.Schedule), next, strconv.FormatBool(st.Suspended)}
		if allNamespaces {
			row = append([]string{st.Namespace}, row...)
		}
		if wide {
			row = append(row, dur, format.OrDash(format.OneLine(msg, 0)))
		}
		writeRow(w, row...)
		for _, r := range unitRows(st, now, allNamespaces, wide) {
			writeRow(w, r...)
		}
	}
	return w.Flush()
}

// runEnd is when a run ended, or its start while it has no end.
func runEnd(r inventory.Run) time.Time {
	if !r.End.IsZero() {
		return r.End
	}
	return r.Start
}

// timeCell prints a time as RFC 3339 in UTC with its age.
func timeCell(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + " (" + format.Age(now, t) + " ago)"
}

func printStatusDetail(out io.Writer, st action.SyncStatus, now time.Time) error {
	// Rows with an empty value end in padding, trimmed before printing.
	var b strings.Builder
	if err := writeStatusDetail(&b, st, now); err != nil {
		return err
	}
	_, err := io.WriteString(out, format.TrimLineEnds(b.String()))
	return err
}

func writeStatusDetail(out io.Writer, st action.SyncStatus, now time.Time) error {
	w := newTableWriter(out)
	field := func(key, value string) { writeRow(w, key+":", value) }
	field("Name", st.Name)
	field("Namespace", st.Namespace)
	field("Source", format.OrDash(st.Source.URL))
	field("Ref", format.OrDash(st.Source.Ref))
	if st.Source.Digest != "" {
		field("Digest", st.Source.Digest)
	}
	for i, d := range st.Source.Details {
		if i == 0 {
			field("Source Settings", d)
		} else {
			writeRow(w, "", d)
		}
	}
	field("Path", format.OrDash(st.Path))
	if st.TargetNamespace != "" {
		field("Target Namespace", st.TargetNamespace)
	}
	field("Prune", strconv.FormatBool(st.Prune))
	if len(st.DependsOn) > 0 {
		field("Depends On", strings.Join(st.DependsOn, ", "))
	}
	schedule := format.OrDash(st.Schedule)
	switch {
	case st.Suspended:
		schedule += " (suspended)"
	case st.NextRun != nil:
		schedule += " (next run " + format.Until(now, *st.NextRun) + ")"
	}
	field("Schedule", schedule)
	field("Suspended", strconv.FormatBool(st.Suspended))
	if st.LastScheduleTime != nil {
		field("Last Schedule", timeCell(now, *st.LastScheduleTime))
	}
	if st.PinnedRevision != "" {
		field("Pinned Revision", st.PinnedRevision+" (rollback; resume follows the spec again)")
	}
	applied := format.OrDash(st.LastAppliedRevision)
	if st.LastAppliedTime != nil {
		applied += " (" + format.Age(now, *st.LastAppliedTime) + " ago)"
	}
	field("Last Applied", applied)
	if st.LastCheckedTime != nil {
		field("Last Checked", timeCell(now, *st.LastCheckedTime))
	}
	field("Lease", leaseCell(st.Lease, now))
	if r := st.LastRun; r == nil {
		field("Last Run", "none yet")
	} else {
		field("Last Run", "")
		field("  Result", format.OrDash(string(r.Result)))
		if len(r.WaitingOn) > 0 {
			field("  Waiting On", strings.Join(r.WaitingOn, ", "))
		}
		field("  Revision", format.OrDash(r.Revision))
		field("  Started", timeCell(now, r.Start))
		field("  Duration", format.Duration(r.Duration.Duration))
		field("  Changes", format.Counts(r.Counts))
		if r.Target != "" {
			field("  Target", r.Target)
		}
		if r.ServiceAccount != "" {
			field("  As", r.ServiceAccount)
		}
		field("  Message", format.OrDash(format.OneLine(r.Message, 0)))
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "Objects: %d\n", st.Objects)
	if len(st.ObjectsByKind) > 0 {
		w = newTableWriter(out)
		writeRow(w, "  KIND", "COUNT")
		for _, k := range slices.Sorted(maps.Keys(st.ObjectsByKind)) {
			writeRow(w, "  "+k, strconv.Itoa(st.ObjectsByKind[k]))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	if len(st.History) == 0 {
		fmt.Fprintln(out, "History: none")
	} else {
		fmt.Fprintf(out, "History (newest %d):\n", len(st.History))
		if err := printHistoryTable(out, "  ", st.History, now, false, false); err != nil {
			return err
		}
	}

	if len(st.ActiveJobs) == 0 {
		fmt.Fprintln(out, "Active Jobs: none")
	} else {
		fmt.Fprintln(out, "Active Jobs:")
		w = newTableWriter(out)
		writeRow(w, "  NAME", "STATUS", "STARTED")
		for _, j := range st.ActiveJobs {
			started := "-"
			if j.StartTime != nil {
				started = format.Age(now, *j.StartTime) + " ago"
			}
			writeRow(w, "  "+j.Name, j.Status, started)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	if err := writeUnitsDetail(out, st.Units, now); err != nil {
		return err
	}

	if len(st.Problems) > 0 {
		fmt.Fprintln(out, "Problems:")
		for _, p := range st.Problems {
			fmt.Fprintf(out, "  %s\n", format.OneLine(p, 0))
		}
	}
	return nil
}
