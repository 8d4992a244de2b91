package action

import (
	"strings"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

// convertDependsOn carries each converted unit's Flux dependsOn over to its
// sync's spec.dependsOn, naming the syncs converted from those units, and
// generates the sync's objects again (the dependsOn label and RBAC). A
// dependency that is not among the converted units stays a note, in place
// of the one the conversion wrote, since no sync exists to depend on.
func convertDependsOn(res *ConvertResult, opts ConvertOptions, ns string) {
	syncOf := map[flux.ID]*spec.Sync{}
	for _, cs := range res.Syncs {
		syncOf[cs.From] = cs.Sync
	}
	deps := map[flux.ID][]flux.ID{}
	for _, in := range opts.Inputs {
		if !flux.IsFlux(in.Object) {
			continue
		}
		obj, _, err := decodeTolerant(in.Object, ns)
		if err != nil {
			continue
		}
		if u, ok := obj.(flux.Unit); ok && syncOf[obj.Metadata().ID] != nil {
			deps[obj.Metadata().ID] = u.Dependencies()
		}
	}
	for i := range res.Syncs {
		cs := &res.Syncs[i]
		ids := deps[cs.From]
		if len(ids) == 0 {
			continue
		}
		var missing []flux.ID
		var refs []spec.DependencyReference
		for _, id := range ids {
			s := syncOf[id]
			if s == nil {
				missing = append(missing, id)
				continue
			}
			ref := spec.DependencyReference{Name: s.Name}
			if s.Namespace != cs.Sync.Namespace {
				ref.Namespace = s.Namespace
			}
			refs = append(refs, ref)
		}
		if len(refs) > 0 {
			prev := cs.Sync.Spec.DependsOn
			cs.Sync.Spec.DependsOn = refs
			objs, err := install.Generate(cs.Sync, opts.Install)
			if err != nil {
				cs.Sync.Spec.DependsOn = prev
				continue // the note written by the conversion stays
			}
			cs.Objects = objs
		}
		for j, n := range cs.NotConverted {
			if n.Path != "spec.dependsOn" {
				continue
			}
			if len(missing) == 0 {
				cs.NotConverted = append(cs.NotConverted[:j], cs.NotConverted[j+1:]...)
			} else {
				cs.NotConverted[j] = missingDependsOnNote(missing)
			}
			break
		}
	}
}

// missingDependsOnNote names the dependencies of a unit that were not
// converted with it.
func missingDependsOnNote(deps []flux.ID) flux.FieldNote {
	ids := make([]string, len(deps))
	for i, d := range deps {
		ids[i] = d.String()
	}
	return flux.FieldNote{Path: "spec.dependsOn", Note: strings.Join(ids, ", ") + ": not among the converted objects, so there " +
		"is no sync to depend on; convert them together"}
}
