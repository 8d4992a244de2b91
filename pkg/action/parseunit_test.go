package action

import (
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/flux"
)

// TestParseUnit: --unit takes every kind a run executes as a unit, by name
// or by the flux and flux-operator CLIs' abbreviations, and names them when
// given another.
func TestParseUnit(t *testing.T) {
	for in, want := range map[string]flux.ID{
		"Kustomization/flux-system/apps": {Kind: flux.KindKustomization, Namespace: "flux-system", Name: "apps"},
		"ks/flux-system/apps":            {Kind: flux.KindKustomization, Namespace: "flux-system", Name: "apps"},
		"hr/apps/podinfo":                {Kind: flux.KindHelmRelease, Namespace: "apps", Name: "podinfo"},
		"ResourceSet/apps/tenants":       {Kind: flux.KindResourceSet, Namespace: "apps", Name: "tenants"},
		"rset/apps/tenants":              {Kind: flux.KindResourceSet, Namespace: "apps", Name: "tenants"},
	} {
		got, err := ParseUnit(in)
		if err != nil || got != want {
			t.Errorf("ParseUnit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	_, err := ParseUnit("GitRepository/flux-system/flux-system")
	if err == nil || !strings.Contains(err.Error(), "only Kustomization, HelmRelease, ResourceSet are") {
		t.Errorf("a source as a unit: %v", err)
	}
}
