package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// How status, tree, trace, history, build and diff show a sync's units:
// the Kustomizations and HelmReleases its run executes (docs/flux.md).

// unitFlagUsage documents --unit for build, diff and history.
const unitFlagUsage = "a unit of the sync instead of the sync itself: Kind/namespace/name of a Kustomization or HelmRelease its tree holds (ks and hr abbreviate the kinds)"

// unitNode is a unit placed in its sync's tree of units.
type unitNode struct {
	// index is the unit's position in the slice it was placed from.
	index int
	// prefix draws the tree lines before the unit's name.
	prefix string
	// indent is the prefix of the lines under the unit (its own content,
	// in tree).
	indent string
}

// unitTree orders units as their parents nest them, depth first: the
// units of the sync's own render, each followed by the units its render
// held. A unit whose parent is not among them is placed at the top. parent
// and name return a unit's parent and Kind/namespace/name.
func unitTree(n int, parent, name func(int) string, indent string) []unitNode {
	children := map[string][]int{}
	known := map[string]bool{}
	for i := range n {
		known[name(i)] = true
	}
	for i := range n {
		p := parent(i)
		if !known[p] || p == name(i) {
			p = ""
		}
		children[p] = append(children[p], i)
	}
	var out []unitNode
	seen := map[int]bool{}
	var walk func(key, indent string)
	walk = func(key, indent string) {
		kids := children[key]
		for j, i := range kids {
			if seen[i] {
				continue // a parent cycle in a hand-edited record
			}
			seen[i] = true
			last := j == len(kids)-1
			out = append(out, unitNode{index: i, prefix: indent + treeBranch(last), indent: indent + treeIndent(last)})
			walk(name(i), indent+treeIndent(last))
		}
	}
	walk("", indent)
	return out
}

// unitRecordTree places the units of a status.
func unitRecordTree(units []inventory.UnitRecord, indent string) []unitNode {
	return unitTree(len(units), func(i int) string { return units[i].Parent },
		func(i int) string { return action.UnitName(units[i]) }, indent)
}

// waitsOn is the dependency a unit waits on, in words: the one that
// blocked it when it was skipped, else the units it depends on.
func waitsOn(u inventory.UnitRecord) string {
	if u.BlockedBy != "" {
		return u.BlockedBy + " (did not succeed)"
	}
	return format.OrDash(strings.Join(u.DependsOn, ", "))
}

// unitResult is a unit's result, with suspended and drift-only runs told
// apart.
func unitResult(u inventory.UnitRecord) string {
	res := format.OrDash(string(u.Result))
	if u.Suspended {
		res += " (suspended)"
	}
	return res
}

// unitEnded is when a unit's run ended, as an age; "-" when it did not run.
func unitEnded(now time.Time, u inventory.UnitRecord) string {
	switch {
	case !u.End.IsZero():
		return format.Age(now, u.End)
	case !u.Start.IsZero():
		return format.Age(now, u.Start)
	}
	return "-"
}

// unitRows returns the table rows of the units of st for the status
// list: NAME drawn as a tree under the sync, the other columns of the
// sync's row where they mean the same for a unit (SOURCE: the Flux source
// it reads; SCHEDULE, NEXT RUN: the sync's, shown as "-"). Skipped units
// say in MESSAGE (-o wide) which dependency they wait on.
func unitRows(st action.SyncStatus, now time.Time, allNamespaces, wide bool) [][]string {
	var rows [][]string
	for _, n := range unitRecordTree(st.Units, "") {
		u := st.Units[n.index]
		row := []string{n.prefix + action.UnitName(u), format.OrDash(u.Source), format.Revision(u.Revision), unitEnded(now, u),
			unitResult(u), strconv.Itoa(u.Objects), "-", "-", strconv.FormatBool(u.Suspended)}
		if allNamespaces {
			row = append([]string{""}, row...)
		}
		if wide {
			msg := u.Message
			if u.BlockedBy != "" && !strings.Contains(msg, u.BlockedBy) {
				msg = "waits on " + u.BlockedBy + ": " + msg
			}
			dur := "-"
			if !u.Start.IsZero() && !u.End.IsZero() {
				dur = format.Duration(u.End.Sub(u.Start))
			}
			row = append(row, dur, format.OrDash(format.OneLine(msg, 0)))
		}
		rows = append(rows, row)
	}
	return rows
}

// writeUnitsDetail writes the Units section of a detailed status.
func writeUnitsDetail(out io.Writer, units []inventory.UnitRecord, now time.Time) error {
	if len(units) == 0 {
		return nil
	}
	fmt.Fprintf(out, "Units: %d\n", len(units))
	w := newTableWriter(out)
	writeRow(w, "  UNIT", "REVISION", "RESULT", "RENDERED", "OBJECTS", "ENDED", "WAITS ON", "MESSAGE")
	for _, n := range unitRecordTree(units, "  ") {
		u := units[n.index]
		ended := unitEnded(now, u)
		if ended != "-" {
			ended += " ago"
		}
		writeRow(w, n.prefix+action.UnitName(u), format.Revision(u.Revision), unitResult(u), strconv.FormatBool(u.Rendered),
			strconv.Itoa(u.Objects), ended, waitsOn(u), format.OrDash(format.OneLine(u.Message, 80)))
	}
	return w.Flush()
}

// leaseCell describes a sync's Lease: who holds it, for how long, and when
// it expires.
func leaseCell(l *action.LeaseStatus, now time.Time) string {
	if l == nil {
		return "none (no run in progress)"
	}
	holder := format.OrDash(l.Holder)
	if !l.Held {
		return fmt.Sprintf("expired %s ago (held by %s, which did not release it; the next run takes it over)", format.Age(now, l.Expires), holder)
	}
	return fmt.Sprintf("held by %s for %s, expires %s unless renewed", holder, format.Age(now, l.Acquired), format.Until(now, l.Expires))
}

// completeUnits completes --unit with the units of the sync named by the
// first argument, as its last run listed them.
func completeUnits(flags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		namespace, err := syncNamespace(flags)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := actionConfig(ctx, flags)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		units, err := action.UnitNames(ctx, cfg, action.Ref{Name: args[0], Namespace: namespace})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(units, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
