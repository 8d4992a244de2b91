package syncrun

import (
	"fmt"
	"strings"
	"testing"
)

// TestFluxSubstitutionLenient: a Flux Kustomization's postBuild variable
// that is undefined and has no default is "", as in Flux by default, and
// the unit's result names it; with spec.flux.strictSubstitution (Flux's
// StrictPostBuildSubstitutions) the unit fails naming it and applies
// nothing.
func TestFluxSubstitutionLenient(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": kustomization("apps", "./apps",
			"  postBuild:\n    substitute:\n      env: prod\n"),
		"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: subst\ndata:\n" +
			"  env: ${env}\n  region: \"[${region}]\"\n  zone: ${zone:=eu-1a}\n",
	})
	res := f.run()
	if res.Outcome != Succeeded {
		t.Fatalf("run: %s: %v", res.Outcome, res.Err)
	}
	cm, err := f.configMap("subst")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["env"] != "prod" || cm.Data["region"] != "[]" || cm.Data["zone"] != "eu-1a" {
		t.Errorf("data %v, want env prod, region [] (undefined: empty), zone eu-1a", cm.Data)
	}
	u := units(res)["Kustomization/"+f.ns+"/apps"]
	if !strings.Contains(u.Message, "undefined postBuild variable substituted empty") || !strings.Contains(u.Message, "region") ||
		strings.Contains(u.Message, "zone") {
		t.Errorf("unit message %q: want it to name region (and not zone, which has a default)", u.Message)
	}

	f.commit(map[string]string{"apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: subst\ndata:\n" +
		"  env: ${env}-2\n  region: \"[${region}]\"\n"})
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tree, namespace: %s}\nspec:\n"+
		"  source:\n    git:\n      url: %s\n      insecure: true\n      ref: {branch: main}\n  path: ./clusters/test\n"+
		"  flux:\n    strictSubstitution: true\n", f.ns, f.git.HTTPURL("app")))
	res = f.run()
	u = units(res)["Kustomization/"+f.ns+"/apps"]
	if u.Outcome != Failed || !strings.Contains(u.Message, `undefined variable "region"`) {
		t.Errorf("strict: unit %s %q; want it failed naming region", u.Outcome, u.Message)
	}
	if cm, err := f.configMap("subst"); err != nil || cm.Data["env"] != "prod" {
		t.Errorf("strict: the failed render changed the ConfigMap: %v %v", cm.Data, err)
	}
}
