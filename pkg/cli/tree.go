package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
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
		Short: "Show the objects a sync manages, by namespace and kind, and its units with theirs",
		Long: `Show the inventory of a sync (the objects it applied, as recorded in ConfigMap gitsync-NAME-inventory)
as a tree: cluster-scoped objects first, then each namespace, each with its kinds and object names. A sync
whose repository holds Flux objects then shows its units (Kustomizations and HelmReleases), nested as their
parents render them, each with its result, revision and the objects of its own inventory
(gitsync-SYNC.ks.NAMESPACE.NAME-inventory). It reads only inventories, not the objects themselves.`,
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
		all := slices.Clone(t.Namespaces)
		for _, u := range t.Units {
			all = append(all, u.Namespaces...)
		}
		for _, ns := range all {
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
	case t.Objects == 0 && len(t.Units) > 0:
		head += fmt.Sprintf(" (no objects of its own, %s)", format.Count(len(t.Units), "unit"))
	case t.Objects == 0:
		head += " (no objects: it has not applied anything yet)"
	case t.Revision != "":
		head += fmt.Sprintf(" (%s, %s)", format.Revision(t.Revision), format.Count(t.Objects, "object"))
	default:
		head += fmt.Sprintf(" (%s)", format.Count(t.Objects, "object"))
	}
	root := &treeNode{label: head, kids: namespaceNodes(t.Namespaces)}
	root.kids = append(root.kids, unitNodes(t.Units)...)
	var b strings.Builder
	root.draw(&b, "", "")
	_, err := io.WriteString(out, b.String())
	return err
}

// treeNode is one line of the tree and the lines under it.
type treeNode struct {
	label string
	kids  []*treeNode
}

// draw writes n after prefix and its children under it, indented by indent.
func (n *treeNode) draw(b *strings.Builder, prefix, indent string) {
	b.WriteString(prefix + n.label + "\n")
	for i, k := range n.kids {
		last := i == len(n.kids)-1
		k.draw(b, indent+treeBranch(last), indent+treeIndent(last))
	}
}

// namespaceNodes are the objects of namespaces: each namespace, its kinds
// and their objects' names.
func namespaceNodes(namespaces []action.TreeNamespace) []*treeNode {
	var out []*treeNode
	for _, ns := range namespaces {
		name := ns.Name
		if name == "" {
			name = treeClusterScoped
		}
		nsNode := &treeNode{label: name}
		for _, k := range ns.Kinds {
			kind := &treeNode{label: k.Kind}
			for _, obj := range k.Names {
				kind.kids = append(kind.kids, &treeNode{label: obj})
			}
			nsNode.kids = append(nsNode.kids, kind)
		}
		out = append(out, nsNode)
	}
	return out
}

// unitNodes are the units of a sync nested as their parents render them,
// each with its own objects before the units it renders.
func unitNodes(units []action.TreeUnit) []*treeNode {
	nodes := make([]*treeNode, len(units))
	for i, u := range units {
		label := u.Unit
		switch {
		case u.Problem != "":
			label += " (" + format.OrDash(string(u.Result)) + ": " + format.OneLine(u.Problem, 100) + ")"
		case u.Objects == 0:
			label += fmt.Sprintf(" (%s, no objects)", format.OrDash(string(u.Result)))
		default:
			label += fmt.Sprintf(" (%s, %s, %s)", format.OrDash(string(u.Result)), format.Revision(u.Revision), format.Count(u.Objects, "object"))
		}
		nodes[i] = &treeNode{label: label, kids: namespaceNodes(u.Namespaces)}
	}
	// unitTree gives every unit after its parent: attach it there.
	byName := map[string]*treeNode{}
	var top []*treeNode
	for _, n := range unitTree(len(units), func(i int) string { return units[i].Parent }, func(i int) string { return units[i].Unit }, "") {
		u := units[n.index]
		byName[u.Unit] = nodes[n.index]
		if p := byName[u.Parent]; p != nil && u.Parent != "" {
			p.kids = append(p.kids, nodes[n.index])
		} else {
			top = append(top, nodes[n.index])
		}
	}
	return top
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
