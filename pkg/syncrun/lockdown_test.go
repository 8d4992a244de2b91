package syncrun

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/names"
)

// TestLockdown: a namespace locked down (Namespace annotations, which a
// tenant cannot write) holds a sync and its Flux units to its policy at
// run time, whatever the spec and the repository say: a sync and a unit
// that name no ServiceAccount are impersonated as the default one, and a
// unit whose sourceRef names another namespace is refused, while one in
// the sync's namespace runs. The job's own RBAC, as install generates it,
// lets it read the Namespace; a sync installed before the lockdown, with
// no right to impersonate the default ServiceAccount, fails naming it and
// applies nothing.
func TestLockdown(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	foreign := strings.Replace(kustomization("foreign", "./foreign", ""), "    name: NS\n", "    name: NS\n    namespace: elsewhere\n", 1)
	if !strings.Contains(foreign, "namespace: elsewhere") {
		t.Fatalf("test tree: no cross-namespace sourceRef in\n%s", foreign)
	}
	git, _ := appRepo(t, expandNS(map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("team", "./team", "") + foreign,
		"clusters/test/root-cm.yaml":               cm("root-cm", "1"),
		"team/cm.yaml":                             cm("unit-cm", "1"),
		"foreign/cm.yaml":                          cm("foreign-cm", "1"),
	}, ns))
	// Before the lockdown: a plain namespace-mode sync, with the applier
	// RBAC install generates, and no right to impersonate anyone.
	doc := syncDoc(ns, git.HTTPURL("app"), "")
	doc = strings.Replace(doc, "path: ./deploy", "path: ./clusters/test", 1)
	plainCfg := installSync(t, env, doc)

	patch, err := lockdown.Policy{NoCrossNamespaceRefs: true, DefaultServiceAccount: "deployer"}.MergePatch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client().CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	configMapDeployer(t, ns)
	deployer := "system:serviceaccount:" + ns + ":deployer"

	t.Run("installed before the lockdown", func(t *testing.T) {
		res := runAs(t, ns, plainCfg)
		if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "impersonate") ||
			!strings.Contains(res.Err.Error(), "deployer") {
			t.Fatalf("run: %s: %v; want a failure to impersonate deployer", res.Outcome, res.Err)
		}
		for _, name := range []string{"root-cm", "unit-cm", "foreign-cm"} {
			if exists(t, env, ns, "ConfigMap", name) {
				t.Errorf("ConfigMap %s applied by a run that could not impersonate the default ServiceAccount", name)
			}
		}
	})

	t.Run("installed under the lockdown", func(t *testing.T) {
		// What install writes in a locked-down namespace: the default
		// ServiceAccount in the spec, and the delegated RBAC.
		jobCfg := installSync(t, env, strings.Replace(doc, "spec:\n", "spec:\n  serviceAccountName: deployer\n", 1))
		res := runAs(t, ns, jobCfg)
		if res.ServiceAccount != deployer {
			t.Errorf("sync applied as %q, want %s", res.ServiceAccount, deployer)
		}
		units := map[string]UnitResult{}
		for _, u := range res.Units {
			units[u.ID.Name] = u
		}
		if u := units["team"]; u.Outcome != Succeeded || u.ServiceAccount != deployer {
			t.Errorf("unit team: %s as %q (%v); want Succeeded as %s", u.Outcome, u.ServiceAccount, u.Err, deployer)
		}
		if u := units["foreign"]; u.Outcome != Failed || !strings.Contains(u.Message, "cross-namespace reference not allowed") ||
			!strings.Contains(u.Message, "elsewhere") {
			t.Errorf("unit foreign: %s %q; want it refused for its cross-namespace sourceRef", u.Outcome, u.Message)
		}
		for name, want := range map[string]bool{"root-cm": true, "unit-cm": true, "foreign-cm": false} {
			if got := exists(t, env, ns, "ConfigMap", name); got != want {
				t.Errorf("ConfigMap %s exists = %v, want %v", name, got, want)
			}
		}
	})

	t.Run("an unreadable lockdown stops the run", func(t *testing.T) {
		if _, err := env.Client().CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"`+lockdown.AnnotationNoCrossNamespaceRefs+`":"yes please"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := Run(ctx, Options{Name: "app", Namespace: ns, Config: env.Config()})
		if err == nil || !strings.Contains(err.Error(), lockdown.AnnotationNoCrossNamespaceRefs) {
			t.Fatalf("Run: %v; want an error naming the annotation", err)
		}
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, names.Spec("app"), metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
