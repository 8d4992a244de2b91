package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync/gitsync/pkg/object"
)

const mixed = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 0
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.invalid/web:1
`

func TestApplyCreateConfigureUnchanged(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}

	cs := mustApply(t, e, objs(t, ns, mixed), opts)
	want := map[string]Action{
		"ConfigMap/" + ns + "/settings":  Created,
		"Secret/" + ns + "/creds":        Created,
		"ServiceAccount/" + ns + "/app":  Created,
		"Service/" + ns + "/web":         Created,
		"Deployment.apps/" + ns + "/web": Created,
	}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Fatalf("first apply (-want +got):\n%s", diff)
	}
	for _, c := range cs.Changes {
		if len(c.Fingerprint) != 33 || c.Resource == "" || c.Version == "" || !c.Namespaced {
			t.Errorf("%s: incomplete target %+v", c.ID, c.Target)
		}
	}
	cm := getCM(t, ns, "settings")
	for k, v := range testLabels(ns) {
		if cm.GetLabels()[k] != v {
			t.Errorf("label %s = %q, want %q", k, cm.GetLabels()[k], v)
		}
	}
	// Let the deployment controller finish writing status, so the next
	// apply meets a quiet object.
	if err := e.Wait(t.Context(), cs.Targets(), WaitOptions{Timeout: 30 * time.Second, Selector: testLabels(ns)}); err != nil {
		t.Fatalf("Wait: %v", err)
	}

	again := mustApply(t, e, objs(t, ns, mixed), opts)
	for id := range want {
		want[id] = Unchanged
	}
	if diff := cmp.Diff(want, actions(again)); diff != "" {
		t.Fatalf("second apply (-want +got):\n%s", diff)
	}
	for i := range cs.Changes {
		if cs.Changes[i].Fingerprint != again.Changes[i].Fingerprint {
			t.Errorf("%s: fingerprint moved on a no-op apply: %s -> %s", cs.Changes[i].ID, cs.Changes[i].Fingerprint, again.Changes[i].Fingerprint)
		}
	}

	changed := strings.Replace(mixed, "color: blue", "color: green", 1)
	third := mustApply(t, e, objs(t, ns, changed), opts)
	want["ConfigMap/"+ns+"/settings"] = Configured
	if diff := cmp.Diff(want, actions(third)); diff != "" {
		t.Fatalf("third apply (-want +got):\n%s", diff)
	}
	if got, _, _ := unstructured.NestedString(getCM(t, ns, "settings").Object, "data", "color"); got != "green" {
		t.Errorf("data.color = %q, want green", got)
	}
}

func TestApplyUnchangedWhileSomeoneElseWrites(t *testing.T) {
	// A write by another manager between the listing and the apply moves
	// the resourceVersion; the action must still be Unchanged when
	// gitsync's own stamp is old.
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}
	in := objs(t, ns, configMaps(ns, 1, "v"))
	mustApply(t, e, in, opts)
	time.Sleep(2100 * time.Millisecond) // gitsync's managedFields stamp is now > clockSkew old
	cm := getCM(t, ns, "cm-00")
	cm.SetAnnotations(map[string]string{"someone": "else"})
	if err := update(t.Context(), cmGVR, cm, "other-controller"); err != nil {
		t.Fatal(err)
	}
	// Run the listing, then let the other writer write, then apply: emulate
	// by writing from a wrapping transport right after the LIST.
	cfg := env.Config()
	var wrote atomic.Bool
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return hookRT{next: rt, after: func(req *http.Request) {
			if req.Method == http.MethodGet && wrote.CompareAndSwap(false, true) {
				cm := getCM(t, ns, "cm-00")
				cm.SetAnnotations(map[string]string{"someone": "again"})
				if err := update(context.WithoutCancel(req.Context()), cmGVR, cm, "other-controller"); err != nil {
					t.Error(err)
				}
			}
		}}
	})
	e2, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := mustApply(t, e2, in, opts)
	if !wrote.Load() {
		t.Fatal("the hook did not write")
	}
	if got := cs.Changes[0].Action; got != Unchanged {
		t.Errorf("action = %s, want Unchanged", got)
	}
}

func TestApplySkipsRecordedObjects(t *testing.T) {
	ns := env.NewNamespace(t)
	e, requests := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}
	manifests := configMaps(ns, 10, "v")
	last := mustApply(t, e, objs(t, ns, manifests), opts)
	apply := func(t *testing.T, manifests string) (map[string]Action, []string) {
		t.Helper()
		opts := opts
		opts.Fingerprints = map[object.ID]string{}
		for _, c := range last.Changes {
			opts.Fingerprints[c.ID] = c.Fingerprint
		}
		requests.reset()
		last = mustApply(t, e, objs(t, ns, manifests), opts)
		var writes []string
		for _, r := range requests.requests() {
			if !strings.HasPrefix(r, "GET ") {
				writes = append(writes, r)
			}
		}
		return actions(last), writes
	}
	want := map[string]Action{}
	for i := range 10 {
		want[cmID(ns, fmt.Sprintf("cm-%02d", i)).String()] = Unchanged
	}

	got, writes := apply(t, manifests)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded and unchanged (-want +got):\n%s", diff)
	}
	if len(writes) != 0 {
		t.Errorf("recorded and unchanged objects were sent: %v", writes)
	}

	// Someone edits cm-03: its state no longer matches, so it is sent, and
	// the edit is reverted.
	cm := getCM(t, ns, "cm-03")
	_ = unstructured.SetNestedField(cm.Object, "edited", "data", "key")
	if err := update(t.Context(), cmGVR, cm, "kubectl-edit"); err != nil {
		t.Fatal(err)
	}
	got, writes = apply(t, manifests)
	want[cmID(ns, "cm-03").String()] = Configured
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after kubectl edit (-want +got):\n%s", diff)
	}
	if len(writes) != 1 || !strings.Contains(writes[0], "/cm-03?") {
		t.Errorf("writes %v, want one for cm-03", writes)
	}
	if v, _, _ := unstructured.NestedString(getCM(t, ns, "cm-03").Object, "data", "key"); v != "v" {
		t.Errorf("cm-03 data.key = %q, want the edit reverted", v)
	}

	// Git changes cm-05: only it is sent.
	changed := strings.Replace(manifests, "name: cm-05\ndata:\n  key: \"v\"", "name: cm-05\ndata:\n  key: \"w\"", 1)
	got, writes = apply(t, changed)
	want[cmID(ns, "cm-03").String()] = Unchanged
	want[cmID(ns, "cm-05").String()] = Configured
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after a change in Git (-want +got):\n%s", diff)
	}
	if len(writes) != 1 || !strings.Contains(writes[0], "/cm-05?") {
		t.Errorf("writes %v, want one for cm-05", writes)
	}

	// kubectl apply (client-side) adds a label to cm-07 without touching
	// gitsync's fields: the state matches, but a client-side-apply manager
	// is there to migrate, so it is sent and the label goes.
	cm = getCM(t, ns, "cm-07")
	cm.SetLabels(mergeMaps(cm.GetLabels(), map[string]string{"added": "by-kubectl"}))
	if err := update(t.Context(), cmGVR, cm, "kubectl-client-side-apply"); err != nil {
		t.Fatal(err)
	}
	got, _ = apply(t, changed)
	want[cmID(ns, "cm-05").String()] = Unchanged
	want[cmID(ns, "cm-07").String()] = Configured
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after kubectl apply (-want +got):\n%s", diff)
	}
	if _, ok := getCM(t, ns, "cm-07").GetLabels()["added"]; ok {
		t.Error("label added by kubectl apply survived")
	}
}

func TestApplyCRDAndCustomResource(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	group := strings.ReplaceAll(ns, "-", "") + ".example.com"
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + group + `
spec:
  group: ` + group + `
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: ` + group + `/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
---
apiVersion: v1
kind: Namespace
metadata:
  name: ` + ns + `-extra
---
apiVersion: ` + group + `/v1
kind: Widget
metadata:
  name: w2
  namespace: ` + ns + `-extra
spec:
  size: 4
`
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.Client().CoreV1().Namespaces().Delete(ctx, ns+"-extra", metav1.DeleteOptions{})
		_ = env.Dynamic().Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
			Delete(ctx, "widgets."+group, metav1.DeleteOptions{})
	})
	opts := Options{Labels: testLabels(ns)}
	cs := mustApply(t, e, objs(t, ns, crd), opts)
	want := map[string]Action{
		"CustomResourceDefinition.apiextensions.k8s.io/widgets." + group: Created,
		"Widget." + group + "/" + ns + "/w1":                             Created,
		"Namespace/" + ns + "-extra":                                     Created,
		"Widget." + group + "/" + ns + "-extra/w2":                       Created,
	}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Fatalf("apply (-want +got):\n%s", diff)
	}
	for _, c := range cs.Changes {
		if c.Kind == "Widget" && (c.Resource != "widgets" || !c.Namespaced || c.Version != "v1") {
			t.Errorf("%s: target %+v", c.ID, c.Target)
		}
	}
	again := mustApply(t, e, objs(t, ns, crd), opts)
	for id := range want {
		want[id] = Unchanged
	}
	if diff := cmp.Diff(want, actions(again)); diff != "" {
		t.Fatalf("second apply (-want +got):\n%s", diff)
	}
}

func TestApplyTakesOverConflictingField(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	// "test" (the harness's manager) owns data.color.
	if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  color: red\n  size: big\n"); err != nil {
		t.Fatal(err)
	}
	cs := mustApply(t, e, objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  color: blue\n"), Options{Labels: testLabels(ns)})
	if got := cs.Changes[0].Action; got != Configured {
		t.Errorf("action = %s, want Configured", got)
	}
	cm := getCM(t, ns, "shared")
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if diff := cmp.Diff(map[string]string{"color": "blue", "size": "big"}, data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	owners := map[string]string{}
	for _, mf := range cm.GetManagedFields() {
		if strings.Contains(mf.FieldsV1.GetRawString(), `"f:color"`) {
			owners["color"] += mf.Manager
		}
		if strings.Contains(mf.FieldsV1.GetRawString(), `"f:size"`) {
			owners["size"] += mf.Manager
		}
	}
	if diff := cmp.Diff(map[string]string{"color": "gitsync", "size": "test"}, owners); diff != "" {
		t.Errorf("field owners (-want +got):\n%s", diff)
	}
}

// createCSA creates a ConfigMap the way `kubectl apply` (client-side) does:
// a create by manager kubectl-client-side-apply, carrying the
// last-applied-configuration annotation.
func createCSA(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `"}}`,
		}},
		Data: map[string]string{"color": "red", "legacy": "yes"},
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		t.Fatal(err)
	}
}

func TestApplyMigratesClientSideApply(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	createCSA(t, ns, "legacy", map[string]string{"remove-me": "true", "keep": "yes"})
	in := objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  labels:\n    keep: \"yes\"\ndata:\n  color: red\n")
	cs := mustApply(t, e, in, Options{Labels: testLabels(ns)})
	if got := cs.Changes[0].Action; got != Configured {
		t.Errorf("action = %s, want Configured", got)
	}
	cm := getCM(t, ns, "legacy")
	if _, ok := cm.GetLabels()["remove-me"]; ok {
		t.Errorf("label remove-me survived: %v", cm.GetLabels())
	}
	if cm.GetLabels()["keep"] != "yes" {
		t.Errorf("label keep lost: %v", cm.GetLabels())
	}
	if _, ok := cm.GetAnnotations()[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied-configuration annotation survived")
	}
	if _, ok, _ := unstructured.NestedString(cm.Object, "data", "legacy"); ok {
		t.Error("data.legacy survived")
	}
	for _, mf := range cm.GetManagedFields() {
		if mf.Manager != DefaultFieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("managedFields has %s/%s; want only gitsync's Apply entry", mf.Manager, mf.Operation)
		}
	}
	// The fingerprint is that of the final object.
	if fp := stateOf(cmMeta(cm), DefaultFieldManager); fp != stateOfFingerprint(cs.Changes[0].Fingerprint) {
		t.Errorf("fingerprint %s, live %s", cs.Changes[0].Fingerprint, fp)
	}

	t.Run("before-first-apply", func(t *testing.T) {
		// An object without managedFields (written before server-side apply
		// tracked fields, or stripped): the first apply files its fields
		// under before-first-apply, which is migrated too.
		if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n  labels:\n    stale: \"yes\"\ndata:\n  color: red\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(t.Context(), "old", types.MergePatchType,
			[]byte(`{"metadata":{"managedFields":[{}]}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if mf := getCM(t, ns, "old").GetManagedFields(); len(mf) != 0 {
			t.Fatalf("managedFields not stripped: %v", mf)
		}
		mustApply(t, e, objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\ndata:\n  color: red\n"), Options{Labels: testLabels(ns)})
		if _, ok := getCM(t, ns, "old").GetLabels()["stale"]; ok {
			t.Error("label from before the first apply survived")
		}
	})

	t.Run("Merge keeps kubectl's fields", func(t *testing.T) {
		createCSA(t, ns, "merged", map[string]string{"added-by-kubectl": "true"})
		in := objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: merged\n  annotations:\n    gitsync.io/ssa: Merge\ndata:\n  color: blue\n")
		mustApply(t, e, in, Options{Labels: testLabels(ns)})
		cm := getCM(t, ns, "merged")
		if cm.GetLabels()["added-by-kubectl"] != "true" {
			t.Errorf("Merge dropped kubectl's label: %v", cm.GetLabels())
		}
		if got, _, _ := unstructured.NestedString(cm.Object, "data", "color"); got != "blue" {
			t.Errorf("data.color = %q, want blue (fields in Git are still enforced)", got)
		}
	})
}

func cmMeta(u *unstructured.Unstructured) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		UID: u.GetUID(), Annotations: u.GetAnnotations(), ManagedFields: u.GetManagedFields()}}
}

func TestApplyImmutable(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}
	v1 := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  v: \"1\"\n"
	v2 := strings.Replace(v1, `v: "1"`, `v: "2"`, 1)
	mustApply(t, e, objs(t, ns, v1), opts)
	uid := getCM(t, ns, "frozen").GetUID()

	cs, err := e.Apply(t.Context(), objs(t, ns, v2), opts)
	if err != nil {
		t.Fatal(err)
	}
	c := cs.Changes[0]
	if c.Action != Failed || c.Err == nil || !strings.HasPrefix(c.Err.Error(), "ConfigMap/"+ns+"/frozen: immutable field changed") {
		t.Fatalf("without force: action %s, err %v; want Failed naming the object and the immutable field", c.Action, c.Err)
	}
	if getCM(t, ns, "frozen").GetUID() != uid {
		t.Fatal("object was replaced without force")
	}

	withForce := opts
	withForce.Force = true
	cs = mustApply(t, e, objs(t, ns, v2), withForce)
	if got := cs.Changes[0].Action; got != Replaced {
		t.Errorf("with force: action %s, want Replaced", got)
	}
	cm := getCM(t, ns, "frozen")
	if cm.GetUID() == uid {
		t.Error("with force: same UID, not recreated")
	}
	if got, _, _ := unstructured.NestedString(cm.Object, "data", "v"); got != "2" {
		t.Errorf("with force: data.v = %q, want 2", got)
	}

	t.Run("force annotation on a Job", func(t *testing.T) {
		job := func(image string) string {
			return `apiVersion: batch/v1
kind: Job
metadata:
  name: once
  annotations:
    kustomize.toolkit.fluxcd.io/force: Enabled
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: ` + image + `
`
		}
		mustApply(t, e, objs(t, ns, job("example.invalid/a:1")), opts)
		cs := mustApply(t, e, objs(t, ns, job("example.invalid/a:2")), opts)
		if got := cs.Changes[0].Action; got != Replaced {
			t.Errorf("action %s, want Replaced", got)
		}
		j, err := env.Client().BatchV1().Jobs(ns).Get(t.Context(), "once", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := j.Spec.Template.Spec.Containers[0].Image; got != "example.invalid/a:2" {
			t.Errorf("image %s, want example.invalid/a:2", got)
		}
	})

	t.Run("not ours is not replaced", func(t *testing.T) {
		if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foreign\nimmutable: true\ndata:\n  v: \"1\"\n"); err != nil {
			t.Fatal(err)
		}
		before := getCM(t, ns, "foreign").GetUID()
		in := objs(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foreign\nimmutable: true\ndata:\n  v: \"2\"\n")
		cs, err := e.Apply(t.Context(), in, withForce)
		if err != nil {
			t.Fatal(err)
		}
		if c := cs.Changes[0]; c.Action != Failed || !strings.Contains(c.Err.Error(), "does not carry this sync's labels") {
			t.Errorf("action %s, err %v; want Failed, not ours", c.Action, c.Err)
		}
		if getCM(t, ns, "foreign").GetUID() != before {
			t.Error("a foreign object was replaced")
		}
	})
}

func TestApplyAnnotations(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns)}
	cm := func(name, annotation, value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  annotations:\n    " + annotation +
			"\ndata:\n  v: \"" + value + "\"\n"
	}
	in := objs(t, ns, cm("disabled", "gitsync.io/reconcile: disabled", "1")+"---\n"+
		cm("ignored", "kustomize.toolkit.fluxcd.io/ssa: Ignore", "1")+"---\n"+
		cm("once", "gitsync.io/ssa: IfNotPresent", "1")+"---\n"+
		cm("typo", "gitsync.io/ssa: Sometimes", "1")+"---\n"+
		cm("paused", "note: hello", "1"))
	cs, err := e.Apply(t.Context(), in, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Action{
		cmID(ns, "disabled").String(): Skipped,
		cmID(ns, "ignored").String():  Skipped,
		cmID(ns, "once").String():     Created,
		cmID(ns, "typo").String():     Failed,
		cmID(ns, "paused").String():   Created,
	}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Fatalf("apply (-want +got):\n%s\n%v", diff, cs.Err())
	}
	if err := cs.Err(); err == nil || !strings.Contains(err.Error(), cmID(ns, "typo").String()+": annotation gitsync.io/ssa") {
		t.Errorf("Err() = %v, want the typo named", err)
	}
	for _, name := range []string{"disabled", "ignored"} {
		if cmExists(t, ns, name) {
			t.Errorf("%s was created", name)
		}
	}
	onceFP := cs.Changes[2].Fingerprint
	if onceFP == "" {
		t.Error("IfNotPresent object created without a fingerprint")
	}

	// Pause "paused" from the cluster side.
	live := getCM(t, ns, "paused")
	live.SetLabels(mergeMaps(live.GetLabels(), map[string]string{"gitsync.io/reconcile": "disabled"}))
	if err := update(t.Context(), cmGVR, live, "kubectl-label"); err != nil {
		t.Fatal(err)
	}
	in = objs(t, ns, cm("once", "gitsync.io/ssa: IfNotPresent", "2")+"---\n"+cm("paused", "note: hello", "2"))
	cs = mustApply(t, e, in, opts)
	want = map[string]Action{cmID(ns, "once").String(): Skipped, cmID(ns, "paused").String(): Skipped}
	if diff := cmp.Diff(want, actions(cs)); diff != "" {
		t.Fatalf("second apply (-want +got):\n%s", diff)
	}
	if cs.Changes[0].Fingerprint != onceFP {
		t.Errorf("IfNotPresent fingerprint moved: %s -> %s", onceFP, cs.Changes[0].Fingerprint)
	}
	for _, name := range []string{"once", "paused"} {
		if got, _, _ := unstructured.NestedString(getCM(t, ns, name).Object, "data", "v"); got != "1" {
			t.Errorf("%s: data.v = %q, want 1 (not updated)", name, got)
		}
	}

	// IfNotPresent recreates a deleted object.
	if err := env.Client().CoreV1().ConfigMaps(ns).Delete(t.Context(), "once", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cs = mustApply(t, e, in[:1], opts)
	if got := cs.Changes[0].Action; got != Created {
		t.Errorf("IfNotPresent after delete: %s, want Created", got)
	}

	// IfNotPresent on an existing object that is not ours: left alone.
	if err := env.ApplyYAML(t.Context(), ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\ndata:\n  v: \"0\"\n"); err != nil {
		t.Fatal(err)
	}
	cs = mustApply(t, e, objs(t, ns, cm("theirs", "gitsync.io/ssa: IfNotPresent", "9")), opts)
	if c := cs.Changes[0]; c.Action != Skipped || c.Fingerprint != "" {
		t.Errorf("IfNotPresent on a foreign object: %s %q, want Skipped without fingerprint", c.Action, c.Fingerprint)
	}
	if _, ok := getCM(t, ns, "theirs").GetLabels()["gitsync.io/sync-name"]; ok {
		t.Error("IfNotPresent labelled a foreign object")
	}
}

func mergeMaps(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestApplyStagesStopAfterFailure(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	// A ClusterRole (stage 1) the API server rejects: a rule without verbs.
	in := objs(t, ns, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: `+ns+`-broken
rules:
- apiGroups: [""]
  resources: [configmaps]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: later
data:
  v: "1"
`)
	cs, err := e.Apply(t.Context(), in, Options{Labels: testLabels(ns)})
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Changes[0].Action; got != Failed {
		t.Fatalf("ClusterRole: %s, want Failed", got)
	}
	later := cs.Changes[1]
	if later.Action != Skipped || !errors.Is(later.Err, ErrNotAttempted) {
		t.Errorf("ConfigMap: %s %v, want Skipped, not attempted", later.Action, later.Err)
	}
	if cmExists(t, ns, "later") {
		t.Error("a later stage ran after a failed one")
	}
	if err := cs.Err(); err == nil || !strings.HasPrefix(err.Error(), "ClusterRole.rbac.authorization.k8s.io/"+ns+"-broken: apply:") {
		t.Errorf("Err() = %v", err)
	}
}

func TestApplyDryRun(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	opts := Options{Labels: testLabels(ns), DryRun: true}
	in := objs(t, ns, configMaps(ns, 2, "a"))
	cs := mustApply(t, e, in, opts)
	if diff := cmp.Diff(map[string]Action{cmID(ns, "cm-00").String(): Created, cmID(ns, "cm-01").String(): Created}, actions(cs)); diff != "" {
		t.Errorf("dry run on empty (-want +got):\n%s", diff)
	}
	if cmExists(t, ns, "cm-00") {
		t.Fatal("dry run created an object")
	}
	if cs.Changes[0].After == nil || cs.Changes[0].Before != nil {
		t.Errorf("dry run create: Before %v, After %v", cs.Changes[0].Before, cs.Changes[0].After)
	}
	mustApply(t, e, in, Options{Labels: testLabels(ns)})
	changed := objs(t, ns, configMaps(ns, 2, "a"))
	changed[1].Object["data"] = map[string]any{"key": "b"}
	cs = mustApply(t, e, changed, opts)
	if diff := cmp.Diff(map[string]Action{cmID(ns, "cm-00").String(): Unchanged, cmID(ns, "cm-01").String(): Configured}, actions(cs)); diff != "" {
		t.Errorf("dry run on existing (-want +got):\n%s", diff)
	}
	if got, _, _ := unstructured.NestedString(cs.Changes[1].After.Object, "data", "key"); got != "b" {
		t.Errorf("After data.key = %q, want b", got)
	}
	if got, _, _ := unstructured.NestedString(getCM(t, ns, "cm-01").Object, "data", "key"); got != "a" {
		t.Errorf("dry run changed the live object: data.key = %q", got)
	}

	t.Run("new namespace and kind", func(t *testing.T) {
		group := strings.ReplaceAll(ns, "-", "") + ".example.com"
		in := objs(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: `+ns+`-new
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: in-new
  namespace: `+ns+`-new
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.`+group+`
spec:
  group: `+group+`
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: `+group+`/v1
kind: Gadget
metadata:
  name: g
`)
		begin := time.Now()
		cs := mustApply(t, e, in, opts)
		for _, c := range cs.Changes {
			if c.Action != Created {
				t.Errorf("%s: %s, want Created", c.ID, c.Action)
			}
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("dry run took %s", took)
		}
		if _, err := env.Client().CoreV1().Namespaces().Get(t.Context(), ns+"-new", metav1.GetOptions{}); err == nil {
			t.Error("dry run created a namespace")
		}
	})
}

func TestApplyTenant(t *testing.T) {
	// A ServiceAccount that may do anything in its namespace, nothing
	// outside: cluster-wide listings are forbidden and fall back to the
	// namespace.
	ns := env.NewNamespace(t)
	if err := env.ApplyYAML(t.Context(), ns, `apiVersion: v1
kind: ServiceAccount
metadata:
  name: tenant
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: tenant-admin
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects:
- kind: ServiceAccount
  name: tenant
  namespace: `+ns+`
`); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(t.Context(), ns, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newEngine(t, cfg)
	opts := Options{Labels: testLabels(ns)}
	in := objs(t, ns, configMaps(ns, 3, "a")+`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- kind: ServiceAccount
  name: default
  namespace: `+ns+`
`)
	cs := mustApply(t, e, in, opts)
	for _, c := range cs.Changes {
		if c.Action != Created {
			t.Errorf("%s: %s, want Created", c.ID, c.Action)
		}
	}
	cs = mustApply(t, e, in, opts)
	for _, c := range cs.Changes {
		if c.Action != Unchanged {
			t.Errorf("second apply: %s: %s, want Unchanged", c.ID, c.Action)
		}
	}
	drifted, err := e.Drift(t.Context(), cs.Targets(), DriftOptions{Selector: testLabels(ns), PerNamespace: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(drifted) != 0 {
		t.Errorf("drift right after apply: %v", drifted)
	}
}

// hookRT calls after once a request has been answered.
type hookRT struct {
	next  http.RoundTripper
	after func(*http.Request)
}

func (h hookRT) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err == nil && strings.Contains(req.Header.Get("Accept"), "PartialObjectMetadataList") {
		h.after(req)
	}
	return resp, err
}
