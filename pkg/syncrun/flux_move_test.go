package syncrun

import (
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// TestFluxObjectMovesBetweenUnits: one commit moves an object from unit a
// to unit b, where b depends on a (so a, which no longer renders it, runs
// first), and another from the sync's own render into b. Both keep their
// UID (never deleted and recreated), carry b's labels and are in b's
// inventory only.
func TestFluxObjectMovesBetweenUnits(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/root.yaml":                  cm("from-root", "1"),
		"clusters/test/units.yaml": kustomization("a", "./a", "") +
			kustomization("b", "./b", "  dependsOn:\n  - name: a\n"),
		"a/moving.yaml": cm("moving", "1"),
		"a/stay.yaml":   cm("stay-a", "1"),
		"b/stay.yaml":   cm("stay-b", "1"),
	})
	mustUnitsSucceed(t, f.run())
	uid := func(name string) string {
		t.Helper()
		c, err := f.configMap(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(c.UID)
	}
	movingUID, rootUID := uid("moving"), uid("from-root")

	f.remove("a/moving.yaml", "clusters/test/root.yaml")
	f.commit(map[string]string{"b/moving.yaml": cm("moving", "2"), "b/from-root.yaml": cm("from-root", "2")})
	res := f.run()
	mustUnitsSucceed(t, res)
	if uid("moving") != movingUID || uid("from-root") != rootUID {
		t.Fatal("a moved object was deleted and created again")
	}
	bState := flux.StateName("tree", flux.ID{Kind: flux.KindKustomization, Namespace: f.ns, Name: "b"})
	aState := flux.StateName("tree", flux.ID{Kind: flux.KindKustomization, Namespace: f.ns, Name: "a"})
	for _, name := range []string{"moving", "from-root"} {
		c, _ := f.configMap(name)
		if c.Labels[LabelUnit] != bState || c.Data["value"] != "2" {
			t.Errorf("%s: labels %v, data %v; want unit b's", name, c.Labels, c.Data)
		}
	}
	inv := func(state string) map[string]bool {
		s := &inventory.Store{Client: env.Client(), Namespace: f.ns, Sync: state}
		i, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, e := range i.Entries {
			out[e.Name] = true
		}
		return out
	}
	if a := inv(aState); a["moving"] || !a["stay-a"] {
		t.Errorf("a's inventory %v", a)
	}
	if b := inv(bState); !b["moving"] || !b["from-root"] {
		t.Errorf("b's inventory %v", b)
	}
	if root := inv("tree"); root["from-root"] {
		t.Errorf("the sync's inventory still lists from-root: %v", root)
	}
}

// TestFluxUnitsInNamespacedSync: in a namespaced install every unit is
// held to the sync's scope: a unit rendering an object of another
// namespace fails before applying anything, naming it; a unit within the
// scope is applied.
func TestFluxUnitsInNamespacedSync(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("inside", "./inside", "") + kustomization("outside", "./outside", ""),
		"inside/cm.yaml":                           cm("inside", "1"),
		"outside/cm.yaml":                          cm("outside-a", "1") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: elsewhere\n  namespace: kube-system\n",
	})
	res := f.runWith(Options{NamespaceScoped: true})
	u := units(res)
	if in := u["Kustomization/"+f.ns+"/inside"]; in.Outcome != Succeeded {
		t.Errorf("inside: %s %s", in.Outcome, in.Message)
	}
	out := u["Kustomization/"+f.ns+"/outside"]
	if out.Outcome != Failed || !strings.Contains(out.Message, "ConfigMap/kube-system/elsewhere: namespace kube-system is outside this namespaced sync") {
		t.Errorf("outside: %s %s", out.Outcome, out.Message)
	}
	f.mustHave("inside")
	f.mustNotHave("outside-a")
}
