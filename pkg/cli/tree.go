package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
)

// treeClusterScoped heads the cluster-scoped objects in the tree.
const treeClusterScoped = "(cluster-scoped)"

// treeOptions are the options of `kubectl gitsync tree`; the embedded
// syncRef names the sync.
type treeOptions struct {
	// Output is "" (tree), "yaml" or "json".
	Output string

	syncRef
	genericiooptions.IOStreams
}

// newTreeCommand returns the `tree` command.
func newTreeCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &treeOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "tree NAME",
		Short: "Show the objects a sync manages, by namespace and kind",
		Long: `Show the inventory of a sync (the objects it applied, as recorded in ConfigMap gitsync-NAME-inventory)
as a tree: cluster-scoped objects first, then each namespace, each with its kinds and object names. It reads
only the inventory, not the objects themselves.`,
		Example: `  # The objects of sync web
  kubectl gitsync tree web -n team-a

  # As JSON
  kubectl gitsync tree web -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: yaml or json")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *treeOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument and flags.
func (o *treeOptions) Validate() error {
	if err := validateSyncName(o.Name); err != nil {
		return err
	}
	return validateOutput(o.Output, outputTable, outputYAML, outputJSON)
}

// Run prints the tree.
func (o *treeOptions) Run(ctx context.Context) error {
	t, err := action.GetTree(ctx, o.cfg, o.ref())
	if err != nil {
		return err
	}
	if o.Output != outputTable {
		return printStructured(o.Out, o.Output, t)
	}
	return printTree(o.Out, t)
}

// printTree draws t with box-drawing characters.
func printTree(out io.Writer, t *action.Tree) error {
	head := fmt.Sprintf("Sync/%s/%s", t.Namespace, t.Sync)
	switch {
	case t.Objects == 0:
		head += " (no objects: it has not applied anything yet)"
	case t.Revision != "":
		head += fmt.Sprintf(" (%s, %s)", format.Revision(t.Revision), format.Count(t.Objects, "object"))
	default:
		head += fmt.Sprintf(" (%s)", format.Count(t.Objects, "object"))
	}
	var b strings.Builder
	b.WriteString(head + "\n")
	for i, ns := range t.Namespaces {
		lastNS := i == len(t.Namespaces)-1
		name := ns.Name
		if name == "" {
			name = treeClusterScoped
		}
		b.WriteString(treeBranch(lastNS) + name + "\n")
		nsIndent := treeIndent(lastNS)
		for j, k := range ns.Kinds {
			lastKind := j == len(ns.Kinds)-1
			b.WriteString(nsIndent + treeBranch(lastKind) + k.Kind + "\n")
			kindIndent := nsIndent + treeIndent(lastKind)
			for n, obj := range k.Names {
				b.WriteString(kindIndent + treeBranch(n == len(k.Names)-1) + obj + "\n")
			}
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func treeBranch(last bool) string {
	if last {
		return "└── "
	}
	return "├── "
}

func treeIndent(last bool) string {
	if last {
		return "    "
	}
	return "│   "
}
