package apply

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestParsePointer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "/spec/replicas", want: []string{"spec", "replicas"}},
		{in: "/metadata/annotations/example.com~1hash", want: []string{"metadata", "annotations", "example.com/hash"}},
		{in: "/a~0b/~01", want: []string{"a~b", "~1"}},
		{in: "/", want: []string{""}},
		{in: "", err: "whole object"},
		{in: "spec/replicas", err: "must start with /"},
		{in: "/a~2", err: "~ must be followed by 0 or 1"},
		{in: "/a~", err: "~ must be followed by 0 or 1"},
	} {
		got, err := ParsePointer(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePointer(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParsePointer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestIgnoreRuleCheck(t *testing.T) {
	r := IgnoreRule{Paths: []string{"/spec/replicas", "spec"}, Target: &IgnoreTarget{Kind: "Deploy(", LabelSelector: "a in (b"}}
	var got []string
	for _, e := range r.Check() {
		got = append(got, e.Field)
	}
	if diff := cmp.Diff([]string{"paths[1]", "target.kind", "target.labelSelector"}, got); diff != "" {
		t.Errorf("Check fields (-want +got):\n%s", diff)
	}
	if errs := (IgnoreRule{}).Check(); len(errs) != 1 || errs[0].Field != "paths" {
		t.Errorf("Check of a rule without paths: %v", errs)
	}
	if errs := (IgnoreRule{Paths: []string{"/x"}, Target: &IgnoreTarget{Kind: "Deployment|StatefulSet", AnnotationSelector: "a=b"}}).Check(); len(errs) != 0 {
		t.Errorf("Check of a valid rule: %v", errs)
	}
}

func TestIgnoreRuleSelects(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apps/v1")
	u.SetKind("Deployment")
	u.SetName("web-1")
	u.SetLabels(map[string]string{"app": "web"})
	u.SetAnnotations(map[string]string{"team": "blue"})
	for _, tc := range []struct {
		target *IgnoreTarget
		want   bool
	}{
		{nil, true},
		{&IgnoreTarget{Kind: "Deployment"}, true},
		{&IgnoreTarget{Kind: "Deploy"}, false}, // anchored
		{&IgnoreTarget{Group: "apps", Version: "v1", Name: "web-.*", Namespace: "ns"}, true},
		{&IgnoreTarget{Group: ""}, true},
		{&IgnoreTarget{Group: "^$"}, false},
		{&IgnoreTarget{Namespace: "other"}, false},
		{&IgnoreTarget{LabelSelector: "app=web"}, true},
		{&IgnoreTarget{LabelSelector: "app=db"}, false},
		{&IgnoreTarget{AnnotationSelector: "team in (blue,red)"}, true},
		{&IgnoreTarget{AnnotationSelector: "team=red"}, false},
	} {
		rules, err := compileIgnore([]IgnoreRule{{Paths: []string{"/spec/replicas"}, Target: tc.target}})
		if err != nil {
			t.Fatal(err)
		}
		if got := rules[0].selects(u.GroupVersionKind(), u, "ns"); got != tc.want {
			t.Errorf("target %+v selects: %v, want %v", tc.target, got, tc.want)
		}
	}
}

// TestLeaveIgnored checks what leaveIgnored sends, for field sets as the
// API server writes them.
func TestLeaveIgnored(t *testing.T) {
	const body = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","labels":{"own":"x"},` +
		`"annotations":{"a":"1","b":"2"}},"spec":{"replicas":2,"template":{"spec":{"containers":[` +
		`{"name":"c","image":"i:1","args":["x"]},{"name":"d","image":"j:1"}]}}}}`
	entry := func(fields string) []metav1.ManagedFieldsEntry {
		return []metav1.ManagedFieldsEntry{{Manager: "gitsync", Operation: metav1.ManagedFieldsOperationApply,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}}
	}
	const all = `{"f:metadata":{"f:labels":{"f:own":{}},"f:annotations":{"f:a":{},"f:b":{}}},"f:spec":{"f:replicas":{},` +
		`"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:name":{},"f:image":{},"f:args":{}},` +
		`"k:{\"name\":\"d\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`
	const taken = `{"f:metadata":{"f:labels":{"f:own":{}},"f:annotations":{"f:b":{}}},"f:spec":{` +
		`"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:name":{},"f:args":{}},` +
		`"k:{\"name\":\"d\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`
	for _, tc := range []struct {
		name, fields string
		pointers     []string
		want         string // the body's changes, as "-path" for each removed field; "" for none
	}{
		{"owned fields stay", all, []string{"/spec/replicas", "/metadata/annotations/a", "/spec/template/spec/containers/0/image"}, ""},
		{"taken fields go", taken, []string{"/spec/replicas", "/metadata/annotations/a"}, "-spec.replicas -metadata.annotations.a"},
		{"list element by index", taken, []string{"/spec/template/spec/containers/0/image", "/spec/template/spec/containers/1/image"},
			"-spec.template.spec.containers[0].image"},
		{"a map: only what gitsync still owns", taken, []string{"/metadata/annotations"}, "-metadata.annotations.a"},
		{"no entry: everything under the path goes", "", []string{"/spec"}, "-spec"},
		{"labels of the sync stay", "", []string{"/metadata/labels"}, ""},
		{"pointers to nothing", taken, []string{"/spec/missing", "/spec/replicas/x", "/spec/template/spec/containers/7", "/spec/template/spec/containers/-"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var live []metav1.ManagedFieldsEntry
			if tc.fields != "" {
				live = entry(tc.fields)
			}
			out, err := leaveIgnored([]byte(body), live, "gitsync", parsePointers(t, tc.pointers), map[string]string{"own": "x"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, removed(t, body, string(out))); diff != "" {
				t.Errorf("removed fields (-want +got):\n%s\nbody: %s", diff, out)
			}
		})
	}
}

func TestFieldsWithout(t *testing.T) {
	const fields = `{"f:metadata":{"f:annotations":{"f:a":{},"f:b":{}}},"f:spec":{"f:replicas":{},"f:args":{},` +
		`"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}},"f:ports":{"i:0":{"f:port":{}}}}}`
	for _, tc := range []struct {
		pointers []string
		want     string
	}{
		{nil, fields},
		{[]string{"/spec/replicas"}, strings.Replace(fields, `"f:replicas":{},`, "", 1)},
		{[]string{"/metadata/annotations"}, strings.Replace(fields, `"f:metadata":{"f:annotations":{"f:a":{},"f:b":{}}},`, "", 1)},
		{[]string{"/metadata/annotations/a", "/spec/missing"}, strings.Replace(fields, `"f:a":{},`, "", 1)},
		{[]string{"/spec/ports/0/port"}, strings.Replace(fields, `,"f:ports":{"i:0":{"f:port":{}}}`, "", 1)},
		// An element keyed by its fields cannot be told by index: kept.
		{[]string{"/spec/containers/0/image"}, fields},
	} {
		if diff := cmp.Diff(string(canonicalFields([]byte(tc.want))), string(fieldsWithout([]byte(fields), parsePointers(t, tc.pointers)))); diff != "" {
			t.Errorf("without %v (-want +got):\n%s", tc.pointers, diff)
		}
	}
}

// removed lists the leaf paths of before that after lacks.
func removed(t *testing.T, before, after string) string {
	t.Helper()
	b, a := &unstructured.Unstructured{}, &unstructured.Unstructured{}
	if err := b.UnmarshalJSON([]byte(before)); err != nil {
		t.Fatal(err)
	}
	if err := a.UnmarshalJSON([]byte(after)); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(b, a any, path string)
	walk = func(b, a any, path string) {
		switch bv := b.(type) {
		case map[string]any:
			am, _ := a.(map[string]any)
			for k, v := range bv {
				p := strings.TrimPrefix(path+"."+k, ".")
				av, ok := am[k]
				if !ok {
					out = append(out, "-"+p)
					continue
				}
				walk(v, av, p)
			}
		case []any:
			al, _ := a.([]any)
			for i, v := range bv {
				p := fmt.Sprintf("%s[%d]", path, i)
				if i >= len(al) {
					out = append(out, "-"+p)
					continue
				}
				walk(v, al[i], p)
			}
		}
	}
	walk(b.Object, a.Object, "")
	slices.Sort(out)
	slices.Reverse(out)
	return strings.Join(out, " ")
}

// parsePointers parses JSON pointers, failing the test on an invalid one.
func parsePointers(t *testing.T, pointers []string) [][]string {
	t.Helper()
	var out [][]string
	for _, p := range pointers {
		tokens, err := ParsePointer(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tokens)
	}
	return out
}

// deploymentYAML is a Deployment (with an annotation) of one container.
func deploymentYAML(name string, replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  annotations: {keep: "1"}
spec:
  replicas: %d
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      containers:
      - name: c
        image: %s
`, name, replicas, name, name, image)
}

var deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func liveDeployment(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := env.Dynamic().Resource(deployGVR).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// editDeployment changes the live Deployment with edit and writes it with
// a plain Update as kubectl edit does, again when the controller wrote in
// between.
func editDeployment(t *testing.T, ns, name string, edit func(*unstructured.Unstructured)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := liveDeployment(t, ns, name)
		edit(u)
		return update(t.Context(), deployGVR, u, "kubectl-edit")
	})
	if err != nil {
		t.Fatal(err)
	}
}

func replicasOf(t *testing.T, ns, name string) int64 {
	t.Helper()
	n, _, _ := unstructured.NestedInt64(liveDeployment(t, ns, name).Object, "spec", "replicas")
	return n
}

// settled waits until the Deployment's controller stopped writing its
// status (the resourceVersion stays the same for 300 ms): an apply whose
// action is asserted right after creation could otherwise see the object
// changed under it, within a second of its own last apply, and report
// Configured (classify).
func settled(t *testing.T, ns, name string) {
	t.Helper()
	last, still := "", 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rv := liveDeployment(t, ns, name).GetResourceVersion()
		if rv == last {
			if still++; still == 3 {
				return
			}
			continue
		}
		last, still = rv, 0
	}
	t.Fatalf("Deployment %s/%s: still written after 10 s", ns, name)
}

// scale sets replicas through the scale subresource, as an autoscaler does.
func scale(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
	if _, err := env.Client().AppsV1().Deployments(ns).UpdateScale(t.Context(), name, s, metav1.UpdateOptions{FieldManager: "autoscaler"}); err != nil {
		t.Fatal(err)
	}
}

// TestIgnoreRules runs the autoscaler case against the API server: an
// ignored field someone else took stays theirs and is no drift, while the
// same change on an object the rule does not select is corrected.
func TestIgnoreRules(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	labels := testLabels(ns)
	manifests := deploymentYAML("web", 2, "example.invalid/x:1") + "---\n" + deploymentYAML("other", 2, "example.invalid/x:1")
	rules := []IgnoreRule{{Paths: []string{"/spec/replicas"}, Target: &IgnoreTarget{Kind: "Deployment", Name: "web"}}}
	opts := Options{Labels: labels, Ignore: rules}
	cs := mustApply(t, e, objs(t, ns, manifests), opts)
	if diff := cmp.Diff(map[string]Action{"Deployment.apps/" + ns + "/web": Created, "Deployment.apps/" + ns + "/other": Created}, actions(cs)); diff != "" {
		t.Fatalf("first apply (-want +got):\n%s", diff)
	}
	if got := replicasOf(t, ns, "web"); got != 2 {
		t.Fatalf("created with replicas %d, want 2: a new object gets all its fields", got)
	}
	drift := func(recorded []Target) []object.ID {
		t.Helper()
		cacheCaughtUp(t, recorded)
		got, err := e.Drift(t.Context(), recorded, DriftOptions{Selector: labels, Ignore: rules})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	webID := object.ID{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "web"}
	otherID := object.ID{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "other"}
	// The fingerprint of web leaves spec.replicas out although gitsync
	// owns it: the check must leave it out as well.
	if got := drift(cs.Targets()); len(got) != 0 {
		t.Errorf("drift right after the first apply: %v", got)
	}
	if got, err := e.Drift(t.Context(), cs.Targets(), DriftOptions{Selector: labels}); err != nil || !slices.Equal(got, []object.ID{webID}) {
		t.Errorf("drift without the rules: %v %v, want web (its fingerprint leaves out what gitsync owns)", got, err)
	}
	scale(t, ns, "web", 5)
	scale(t, ns, "other", 5)
	// Only the Deployment the rule does not select drifted: the
	// fingerprints leave the ignored field out.
	if diff := cmp.Diff([]object.ID{otherID}, drift(cs.Targets())); diff != "" {
		t.Fatalf("drift after scaling (-want +got):\n%s", diff)
	}
	cs = mustApply(t, e, objs(t, ns, manifests), opts)
	if got := replicasOf(t, ns, "web"); got != 5 {
		t.Errorf("web: replicas %d after the correction, want the autoscaler's 5", got)
	}
	if got := replicasOf(t, ns, "other"); got != 2 {
		t.Errorf("other (not selected by the rule): replicas %d after the correction, want 2", got)
	}
	if got := drift(cs.Targets()); len(got) != 0 {
		t.Errorf("drift right after the correction: %v", got)
	}
	// The autoscaler keeps scaling: not drift any more.
	scale(t, ns, "web", 7)
	if got := drift(cs.Targets()); len(got) != 0 {
		t.Errorf("drift after the autoscaler scaled again: %v", got)
	}
	// A change of a field the rule does not name still is.
	editDeployment(t, ns, "web", func(web *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(web.Object, "edited", "metadata", "annotations", "keep"); err != nil {
			t.Fatal(err)
		}
	})
	if diff := cmp.Diff([]object.ID{webID}, drift(cs.Targets())); diff != "" {
		t.Errorf("drift after editing another field (-want +got):\n%s", diff)
	}
	mustApply(t, e, objs(t, ns, manifests), opts)
	web := liveDeployment(t, ns, "web")
	if got, _, _ := unstructured.NestedString(web.Object, "metadata", "annotations", "keep"); got != "1" {
		t.Errorf("annotation keep = %q after the correction, want 1", got)
	}
	if got := replicasOf(t, ns, "web"); got != 7 {
		t.Errorf("web: replicas %d, want the autoscaler's 7", got)
	}

	// Without the rule (a new spec, so an apply), gitsync takes the field
	// back.
	cs = mustApply(t, e, objs(t, ns, manifests), Options{Labels: labels})
	if got := replicasOf(t, ns, "web"); got != 2 {
		t.Errorf("web: replicas %d once the rule is gone, want 2", got)
	}
	if got, err := e.Drift(t.Context(), cs.Targets(), DriftOptions{Selector: labels}); err != nil || len(got) != 0 {
		t.Errorf("drift after the rule is gone: %v %v", got, err)
	}

	// ApplyIgnored (a HelmRelease's upgrade) sends the ignored fields
	// too, and the fingerprint still leaves them out.
	cs = mustApply(t, e, objs(t, ns, manifests), opts)
	scale(t, ns, "web", 9)
	if got := drift(cs.Targets()); len(got) != 0 {
		t.Errorf("drift after scaling web again: %v", got)
	}
	cs = mustApply(t, e, objs(t, ns, manifests), Options{Labels: labels, Ignore: rules, ApplyIgnored: true})
	if got := replicasOf(t, ns, "web"); got != 2 {
		t.Errorf("web: replicas %d after an apply with ApplyIgnored, want 2", got)
	}
	scale(t, ns, "web", 4)
	if got := drift(cs.Targets()); len(got) != 0 {
		t.Errorf("drift after scaling web once more: %v", got)
	}
}

// TestIgnoreRulesKeepOwnedFields: a rule added for a field gitsync still
// owns must not delete it (server-side apply removes a field its only
// owner stops sending); a change in Git still reaches it.
func TestIgnoreRulesKeepOwnedFields(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	labels := testLabels(ns)
	mustApply(t, e, objs(t, ns, deploymentYAML("web", 2, "example.invalid/x:1")), Options{Labels: labels})
	settled(t, ns, "web")
	rules := []IgnoreRule{{Paths: []string{"/spec/replicas", "/spec/template/spec/containers/0/image"}}}
	cs := mustApply(t, e, objs(t, ns, deploymentYAML("web", 2, "example.invalid/x:1")), Options{Labels: labels, Ignore: rules})
	if got := actions(cs)["Deployment.apps/"+ns+"/web"]; got != Unchanged {
		t.Errorf("adding the rule: %s, want Unchanged", got)
	}
	if got := replicasOf(t, ns, "web"); got != 2 {
		t.Fatalf("replicas %d after adding the rule, want 2", got)
	}
	mustApply(t, e, objs(t, ns, deploymentYAML("web", 3, "example.invalid/x:2")), Options{Labels: labels, Ignore: rules})
	if got := replicasOf(t, ns, "web"); got != 3 {
		t.Errorf("replicas %d after Git changed it to 3, want 3 (nobody else owns it)", got)
	}

	// Someone edits the image (by index path) and scales: both stay, and
	// neither is drift once the correction ran.
	editDeployment(t, ns, "web", func(web *unstructured.Unstructured) {
		containers, _, _ := unstructured.NestedSlice(web.Object, "spec", "template", "spec", "containers")
		containers[0].(map[string]any)["image"] = "example.invalid/x:hotfix"
		if err := unstructured.SetNestedSlice(web.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			t.Fatal(err)
		}
	})
	scale(t, ns, "web", 4)
	cs = mustApply(t, e, objs(t, ns, deploymentYAML("web", 3, "example.invalid/x:2")), Options{Labels: labels, Ignore: rules})
	web := liveDeployment(t, ns, "web")
	containers, _, _ := unstructured.NestedSlice(web.Object, "spec", "template", "spec", "containers")
	if got := containers[0].(map[string]any)["image"]; got != "example.invalid/x:hotfix" {
		t.Errorf("image %v after the correction, want the edited one", got)
	}
	if got := replicasOf(t, ns, "web"); got != 4 {
		t.Errorf("replicas %d after the correction, want 4", got)
	}
	got, err := e.Drift(t.Context(), cs.Targets(), DriftOptions{Selector: labels, Ignore: rules})
	if err != nil || len(got) != 0 {
		t.Errorf("drift after the correction: %v %v", got, err)
	}
}

// TestIgnoreRulesAnnotation: a rule for one annotation leaves that one to
// the operator that rewrites it and corrects the others.
func TestIgnoreRulesAnnotation(t *testing.T) {
	ns := env.NewNamespace(t)
	e, _ := newEngine(t, nil)
	labels := testLabels(ns)
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  annotations: {hash: a, team: a}\ndata: {k: v}\n"
	rules := []IgnoreRule{{Paths: []string{"/metadata/annotations/hash"}, Target: &IgnoreTarget{Kind: "ConfigMap"}}}
	cs := mustApply(t, e, objs(t, ns, cm), Options{Labels: labels, Ignore: rules})
	live := getCM(t, ns, "cm")
	live.SetAnnotations(map[string]string{"hash": "operator", "team": "operator"})
	if err := update(t.Context(), cmGVR, live, "operator"); err != nil {
		t.Fatal(err)
	}
	cacheCaughtUp(t, cs.Targets())
	got, err := e.Drift(t.Context(), cs.Targets(), DriftOptions{Selector: labels, Ignore: rules})
	if err != nil || len(got) != 1 {
		t.Fatalf("drift after the operator's write (team): %v %v", got, err)
	}
	cs = mustApply(t, e, objs(t, ns, cm), Options{Labels: labels, Ignore: rules})
	if diff := cmp.Diff(map[string]string{"hash": "operator", "team": "a"}, getCM(t, ns, "cm").GetAnnotations()); diff != "" {
		t.Errorf("annotations after the correction (-want +got):\n%s", diff)
	}
	live = getCM(t, ns, "cm")
	live.SetAnnotations(map[string]string{"hash": "operator-2", "team": "a"})
	if err := update(t.Context(), cmGVR, live, "operator"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Drift(t.Context(), cs.Targets(), DriftOptions{Selector: labels, Ignore: rules}); err != nil || len(got) != 0 {
		t.Errorf("drift after the operator wrote hash again: %v %v", got, err)
	}

	// A rule that does not compile fails the objects, naming the rule.
	bad := []IgnoreRule{{Paths: []string{"metadata"}}}
	cs, err = e.Apply(t.Context(), objs(t, ns, cm), Options{Labels: labels, Ignore: bad})
	if err != nil || cs.Err() == nil || !strings.Contains(cs.Err().Error(), "ignore rule 0: paths[0]") {
		t.Errorf("Apply with a bad rule: %v, %v", err, cs.Err())
	}
}
