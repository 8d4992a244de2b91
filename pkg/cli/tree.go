package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/object"
)

// treeClusterScoped heads the cluster-scoped objects in the tree.
const treeClusterScoped = "(cluster-scoped)"

// treeOptions are the options of `kubectl gitsync tree`; the embedded
// syncRef names the sync.
type treeOptions struct {
	// print is -o: "" (the tree), yaml, json, name (the objects),
	// jsonpath=..., go-template=....
	print *printFlags

	syncRef
	genericiooptions.IOStreams
}

// newTreeCommand returns the `tree` command.
func newTreeCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &treeOptions{syncRef: syncRef{flags: flags}, IOStreams: streams, print: newPrintFlags(outputTable)}
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
	o.print.addFlags(cmd, false)
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *treeOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.print.complete(); err != nil {
		return err
	}
	return o.complete(cmd, args)
}

// Validate checks the argument and flags.
func (o *treeOptions) Validate() error {
	return validateSyncName(o.Name)
}

// Run prints the tree.
func (o *treeOptions) Run(ctx context.Context) error {
	t, err := action.GetTree(ctx, o.cfg, o.ref())
	if err != nil {
		return err
	}
	if !o.print.table() {
		var named []runtime.Object
		for _, ns := range t.Namespaces {
			for _, k := range ns.Kinds {
				kind, group, _ := strings.Cut(k.Kind, ".")
				for _, n := range k.Names {
					named = append(named, nameOfID(object.ID{Group: group, Kind: kind, Name: n}))
				}
			}
		}
		return o.print.print(o.Out, t, named)
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
