package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
)

// eventsOptions are the options of `kubectl gitsync events`; the embedded
// syncRef names the sync, or none for all.
type eventsOptions struct {
	// AllNamespaces (-A) lists the Events of every namespace.
	AllNamespaces bool
	// Watch prints the Events to come after the existing ones, until
	// interrupted.
	Watch bool
	// Output is "" (a table), json or yaml.
	Output string
	// NoHeaders leaves out the table's header.
	NoHeaders bool

	syncRef
	genericiooptions.IOStreams
}

// newEventsCommand returns the `events` command.
func newEventsCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &eventsOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "events [NAME]",
		Short: "List the Events gitsync's runs emitted",
		Long: `List the Events the runs of a sync (or of every sync of the namespace, or with -A of the cluster)
emitted on the sync's spec ConfigMap, oldest first, as kubectl events and flux events do: a run that applied
something (Synced), failed (SyncFailed), found another run holding the Lease (Busy) or lost it (LeaseLost).
Runs that found nothing to do emit none. --watch prints the Events to come until interrupted.

The Kubernetes API server keeps Events for an hour by default; the run history (kubectl gitsync history)
keeps more.`,
		Example: `  # The Events of sync web
  kubectl gitsync events web -n team-a

  # The Events of every sync in the cluster, and then those to come
  kubectl gitsync events -A --watch`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "list the Events of every namespace")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "after listing, print the Events to come until interrupted")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: json or yaml (one document per Event with --watch); default a table")
	cmd.Flags().BoolVar(&o.NoHeaders, "no-headers", false, "leave out the table's header")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *eventsOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the flags.
func (o *eventsOptions) Validate() error {
	if o.Name != "" {
		if err := validateSyncName(o.Name); err != nil {
			return err
		}
		if o.AllNamespaces {
			return errors.New("--all-namespaces: cannot be combined with NAME")
		}
	}
	switch o.Output {
	case "", "json", "yaml":
	default:
		return fmt.Errorf("--output: must be json or yaml, not %q", o.Output)
	}
	return nil
}

// Run prints the Events, then with --watch those to come.
func (o *eventsOptions) Run(ctx context.Context) error {
	opts := action.EventsOptions{Namespace: o.Namespace, Name: o.Name}
	if o.AllNamespaces {
		opts.Namespace = metav1.NamespaceAll
	}
	events, err := action.ListEvents(ctx, o.cfg, opts)
	if err != nil {
		return err
	}
	if o.Output != "" && !o.Watch {
		if events == nil {
			events = []action.SyncEvent{}
		}
		return o.write(map[string]any{"items": events})
	}
	if len(events) == 0 && !o.Watch && o.Output == "" {
		_, err := fmt.Fprintf(o.ErrOut, "No events found in %s.\n", action.NamespaceWords(opts.Namespace))
		return err
	}
	headers := !o.NoHeaders
	if err := o.printEvents(events, &headers); err != nil {
		return err
	}
	if !o.Watch {
		return nil
	}
	// Each Event to come is printed as it comes: its row is aligned on
	// its own, as kubectl events --watch does.
	return action.WatchEvents(ctx, o.cfg, opts, func(e action.SyncEvent) error {
		return o.printEvents([]action.SyncEvent{e}, &headers)
	})
}

// printEvents prints Events as one table (the header first when
// *headers), or as JSON or YAML documents.
func (o *eventsOptions) printEvents(events []action.SyncEvent, headers *bool) error {
	if o.Output != "" {
		for _, e := range events {
			if err := o.write(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := newTableWriter(o.Out)
	if *headers {
		o.row(tw, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "NAMESPACE")
		*headers = false
	}
	for _, e := range events {
		last := format.Age(o.now(), e.Last)
		if e.Count > 1 {
			last += fmt.Sprintf(" (x%d)", e.Count)
		}
		o.row(tw, last, e.Type, e.Reason, "sync/"+e.Sync, format.OneLine(e.Message, 200), e.Namespace)
	}
	return tw.Flush()
}

// row writes a table row, with the NAMESPACE column first for -A.
func (o *eventsOptions) row(w io.Writer, last, typ, reason, obj, msg, ns string) {
	if o.AllNamespaces {
		writeRow(w, ns, last, typ, reason, obj, msg)
		return
	}
	writeRow(w, last, typ, reason, obj, msg)
}

func (o *eventsOptions) write(v any) error {
	var b []byte
	var err error
	if o.Output == "json" {
		b, err = json.MarshalIndent(v, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(v)
		if o.Watch {
			b = append([]byte("---\n"), b...)
		}
	}
	if err != nil {
		return err
	}
	_, err = o.Out.Write(b)
	return err
}
