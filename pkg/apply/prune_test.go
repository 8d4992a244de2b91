package apply

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestPrune(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	labels := testLabels(ns)
	extra := ns + "-gone"
	t.Cleanup(func() {
		_ = env.Client().CoreV1().Namespaces().Delete(t.Context(), extra, metav1.DeleteOptions{})
	})
	applied := mustApply(t, e, objs(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: `+extra+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: inside
  namespace: `+extra+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ours
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: keep
  annotations:
    gitsync.io/prune: disabled
---
apiVersion: v1
kind: Secret
metadata:
  name: flux-keep
  annotations:
    kustomize.toolkit.fluxcd.io/prune: disabled
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: released
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: already-gone
`), Options{Labels: labels})
	targets := map[string]Target{}
	for _, c := range applied.Changes {
		targets[c.Name] = c.Target
	}

	// "released" loses our label (someone took it over); "already-gone" is
	// deleted by someone else; "foreign" was never ours but shares a name
	// with a stale inventory entry.
	released := getCM(t, ns, "released")
	released.SetLabels(nil)
	if err := update(t.Context(), cmGVR, released, "kubectl-edit"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), "already-gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foreign\n"); err != nil {
		t.Fatal(err)
	}
	foreign := targets["ours"]
	foreign.Name = "foreign"

	stale := []Target{targets[extra], targets["inside"], targets["ours"], targets["keep"], targets["flux-keep"],
		targets["released"], targets["already-gone"], foreign}
	if _, err := e.Prune(t.Context(), stale, PruneOptions{}); !errors.Is(err, ErrNoSelector) {
		t.Fatalf("Prune without selector: %v, want ErrNoSelector", err)
	}

	t.Run("dry run deletes nothing", func(t *testing.T) {
		cs, err := e.Prune(t.Context(), stale, PruneOptions{Selector: labels, DryRun: true})
		if err != nil || cs.Err() != nil {
			t.Fatalf("Prune: %v %v", err, cs.Err())
		}
		if cs.Counts()[Deleted] != 4 || !cmExists(t, ns, "ours") {
			t.Errorf("dry run: %v; ours exists: %v", cs.Counts(), cmExists(t, ns, "ours"))
		}
	})

	cs, err := e.Prune(t.Context(), stale, PruneOptions{Selector: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Action{
		"Namespace/" + extra:              Deleted,
		cmID(extra, "inside").String():    Deleted,
		cmID(ns, "ours").String():         Deleted,
		cmID(ns, "keep").String():         Skipped,
		"Secret/" + ns + "/flux-keep":     Skipped,
		cmID(ns, "released").String():     Skipped,
		cmID(ns, "already-gone").String(): Deleted,
		cmID(ns, "foreign").String():      Skipped,
	}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Errorf("prune (-want +got):\n%s", diff)
	}
	// Reverse order: the Namespace comes after every namespaced object.
	var order []string
	for _, c := range cs.Changes {
		order = append(order, c.ID.String())
	}
	if last := order[len(order)-1]; last != "Namespace/"+extra {
		t.Errorf("deletion order %v: want the Namespace last", order)
	}
	for name, wantExists := range map[string]bool{"ours": false, "keep": true, "released": true, "foreign": true} {
		if got := cmExists(t, ns, name); got != wantExists {
			t.Errorf("ConfigMap %s exists = %v, want %v", name, got, wantExists)
		}
	}
	if _, err := env.Client().CoreV1().Secrets(ns).Get(t.Context(), "flux-keep", metav1.GetOptions{}); err != nil {
		t.Errorf("Secret flux-keep: %v", err)
	}
	if nsObj, err := env.Client().CoreV1().Namespaces().Get(t.Context(), extra, metav1.GetOptions{}); err == nil && nsObj.DeletionTimestamp == nil {
		t.Errorf("Namespace %s not being deleted", extra)
	}

	// Pruning again: everything deleted is gone (Deleted again, so the
	// caller drops it), the rest is still kept.
	cs, err = e.Prune(t.Context(), stale, PruneOptions{Selector: labels})
	if err != nil || cs.Err() != nil {
		t.Fatalf("second prune: %v %v", err, cs.Err())
	}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Errorf("second prune (-want +got):\n%s", diff)
	}
}

func TestPruneStopsAfterFailedStage(t *testing.T) {
	// A tenant that may delete ConfigMaps but not Secrets in its namespace:
	// the Secret fails, so the Role (an earlier apply stage, a later prune
	// stage) is not attempted; the ConfigMap is deleted.
	ns := env.NewNamespace(t)
	labels := testLabels(ns)
	admin, _ := newEngine(t, nil)
	applied := mustApply(t, admin, objs(t, ns, `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
---
apiVersion: v1
kind: Secret
metadata:
  name: secret
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: stale-role
rules: []
`), Options{Labels: labels})
	if err := env.ApplyYAML(t.Context(), ns, `apiVersion: v1
kind: ServiceAccount
metadata:
  name: pruner
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pruner
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles]
  verbs: [get, list, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: pruner
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pruner}
subjects:
- kind: ServiceAccount
  name: pruner
  namespace: `+ns+`
`); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(t.Context(), ns, "pruner")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newEngine(t, cfg)
	var cs *ChangeSet
	// RBAC changes take a moment to reach the authorizer's cache.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs, err = e.Prune(t.Context(), applied.Targets(), PruneOptions{Selector: labels})
		if err != nil {
			t.Fatal(err)
		}
		if actions(cs)[cmID(ns, "cm").String()] == Deleted || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := actions(cs)
	want := map[string]Action{
		cmID(ns, "cm").String():                                Deleted,
		"Secret/" + ns + "/secret":                             Failed,
		"Role.rbac.authorization.k8s.io/" + ns + "/stale-role": Skipped,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("prune (-want +got):\n%s", diff)
	}
	err = cs.Err()
	if err == nil || !strings.HasPrefix(err.Error(), "Secret/"+ns+"/secret: delete:") || !errors.Is(err, ErrNotAttempted) {
		t.Errorf("Err() = %v", err)
	}
	if _, err := env.Client().RbacV1().Roles(ns).Get(t.Context(), "stale-role", metav1.GetOptions{}); err != nil {
		t.Errorf("Role deleted after a failed stage: %v", err)
	}
}

func TestPruneGoneResource(t *testing.T) {
	// A target whose resource is not served any more (its CRD was deleted)
	// is gone, not a failure.
	e, _ := newEngine(t, nil)
	gone := Target{ID: object.ID{Group: "nothing.example.com", Kind: "Nothing", Namespace: "default", Name: "x"},
		Version: "v1", Resource: "nothings", Namespaced: true}
	cs, err := e.Prune(t.Context(), []Target{gone}, PruneOptions{Selector: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Changes[0].Action; got != Deleted || cs.Err() != nil {
		t.Errorf("action %s, err %v; want Deleted", got, cs.Err())
	}
}
