package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/object"
)

// treeClusterScoped heads the cluster-scoped objects in the tree.
const treeClusterScoped = "(cluster-scoped)"

// Tree is what `tree -o yaml|json` prints: the inventory of a sync
// grouped by namespace and kind.
type Tree struct {
	// Sync and Namespace name the sync.
	Sync      string `json:"sync"`
	Namespace string `json:"namespace"`
	// Revision is the last applied revision.
	Revision string `json:"revision,omitempty"`
	// Objects is the number of objects.
	Objects int `json:"objects"`
	// Namespaces hold the objects, cluster-scoped ones first (under an
	// empty name), then by namespace name.
	Namespaces []TreeNamespace `json:"namespaces"`
}

// TreeNamespace is one namespace of a Tree.
type TreeNamespace struct {
	// Name is the namespace; empty for cluster-scoped objects.
	Name string `json:"name"`
	// Kinds hold the objects of the namespace by kind, sorted by Kind.group.
	Kinds []TreeKind `json:"kinds"`
}

// TreeKind is one kind of a TreeNamespace.
type TreeKind struct {
	// Kind is Kind, or Kind.group outside the core group.
	Kind string `json:"kind"`
	// Names are the objects' names, sorted.
	Names []string `json:"names"`
}

// BuildTree groups object IDs by namespace, then kind.
func BuildTree(ids []object.ID) []TreeNamespace {
	byNS := map[string]map[string][]string{}
	for _, id := range ids {
		kinds := byNS[id.Namespace]
		if kinds == nil {
			kinds = map[string][]string{}
			byNS[id.Namespace] = kinds
		}
		k := kindName(id.Group, id.Kind)
		kinds[k] = append(kinds[k], id.Name)
	}
	out := make([]TreeNamespace, 0, len(byNS))
	for ns, kinds := range byNS {
		tn := TreeNamespace{Name: ns}
		for k, names := range kinds {
			slices.Sort(names)
			tn.Kinds = append(tn.Kinds, TreeKind{Kind: k, Names: slices.Compact(names)})
		}
		slices.SortFunc(tn.Kinds, func(a, b TreeKind) int { return cmp.Compare(a.Kind, b.Kind) })
		out = append(out, tn)
	}
	// "" (cluster-scoped) sorts first.
	slices.SortFunc(out, func(a, b TreeNamespace) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// TreeOptions are the options of `kubectl gitsync tree`; the embedded
// syncRef names the sync.
type TreeOptions struct {
	// Output is "" (tree), "yaml" or "json".
	Output string

	syncRef

	genericiooptions.IOStreams
}

// NewTreeCommand returns the `tree` command.
func NewTreeCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &TreeOptions{syncRef: syncRef{flags: flags}, IOStreams: streams}
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
		ValidArgsFunction: CompleteSyncNames(flags),
		RunE:              runE(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: yaml or json")
	return cmd
}

// Complete reads the argument and the namespace and builds the client.
func (o *TreeOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.complete(cmd, args)
}

// Validate checks the argument and flags.
func (o *TreeOptions) Validate() error {
	if err := ValidateSyncName(o.Name); err != nil {
		return err
	}
	return ValidateOutput(o.Output, OutputTable, OutputYAML, OutputJSON)
}

// Run prints the tree.
func (o *TreeOptions) Run(ctx context.Context) error {
	s, err := GetSync(ctx, o.client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	if s.InventoryErr != nil {
		return s.InventoryErr
	}
	entries := s.Entries()
	ids := make([]object.ID, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	t := Tree{
		Sync:       o.Name,
		Namespace:  o.Namespace,
		Revision:   s.Record().LastAppliedRevision,
		Objects:    len(ids),
		Namespaces: BuildTree(ids),
	}
	if o.Output != OutputTable {
		return PrintStructured(o.Out, o.Output, t)
	}
	return printTree(o.Out, t)
}

// printTree draws t with box-drawing characters.
func printTree(out io.Writer, t Tree) error {
	head := fmt.Sprintf("Sync/%s/%s", t.Namespace, t.Sync)
	switch {
	case t.Objects == 0:
		head += " (no objects: it has not applied anything yet)"
	case t.Revision != "":
		head += fmt.Sprintf(" (%s, %s)", ShortRevision(t.Revision), countNoun(t.Objects, "object"))
	default:
		head += fmt.Sprintf(" (%s)", countNoun(t.Objects, "object"))
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

// countNoun returns "1 object" or "n objects".
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
