package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
)

// diffOptions are the options of `kubectl gitsync diff`; the embedded
// syncRef names the sync.
type diffOptions struct {
	// Path is a local directory rendered in place of the sync's source
	// (--path). Default: fetch the source as a run does.
	Path string

	syncRef
	genericiooptions.IOStreams
}

// newDiffCommand returns the `diff` command. flags are the root's
// kubeconfig flags.
func newDiffCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &diffOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "diff NAME [--path DIR]",
		Short: "Show what the next run of a sync would change",
		Long: `Render the sync NAME as a run would (its source at the spec's ref, or with --path a local directory
rendered with the spec's options) and ask the API server what applying it would change: a server-side dry-run
apply with the sync's labels and field manager, so defaults, admission and ownership are the server's own.

For every object that would change, a unified diff of its live state and the dry-run result is printed
(headers "--- live/KIND/NAMESPACE/NAME" and "+++ merged/KIND/NAMESPACE/NAME"); objects that would be created
diff against nothing, objects the run would prune diff against nothing the other way. What would be pruned
is decided by the run's own prune, with each delete sent as a server-side dry run. managedFields,
resourceVersion, generation, uid and creationTimestamp are left out. The values of a Secret's data and
stringData are never printed: each shows as "***", or "*** (before)" and "*** (after)" when it changes.

With --path the directory is rendered with the sync's targetNamespace, patches, images, components and
postBuild substitution; the spec's source and path are not used. It may refer to files outside itself (a
kustomization's ../base) as long as they stay inside the Git work tree that holds it.

Nothing is written: no Lease, no inventory, no object. Exit status: 0 no changes, 1 changes, 2 error.`,
		Example: `  # What would the next run of web change?
  kubectl gitsync diff web

  # Preview local edits before pushing them
  kubectl gitsync diff web --path ./deploy/production`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "render this local directory instead of the sync's source")
	return cmd
}

// Complete reads the argument and the namespace, checks that --path is a
// directory, and builds the cluster's config.
func (o *diffOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := action.CheckLocalPath(o.Path); err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	return o.complete(cmd, args)
}

// Validate checks the name.
func (o *diffOptions) Validate() error {
	return validateSyncName(o.Name)
}

// Run computes the diff and prints it: exit 0 without changes, 1 with.
func (o *diffOptions) Run(ctx context.Context) error {
	res, err := action.Diff(ctx, o.cfg, action.DiffOptions{RenderOptions: action.RenderOptions{Ref: o.ref(), Path: o.Path}})
	if err != nil {
		return err
	}
	for _, d := range res.Diffs {
		text, err := d.Unified()
		if err != nil {
			return err
		}
		if _, err := io.WriteString(o.Out, text); err != nil {
			return err
		}
	}
	if res.Err != nil {
		return fmt.Errorf("sync %s/%s: the dry run failed for some objects:\n%w", o.Namespace, o.Name, res.Err)
	}
	if len(res.Diffs) == 0 {
		return nil
	}
	return withExitCode(ExitFailed, fmt.Errorf("sync %s/%s: %s", o.Namespace, o.Name, res.Summary()))
}
