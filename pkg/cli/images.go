package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/spec"
)

// imagesOptions are the options of `kubectl gitsync images`.
type imagesOptions struct {
	print *printFlags
	// AllNamespaces (-A) reports on the syncs of every namespace.
	AllNamespaces bool

	syncRef

	genericiooptions.IOStreams
}

// newImagesCommand returns the `images` command.
func newImagesCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &imagesOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, print: newPrintFlags(outputTable)}
	cmd := &cobra.Command{
		Use:   "images [NAME]",
		Short: "List the image policies of syncs, the tag each chooses and where its markers are",
		Long: `For each policy of a sync's spec.imageUpdate: scan its image repository as a run would (with the
Secret the policy names), print the tag it chooses now, and list the setter markers under spec.imageUpdate.path
in the sync's Git source, with the value each holds and whether that is up to date. Nothing is written:
the next run commits and applies what is out of date.

Then each Flux ImagePolicy that an ImageUpdateAutomation unit of the sync resolved, as the sync's last run
recorded it (SOURCE names the automation): the tag it chose and where its markers are.

Without NAME, every sync of the namespace that has either.`,
		Example: `  # The policies of sync web
  kubectl gitsync images web

  # Every sync with image automation, in all namespaces, as JSON
  kubectl gitsync images -A -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "report on the syncs of every namespace")
	o.print.addFlags(cmd, true)
	return cmd
}

// Complete reads the argument, the namespace and -o, and builds the
// client.
func (o *imagesOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.print.complete(); err != nil {
		return err
	}
	return o.complete(cmd, args)
}

// Validate checks the argument and flags.
func (o *imagesOptions) Validate() error {
	if o.Name == "" {
		return nil
	}
	if o.AllNamespaces {
		return errors.New("--all-namespaces: cannot be combined with NAME")
	}
	return validateSyncName(o.Name)
}

// Run scans and prints.
func (o *imagesOptions) Run(ctx context.Context) error {
	ns := o.Namespace
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	res, err := action.Images(ctx, o.cfg, action.ImagesOptions{Namespace: ns, Name: o.Name})
	if err != nil {
		return err
	}
	items := res.Items
	if !o.print.table() {
		names := make([]runtime.Object, len(items))
		for i, it := range items {
			names[i] = syncName(it.Sync.Name)
		}
		return o.print.print(o.Out, res, names)
	}
	if len(items) == 0 {
		_, err := fmt.Fprintf(o.ErrOut, "No syncs with image policies (spec.imageUpdate or Flux ImagePolicies) in %s.\n", action.NamespaceWords(ns))
		return err
	}
	w := newTableWriter(o.Out)
	if !o.print.NoHeaders {
		writeRow(w, "SYNC", "POLICY", "SOURCE", "IMAGE", "LATEST", "TAGS", "MARKERS")
	}
	for _, it := range items {
		sync := it.Sync.Name
		if o.AllNamespaces {
			sync = it.Sync.Namespace + "/" + sync
		}
		latest := format.OrDash(it.Latest)
		if it.Error != "" {
			latest = "error: " + format.OneLine(it.Error, 0)
		}
		var markers []string
		for _, m := range it.Markers {
			s := m.Location
			if m.Field != "" {
				s += " (" + m.Field + ")"
			}
			switch {
			case m.UpToDate || it.Latest == "":
			case it.Recorded:
				s += " (on the push branch)"
			default:
				s += " " + m.Value + " -> next run"
			}
			markers = append(markers, s)
		}
		if it.MoreMarkers > 0 {
			markers = append(markers, fmt.Sprintf("and %d more", it.MoreMarkers))
		}
		source := "spec"
		if it.Recorded {
			// The automation; -o json has the path of units to it.
			path := strings.Split(it.Source, " > ")
			source = path[len(path)-1]
		}
		writeRow(w, sync, it.Policy, source, format.OrDash(it.Image), latest, strconv.Itoa(it.Tags), format.OrDash(strings.Join(markers, ", ")))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, p := range res.Push {
		state := "allowed"
		if !p.Allowed {
			state = "REFUSED: " + format.OneLine(p.Error, 0)
		}
		branch := p.Branch
		if branch == "" {
			branch = "the default branch"
		}
		if _, err := fmt.Fprintf(o.Out, "sync %s: push to %s: %s\n", p.Sync, branch, state); err != nil {
			return err
		}
	}
	return nil
}

// imageUpdateNote is what install says about a spec with imageUpdate: the
// run pushes, so the Git credentials need write access. "" without
// imageUpdate.
func imageUpdateNote(s *spec.Sync) string {
	u := s.Spec.ImageUpdate
	if u == nil || s.Spec.Source.Git == nil {
		return ""
	}
	branch := s.Spec.Source.Git.Ref.Branch
	if b := u.PushBranch(); b != "" {
		branch = b
	}
	if branch == "" {
		branch = "the default branch"
	}
	creds := "anonymous access"
	if ref := s.Spec.Source.Git.SecretRef; ref != nil {
		creds = "the credentials of Secret " + ref.Name
	}
	return fmt.Sprintf("image update: every run may push to %s of %s, so %s must allow pushing there; "+
		"`kubectl gitsync images %s` shows the policies and markers\n", branch, redact.URL(s.Spec.Source.Git.URL), creds, s.Name)
}
