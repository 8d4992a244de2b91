package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// historyMessageWidth is where the MESSAGE column is cut without -o wide.
const historyMessageWidth = 60

// historyOptions are the options of `kubectl gitsync history`; the
// embedded syncRef names the sync.
type historyOptions struct {
	// print is -o ("" a table; wide adds the end time, changes and whole
	// messages; yaml, json, name, jsonpath=..., go-template=...) and
	// --no-headers.
	print *printFlags
	// Unit is --unit: Kind/namespace/name of a unit of the sync whose
	// history to list instead of the sync's.
	Unit string
	// unit is Unit parsed, set by Validate.
	unit flux.ID

	syncRef

	genericiooptions.IOStreams
}

// newHistoryCommand returns the `history` command.
func newHistoryCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &historyOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, print: newPrintFlags(outputTable, outputWide)}
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List the recorded runs of a sync, newest first",
		Long: `List the runs a sync recorded in its history ConfigMaps (gitsync-NAME-rev-N; the newest 10 are kept),
newest first: the history number, the source revision, when the run ended, its result, how many objects the
rendered set had, how long the run took and its message. -o wide adds the end time, the counts per action and
the whole message. A revision listed here is what rollback can return to.`,
		Example: `  # The runs of sync web
  kubectl gitsync history web

  # With the counts per action and whole messages
  kubectl gitsync history web -o wide

  # The revision of the newest successful run
  kubectl gitsync history web -o json | jq -r '[.items[] | select(.result == "Succeeded")][0].revision'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	o.print.addFlags(cmd, true)
	cmd.Flags().StringVar(&o.Unit, "unit", "", unitFlagUsage)
	_ = cmd.RegisterFlagCompletionFunc("unit", completeUnits(flags))
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *historyOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.print.complete(); err != nil {
		return err
	}
	return o.complete(cmd, args)
}

// Validate checks the argument and flags.
func (o *historyOptions) Validate() error {
	if o.Unit != "" {
		u, err := action.ParseUnit(o.Unit)
		if err != nil {
			return fmt.Errorf("--unit: %w", err)
		}
		o.unit = u
	}
	return validateSyncName(o.Name)
}

// Run prints the history.
func (o *historyOptions) Run(ctx context.Context) error {
	var hist *action.HistoryList
	var err error
	if o.unit != (flux.ID{}) {
		hist, err = action.UnitHistory(ctx, o.cfg, o.ref(), o.unit)
	} else {
		hist, err = action.History(ctx, o.cfg, o.ref())
	}
	if err != nil {
		return err
	}
	if !o.print.table() {
		named := make([]runtime.Object, len(hist.Items))
		for i, h := range hist.Items {
			named[i] = nameOf("v1", "ConfigMap", names.History(o.stateName(), h.Number))
		}
		return o.print.print(o.Out, hist, named)
	}
	if len(hist.Items) == 0 && hist.Unit != "" {
		_, err := fmt.Fprintf(o.ErrOut, "No history for unit %s of sync %s in namespace %s: it has not run yet.\n", hist.Unit, o.Name, o.Namespace)
		return err
	}
	if len(hist.Items) == 0 {
		_, err := fmt.Fprintf(o.ErrOut, "No history for sync %s in namespace %s: it has not run yet.\n", o.Name, o.Namespace)
		return err
	}
	return printHistoryTable(o.Out, "", hist.Items, o.now(), o.print.wide(), o.print.NoHeaders)
}

// printHistoryTable prints history entries as a table, each line prefixed
// by indent.
func printHistoryTable(out io.Writer, indent string, hist []inventory.History, now time.Time, wide, noHeaders bool) error {
	w := newTableWriter(out)
	header := []string{indent + "NUMBER", "REVISION", "TIME", "RESULT", "OBJECTS", "DURATION", "MESSAGE"}
	if wide {
		header = []string{indent + "NUMBER", "REVISION", "ENDED", "RESULT", "OBJECTS", "DURATION", "CHANGES", "MESSAGE"}
	}
	if !noHeaders {
		writeRow(w, header...)
	}
	for _, h := range hist {
		if wide {
			ended := "-"
			if !h.Time.IsZero() {
				ended = h.Time.UTC().Format(time.RFC3339)
			}
			writeRow(w, indent+strconv.Itoa(h.Number), format.OrDash(h.Revision), ended, format.OrDash(string(h.Result)),
				strconv.Itoa(h.ObjectCount), format.Duration(h.Duration.Duration), format.Counts(h.Counts),
				format.OrDash(format.OneLine(h.Message, 0)))
			continue
		}
		writeRow(w, indent+strconv.Itoa(h.Number), format.Revision(h.Revision), format.Age(now, h.Time),
			format.OrDash(string(h.Result)), strconv.Itoa(h.ObjectCount), format.Duration(h.Duration.Duration),
			format.OrDash(format.OneLine(h.Message, historyMessageWidth)))
	}
	return w.Flush()
}

// stateName is the name the history ConfigMaps are named after: the
// sync's, or its unit's state name.
func (o *historyOptions) stateName() string {
	if o.unit != (flux.ID{}) {
		return flux.StateName(o.Name, o.unit)
	}
	return o.Name
}
