package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/inventory"
)

// historyMessageWidth is where the MESSAGE column is cut without -o wide.
const historyMessageWidth = 60

// HistoryList is what `history -o yaml|json` prints.
type HistoryList struct {
	// Sync and Namespace name the sync.
	Sync      string `json:"sync"`
	Namespace string `json:"namespace"`
	// Items are the history entries, newest first.
	Items []inventory.History `json:"items"`
}

// HistoryOptions are the options of `kubectl gitsync history`; the
// embedded syncRef names the sync.
type HistoryOptions struct {
	// Output is "" (table), "wide" (end time, changes and whole messages),
	// "yaml" or "json".
	Output string

	syncRef

	genericiooptions.IOStreams
}

// NewHistoryCommand returns the `history` command.
func NewHistoryCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HistoryOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
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
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: wide, yaml or json")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *HistoryOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument and flags.
func (o *HistoryOptions) Validate() error {
	if err := ValidateSyncName(o.Name); err != nil {
		return err
	}
	return ValidateOutput(o.Output, OutputTable, OutputWide, OutputYAML, OutputJSON)
}

// Run prints the history.
func (o *HistoryOptions) Run(ctx context.Context) error {
	s, err := GetSync(ctx, o.client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	hist, err := s.Store(o.client).ListHistory(ctx)
	if err != nil {
		return err
	}
	if o.Output == OutputYAML || o.Output == OutputJSON {
		if hist == nil {
			hist = []inventory.History{}
		}
		return PrintStructured(o.Out, o.Output, HistoryList{Sync: o.Name, Namespace: o.Namespace, Items: hist})
	}
	if len(hist) == 0 {
		_, err := fmt.Fprintf(o.ErrOut, "No history for sync %s in namespace %s: it has not run yet.\n", o.Name, o.Namespace)
		return err
	}
	return printHistoryTable(o.Out, "", hist, o.now(), o.Output == OutputWide)
}

// printHistoryTable prints history entries as a table, each line prefixed
// by indent.
func printHistoryTable(out io.Writer, indent string, hist []inventory.History, now time.Time, wide bool) error {
	w := NewTableWriter(out)
	header := []string{indent + "NUMBER", "REVISION", "TIME", "RESULT", "OBJECTS", "DURATION", "MESSAGE"}
	if wide {
		header = []string{indent + "NUMBER", "REVISION", "ENDED", "RESULT", "OBJECTS", "DURATION", "CHANGES", "MESSAGE"}
	}
	WriteRow(w, header...)
	for _, h := range hist {
		if wide {
			ended := "-"
			if !h.Time.IsZero() {
				ended = h.Time.UTC().Format(time.RFC3339)
			}
			WriteRow(w, indent+strconv.Itoa(h.Number), cellOrDash(h.Revision), ended, cellOrDash(string(h.Result)),
				strconv.Itoa(h.ObjectCount), HumanDuration(h.Duration.Duration), FormatCounts(h.Counts),
				cellOrDash(OneLine(h.Message, 0)))
			continue
		}
		WriteRow(w, indent+strconv.Itoa(h.Number), ShortRevision(h.Revision), HumanAge(now, h.Time),
			cellOrDash(string(h.Result)), strconv.Itoa(h.ObjectCount), HumanDuration(h.Duration.Duration),
			cellOrDash(OneLine(h.Message, historyMessageWidth)))
	}
	return w.Flush()
}
