package syncrun

import (
	"strings"
	"testing"
)

// TestFluxReadyExpr: a dependsOn entry's readyExpr decides whether its
// dependency is ready, as in Flux: on the dependency's object from Git
// (`dep`, with the status its pass in this run gives it) and the
// dependent's (`self`). A dependent runs after a failed dependency its
// expression accepts, is skipped when the expression is false, and fails
// when it cannot be evaluated.
func TestFluxReadyExpr(t *testing.T) {
	dep := func(on, expr string) string {
		return "  dependsOn:\n  - name: " + on + "\n    readyExpr: " + expr + "\n"
	}
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/ok.yaml":                    kustomization("ok", "./ok", ""),
		"clusters/test/broken.yaml": strings.Replace(kustomization("broken", "./missing", ""),
			"  name: broken\n", "  name: broken\n  labels: {tier: data}\n", 1),
		"clusters/test/lenient.yaml": kustomization("lenient", "./lenient", dep("broken", `"dep.metadata.labels['tier'] == 'data'"`)),
		"clusters/test/gen.yaml": kustomization("gen", "./gen", dep("ok", `"dep.status.observedGeneration == dep.metadata.generation && `+
			`dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True') && dep.status.lastAppliedRevision.startsWith('main@sha1:')"`)),
		"clusters/test/refused.yaml": kustomization("refused", "./refused", dep("ok", `"self.metadata.name == 'other'"`)),
		"clusters/test/typo.yaml":    kustomization("typo", "./typo", dep("ok", `"dep.stauts.ready"`)),
		"ok/cm.yaml":                 cm("ok", "1"),
		"lenient/cm.yaml":            cm("lenient", "1"),
		"gen/cm.yaml":                cm("gen", "1"),
		"refused/cm.yaml":            cm("refused", "1"),
		"typo/cm.yaml":               cm("typo", "1"),
	})
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s: the broken unit should fail it", res.Outcome)
	}
	us := units(res)
	ks := func(name string) UnitResult { return us["Kustomization/"+f.ns+"/"+name] }
	for _, name := range []string{"ok", "lenient", "gen"} {
		if u := ks(name); u.Outcome != Succeeded {
			t.Errorf("%s: %s %s", name, u.Outcome, u.Message)
		}
	}
	if u := ks("refused"); u.Outcome != Skipped || !strings.Contains(u.Message, "Kustomization/"+f.ns+"/ok is not ready: its readyExpr is false (it succeeded)") {
		t.Errorf("refused: %s %s", u.Outcome, u.Message)
	}
	if u := ks("typo"); u.Outcome != Failed || !strings.Contains(u.Message, "readyExpr: no such key: stauts") {
		t.Errorf("typo: %s %s", u.Outcome, u.Message)
	}
	for _, name := range []string{"lenient", "gen"} {
		if _, err := f.configMap(name); err != nil {
			t.Errorf("%s not applied: %v", name, err)
		}
	}
	for _, name := range []string{"refused", "typo"} {
		if _, err := f.configMap(name); err == nil {
			t.Errorf("%s applied", name)
		}
	}
}
