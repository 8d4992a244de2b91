package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
)

// diffOptions are the options of `kubectl gitsync diff`; the embedded
// syncRef names the sync.
type diffOptions struct {
	// renderFlags say what is rendered (--path, -f, --offline).
	renderFlags

	syncRef
	genericiooptions.IOStreams
}

// newDiffCommand returns the `diff` command. flags are the root's
// kubeconfig flags.
func newDiffCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &diffOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "diff NAME [--path DIR] | diff [NAME] -f SYNC.yaml [--path DIR] | diff -f SYNC.yaml --path DIR --offline",
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

With KUBECTL_EXTERNAL_DIFF set, as with kubectl diff, that program (with the arguments the variable gives,
letters, digits, "-" and "=" only) is run on two directories, LIVE-... and MERGED-..., each holding one file per
changed object (GROUP.VERSION.KIND.NAMESPACE.NAME, empty for the missing side), Secret values masked as above.

With --path the directory is rendered with the sync's targetNamespace, patches, images, components and
postBuild substitution; the spec's source and path are not used. It may refer to files outside itself (a
kustomization's ../base) as long as they stay inside the Git work tree that holds it.

-f diffs a Sync document instead of the installed spec: what installing it would change. With --offline no
cluster is contacted (in CI, say): there is no live state, so the render of --path is compared with the render
of the document's source at its ref (headers "--- source/..." and "+++ local/..."), both offline, the
built-in kinds and the render's CustomResourceDefinitions deciding which objects are namespaced.

Nothing is written: no Lease, no inventory, no object. Exit status: 0 no changes, 1 changes, 2 error (also
when the external diff program fails, that is exits with more than 1).`,
		Example: `  # What would the next run of web change?
  kubectl gitsync diff web

  # Preview local edits before pushing them
  kubectl gitsync diff web --path ./deploy/production

  # In CI, without a cluster: what a change does to the rendered manifests
  kubectl gitsync diff -f sync.yaml --path ./deploy --offline`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	o.renderFlags.addFlags(cmd, flags)
	return cmd
}

// Complete reads the argument, the namespace and the Sync document, checks
// that --path is a directory, and builds the cluster's config (unless
// offline).
func (o *diffOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.renderFlags.complete(&o.syncRef, cmd, args, o.In)
}

// Validate checks the name, or the Sync document, and --offline's needs.
func (o *diffOptions) Validate() error {
	if o.Offline && o.Path == "" {
		return errors.New("--offline: needs --path: without a cluster, diff compares a local directory with the source")
	}
	return o.renderFlags.validate(&o.syncRef)
}

// Run computes the diff and prints it: exit 0 without changes, 1 with.
func (o *diffOptions) Run(ctx context.Context) error {
	res, err := action.Diff(ctx, o.cfg, action.DiffOptions{RenderOptions: o.options(&o.syncRef)})
	if err != nil {
		return err
	}
	if ext := os.Getenv(externalDiffEnv); ext != "" && len(res.Diffs) > 0 {
		if err := o.externalDiff(ctx, ext, res.Diffs); err != nil {
			return err
		}
	} else {
		for _, d := range res.Diffs {
			text, err := d.Unified()
			if err != nil {
				return err
			}
			if _, err := io.WriteString(o.Out, text); err != nil {
				return err
			}
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

// externalDiffEnv names the diff program to run instead of printing a
// unified diff, as kubectl diff reads it.
const externalDiffEnv = "KUBECTL_EXTERNAL_DIFF"

// externalArg is what kubectl allows as an argument in KUBECTL_EXTERNAL_DIFF:
// options, not file names or shell syntax.
var externalArg = regexp.MustCompile(`^[a-zA-Z0-9=-]+$`)

// externalDiff writes both sides of every diff into two directories, LIVE-*
// and MERGED-*, one file per object named as kubectl diff names them, and
// runs the program spec names on them. Its exit status 0 or 1 is fine (the
// caller knows whether there are changes); more, or a program that cannot
// run, is an error.
func (o *diffOptions) externalDiff(ctx context.Context, spec string, diffs []action.ObjectDiff) (err error) {
	words := strings.Fields(spec)
	for _, a := range words[1:] {
		if !externalArg.MatchString(a) {
			return fmt.Errorf("%s: argument %q: only letters, digits, - and = are allowed", externalDiffEnv, a)
		}
	}
	live, err := os.MkdirTemp("", "LIVE-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(live)) }()
	merged, err := os.MkdirTemp("", "MERGED-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(merged)) }()
	for _, d := range diffs {
		before, after, err := d.YAML()
		if err != nil {
			return err
		}
		name := externalDiffName(d)
		if err := os.WriteFile(filepath.Join(live, name), []byte(before), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(merged, name), []byte(after), 0o600); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, words[0], append(words[1:], live, merged)...)
	cmd.Stdout, cmd.Stderr = o.Out, o.ErrOut
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", externalDiffEnv, spec, err)
	}
	return nil
}

// externalDiffName names an object's file as kubectl diff does:
// [GROUP.]VERSION.KIND.NAMESPACE.NAME.
func externalDiffName(d action.ObjectDiff) string {
	version := "v1"
	for _, u := range []*unstructured.Unstructured{d.After, d.Before} {
		if u != nil {
			version = u.GroupVersionKind().Version
			break
		}
	}
	name := version + "." + d.ID.Kind + "." + d.ID.Namespace + "." + d.ID.Name
	if d.ID.Group != "" {
		name = d.ID.Group + "." + name
	}
	return name
}
