package action

import (
	"testing"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// TestConvertDependsOn checks that a Kustomization's dependsOn on another
// converted Kustomization becomes the sync's dependsOn, with the label and
// the trigger Role install writes, and that one on a unit left out stays a
// note.
func TestConvertDependsOn(t *testing.T) {
	res, err := Convert(ConvertOptions{Inputs: convertInputs(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps}
spec:
  interval: 10m
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./apps
  prune: true
  dependsOn: [{name: infra}, {name: crds, namespace: platform}]
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra}
spec:
  interval: 10m
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./infra
  prune: true
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system}
spec:
  interval: 1m
  url: https://github.com/example/fleet
  ref: {branch: main}`)})
	must(t, err)
	if len(res.Syncs) != 2 {
		t.Fatalf("syncs: %d, notes %q", len(res.Syncs), res.Notes)
	}
	apps := res.Syncs[0]
	if got := apps.Sync.Spec.DependsOn; len(got) != 1 || got[0] != (spec.DependencyReference{Name: "infra"}) {
		t.Errorf("apps dependsOn: %+v, want [{infra}]", got)
	}
	if v := apps.Objects.ConfigMap.Labels[names.DependsOnLabel("flux-system", "infra")]; v != "infra" {
		t.Errorf("apps spec ConfigMap lacks the dependsOn label: %v", apps.Objects.ConfigMap.Labels)
	}
	trigger := false
	for _, r := range apps.Objects.Roles {
		trigger = trigger || r.Name == names.Trigger("apps")
	}
	if !trigger {
		t.Error("apps has no trigger Role")
	}
	var note string
	for _, n := range apps.NotConverted {
		if n.Path == "spec.dependsOn" {
			note = n.Note
		}
	}
	if want := "Kustomization/platform/crds: not among the converted objects"; len(note) < len(want) || note[:len(want)] != want {
		t.Errorf("dependsOn note %q, want it to start with %q", note, want)
	}
}
