package syncrun

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// installNamespaced grants the sync the rights `install --rbac=namespace`
// generates for its current spec, deletes applier Roles and RoleBindings of
// earlier installs in dropped (as install does with rights no longer
// granted), and returns the ServiceAccount's config once the authorizer
// allows it in the target namespace and refuses it in dropped.
func (f *fixture) installNamespaced(dropped ...string) *rest.Config {
	f.t.Helper()
	ctx := f.t.Context()
	cm, err := spec.GetConfigMap(ctx, env.Client(), f.ns, f.name)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := spec.FromConfigMap(cm)
	if err != nil {
		f.t.Fatal(err)
	}
	objs, err := install.Generate(s, install.Options{RBAC: install.RBACNamespace})
	if err != nil {
		f.t.Fatal(err)
	}
	rbac := []runtime.Object{objs.ServiceAccount}
	for _, r := range objs.Roles {
		rbac = append(rbac, r)
	}
	for _, b := range objs.RoleBindings {
		rbac = append(rbac, b)
	}
	doc, err := install.Marshal(rbac, install.FormatYAML)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := env.ApplyYAML(ctx, f.ns, string(doc)); err != nil {
		f.t.Fatal(err)
	}
	for _, ns := range dropped {
		name := objs.Roles[1].Name // the applier's name is the same in every namespace
		if err := env.Client().RbacV1().RoleBindings(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			f.t.Fatal(err)
		}
		if err := env.Client().RbacV1().Roles(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			f.t.Fatal(err)
		}
	}
	cfg, err := env.ServiceAccountConfig(ctx, f.ns, objs.ServiceAccount.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(cfg)
	target := install.TargetNamespace(s)
	// RBAC changes take a moment to reach the authorizer's cache.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, errTarget := sa.CoreV1().ConfigMaps(target).List(ctx, metav1.ListOptions{Limit: 1})
		ready := errTarget == nil
		for _, ns := range dropped {
			_, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
			ready = ready && apierrors.IsForbidden(err)
		}
		if ready {
			return cfg
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the ServiceAccount's rights did not settle: list in %s: %v", target, errTarget)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *fixture) mustHaveIn(ns, name string) {
	f.t.Helper()
	if _, err := f.configMapIn(ns, name); err != nil {
		f.t.Errorf("ConfigMap %s/%s: %v", ns, name, err)
	}
}

// checkOrphaned checks that the last run recorded want as orphaned, left
// them out of the inventory, named them in its message and an Orphaned
// Event.
func (f *fixture) checkOrphaned(res *Result, want ...object.ID) {
	f.t.Helper()
	inv := f.inventory()
	if diff := cmp.Diff(want, inv.Record.LastRun.Orphaned); diff != "" {
		f.t.Errorf("lastRun.orphaned (-want +got):\n%s", diff)
	}
	if inv.Record.LastRun.OrphanedCount != len(want) {
		f.t.Errorf("lastRun.orphanedCount %d, want %d", inv.Record.LastRun.OrphanedCount, len(want))
	}
	for _, e := range inv.Entries {
		for _, id := range want {
			if e.ID == id {
				f.t.Errorf("%s is still in the inventory", id)
			}
		}
	}
	events := f.events("Orphaned")
	if len(events) == 0 {
		f.t.Fatalf("no Orphaned Event")
	}
	for _, id := range want {
		if !strings.Contains(res.Message, id.String()) || !strings.Contains(events[len(events)-1].Message, id.String()) {
			f.t.Errorf("%s not named in the message %q or the Event %q", id, res.Message, events[len(events)-1].Message)
		}
	}
}

// TestNarrowedScopeOrphans: a sync applied in cluster mode to its own
// namespace and another one is installed again namespace-scoped, with the
// rights install generates for that. Its next run must not wedge on a
// refused prune of the other namespace: the change of scope makes it render
// (a drift check would be refused there), the render that still leaves the
// scope fails naming the object, and once Git no longer has it the run
// succeeds, advances the revision, and records the other namespace's object
// as orphaned instead of deleting it; later runs succeed too.
func TestNarrowedScopeOrphans(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	other := env.NewNamespace(t)
	f.commit(map[string]string{
		"deploy/a.yaml": cm("a", "1"),
		"deploy/b.yaml": strings.Replace(cm("b", "1"), "  name: b\n", "  name: b\n  namespace: "+other+"\n", 1),
	})
	f.install(f.git.HTTPURL("app"), "", "")
	f.mustSucceed(f.run())
	f.mustHaveIn(other, "b")

	cfg := f.installNamespaced()
	scoped := Options{Config: cfg, NamespaceScoped: true}
	res := f.runWith(scoped)
	if res.Outcome != Failed || !strings.Contains(res.Message, "ConfigMap/"+other+"/b: namespace "+other+" is outside") {
		t.Fatalf("unchanged revision in a narrower scope: %s: %s; want the scope check to name ConfigMap/%s/b", res.Outcome, res.Message, other)
	}

	f.remove("deploy/b.yaml")
	// diff's preview (Render, then apply.PreviewPrune) sees what the run
	// will do: b is stale, and outside the scope.
	rnd, err := Render(t.Context(), RenderOptions{Name: f.name, Namespace: f.ns, Config: cfg, NamespaceScoped: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rnd.Stale) != 1 || rnd.Stale[0].Namespace != other || rnd.InScope == nil || rnd.InScope(rnd.Stale[0]) {
		t.Errorf("Render: stale %v; want ConfigMap/%s/b, outside InScope", rnd.Stale, other)
	}
	for i := range 2 {
		res = f.runWith(scoped)
		f.mustSucceed(res)
		if got := f.inventory().Record.LastAppliedRevision; got != res.Revision {
			t.Errorf("run %d: applied revision %q, want %q", i, got, res.Revision)
		}
		if i == 0 {
			f.checkOrphaned(res, object.ID{Kind: "ConfigMap", Namespace: other, Name: "b"})
		}
	}
	f.mustHaveIn(other, "b")
	f.mustHave("a")
}

// TestTargetNamespaceChangeOrphans: a namespaced sync whose targetNamespace
// moves from one namespace to another, with install's rights moving along,
// applies in the new one and orphans what it had applied in the old one,
// where it may no longer list or delete.
func TestTargetNamespaceChangeOrphans(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	t1, t2 := env.NewNamespace(t), env.NewNamespace(t)
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", "  targetNamespace: "+t1+"\n")
	f.mustSucceed(f.runWith(Options{Config: f.installNamespaced(), NamespaceScoped: true}))
	f.mustHaveIn(t1, "a")

	f.install(f.git.HTTPURL("app"), "", "  targetNamespace: "+t2+"\n")
	cfg := f.installNamespaced(t1)
	res := f.runWith(Options{Config: cfg, NamespaceScoped: true})
	f.mustSucceed(res)
	f.mustHaveIn(t1, "a")
	f.mustHaveIn(t2, "a")
	f.checkOrphaned(res, object.ID{Kind: "ConfigMap", Namespace: t1, Name: "a"})
	f.mustSucceed(f.runWith(Options{Config: cfg, NamespaceScoped: true}))
}
