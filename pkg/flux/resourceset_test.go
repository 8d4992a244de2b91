package flux

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

func decodeYAML(t *testing.T, doc string) (Object, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := sigsyaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return Decode(u, DecodeOptions{DefaultNamespace: "ns"})
}

func mustDecode[T Object](t *testing.T, doc string) T {
	t.Helper()
	o, err := decodeYAML(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	return o.(T)
}

// The ids are the Adler-32 checksums the Flux Operator computes (its
// inputs.ID), taken from zlib.adler32.
func TestInputID(t *testing.T) {
	for s, want := range map[string]string{
		"static-a":                   "249430807",
		"region-a":                   "244515603",
		"matrix=0/region_a=0/tier=0": "2178746675",
	} {
		if got := InputID(s); got != want {
			t.Errorf("InputID(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestNormalizeInputKey(t *testing.T) {
	for in, want := range map[string]string{
		"region-a":        "region_a",
		"My Provider.v2":  "my_provider_v2",
		"__a  b__":        "a_b",
		"a+b":             "ab",
		"team-A/frontend": "team_a_frontend",
	} {
		if got := NormalizeInputKey(in); got != want {
			t.Errorf("NormalizeInputKey(%q) = %q, want %q", in, got, want)
		}
	}
}

const permuteSet = `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: matrix, namespace: ns}
spec:
  inputStrategy: {name: Permute}
  inputs:
  - app: a
  - app: b
  inputsFrom:
  - name: tier
  - selector: {matchLabels: {kind: region}}
  resources:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: << inputs.matrix.app >>-<< inputs.region_a.region >>-<< inputs.id >>
    data:
      tier: << inputs.tier.tier >>
      regionID: << inputs.region_a.id | quote >>
`

func staticProvider(t *testing.T, name, labels, defaults string) *ResourceSetInputProvider {
	return mustDecode[*ResourceSetInputProvider](t, `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata: {name: `+name+`, namespace: ns, labels: `+labels+`}
spec:
  type: Static
  defaultValues: `+defaults+`
`)
}

func TestResourceSetPermute(t *testing.T) {
	rs := mustDecode[*ResourceSet](t, permuteSet)
	// In Graph.Sources order: by namespace and name.
	providers := []*ResourceSetInputProvider{
		staticProvider(t, "region-a", "{kind: region}", "{region: eu}"),
		staticProvider(t, "tier", "{}", "{tier: gold, id: ignored}"),
	}
	sets, err := rs.InputSets(providers)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sets {
		ids = append(ids, s["id"].(string))
	}
	if diff := cmp.Diff([]string{"2178746675", "2179991860"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	wantFirst := map[string]any{
		"id": "2178746675",
		"matrix": map[string]any{"app": "a", "provider": map[string]any{
			"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet", "name": "matrix", "namespace": "ns"}},
		"region_a": map[string]any{"region": "eu", "id": "244515603", "provider": map[string]any{
			"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSetInputProvider", "name": "region-a", "namespace": "ns"}},
		"tier": map[string]any{"tier": "gold", "id": "72024501", "provider": map[string]any{
			"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSetInputProvider", "name": "tier", "namespace": "ns"}},
	}
	if diff := cmp.Diff(wantFirst, sets[0]); diff != "" {
		t.Errorf("first set (-want +got):\n%s", diff)
	}
	objs, err := rs.Build(sets)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName()+" "+o.Object["data"].(map[string]any)["regionID"].(string))
	}
	if diff := cmp.Diff([]string{"a-eu-2178746675 244515603", "b-eu-2179991860 244515603"}, names); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestResourceSetFlatten(t *testing.T) {
	rs := mustDecode[*ResourceSet](t, `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: apps, namespace: ns}
spec:
  commonMetadata: {labels: {team: x}}
  inputs:
  - {name: one, replicas: 2}
  inputsFrom: [{name: blue}]
  resources:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: shared}
  resourcesTemplate: |
    <<- range $i, $c := list "a" "b" >>
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: << inputs.name >>-<< $c >>
      annotations:
        <<- if eq $c "b" >>
        fluxcd.controlplane.io/reconcile: disabled
        <<- end >>
        replicas: "<< get inputs "replicas" | default 1 >>"
    <<- end >>
    ---
    apiVersion: v1
    kind: Namespace
    metadata: {name: shared, labels: {from: template}}
`)
	sets, err := rs.InputSets([]*ResourceSetInputProvider{staticProvider(t, "blue", "{}", "{name: two}")})
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[1]["id"] != "69140905" || sets[0]["id"] != nil {
		t.Fatalf("sets: %v", sets)
	}
	objs, err := rs.Build(sets)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName()+" "+o.GetAnnotations()["replicas"]+" "+o.GetLabels()["team"]+o.GetLabels()["from"])
	}
	// The Namespace of resources wins over the template's; the "b"
	// ConfigMaps are disabled.
	want := []string{"Namespace/shared  x", "ConfigMap/one-a 2 x", "ConfigMap/two-a 1 x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestResourceSetBuildErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		spec string
		want []string
	}{
		"missing input": {spec: `
  inputs: [{a: x}]
  resources:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: << inputs.b >>}`, want: []string{`spec.resources[0] with input set 0: template: spec.resources[0]:4:`, `map has no entry for key "b"`}},
		"template line": {spec: `
  inputs: [{a: x}]
  resourcesTemplate: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: << inputs.a | nosuchfunc >>`, want: []string{`spec.resourcesTemplate with input set 0: template: spec.resourcesTemplate:4: function "nosuchfunc" not defined`}},
		"not an object": {spec: `
  resourcesTemplate: |
    apiVersion: v1
    kind: ConfigMap
    ---
    - a
    - b`, want: []string{`spec.resourcesTemplate (no input set): document 1: not a Kubernetes object: metadata.name missing`}},
		"refused annotation": {spec: `
  resources:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: s
      annotations: {fluxcd.controlplane.io/copyFrom: other/s}`, want: []string{"Secret/s: annotation fluxcd.controlplane.io/copyFrom"}},
	} {
		t.Run(name, func(t *testing.T) {
			rs := mustDecode[*ResourceSet](t, "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSet\nmetadata: {name: r, namespace: ns}\nspec:"+tc.spec+"\n")
			sets, err := rs.InputSets(nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rs.Build(sets)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestResourceSetOtherProviderType(t *testing.T) {
	rs := mustDecode[*ResourceSet](t, permuteSet)
	p := mustDecode[*ResourceSetInputProvider](t, `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata: {name: prs, namespace: ns}
spec:
  type: GitHubPullRequest
  url: https://github.com/org/repo
  filter: {labels: [deploy], limit: 5}
`)
	_, err := rs.InputSets([]*ResourceSetInputProvider{p})
	if err == nil || !strings.Contains(err.Error(), "ResourceSetInputProvider/ns/prs is of type GitHubPullRequest") {
		t.Fatalf("error: %v", err)
	}
}

func TestResourceSetDecode(t *testing.T) {
	for name, tc := range map[string]struct {
		spec string
		want []string
	}{
		"typo": {spec: "\n  resourcesTemplat: x\n  inputStrategy: {name: Permutate}",
			want: []string{"ResourceSet/ns/r: spec.inputStrategy.name: \"Permutate\" is not one of Flatten, Permute",
				"ResourceSet/ns/r: spec.resourcesTemplat: unknown field"}},
		"object dependency": {spec: "\n  resourcesTemplate: x\n  dependsOn: [{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, name: x}]",
			want: []string{"spec.dependsOn[0].kind: a CustomResourceDefinition is not a unit of the run"}},
		"readyExpr": {spec: "\n  resourcesTemplate: x\n  dependsOn: [{apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, name: x, ready: true, readyExpr: 'true'}]",
			want: []string{"spec.dependsOn[0].readyExpr: not supported"}},
		"steps":              {spec: "\n  steps: [{name: a, resourcesTemplate: x}]", want: []string{"spec.steps: not supported"}},
		"provider reference": {spec: "\n  resourcesTemplate: x\n  inputsFrom: [{}]", want: []string{"spec.inputsFrom[0]: exactly one of name and selector"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeYAML(t, "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSet\nmetadata: {name: r, namespace: ns}\nspec:"+tc.spec+"\n")
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("not a FieldError: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	rs := mustDecode[*ResourceSet](t, `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: r, namespace: ns, annotations: {fluxcd.controlplane.io/reconcileTimeout: 2m}}
spec:
  resourcesTemplate: x
  dependsOn:
  - {apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, name: infra, ready: true}
  - {apiVersion: fluxcd.controlplane.io/v1, kind: ResourceSet, name: base, namespace: other}
`)
	want := []ID{{Kind: KindKustomization, Namespace: "ns", Name: "infra"}, {Kind: KindResourceSet, Namespace: "other", Name: "base"}}
	if diff := cmp.Diff(want, rs.DependsOn); diff != "" {
		t.Errorf("dependsOn (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[ID]string{want[1]: "true"}, rs.ReadyExprs); diff != "" {
		t.Errorf("readyExprs (-want +got):\n%s", diff)
	}
	if rs.Timeout.String() != "2m0s" {
		t.Errorf("timeout %s", rs.Timeout)
	}
	if !IsFlux(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet"}}) ||
		IsFlux(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance"}}) {
		t.Error("IsFlux: ResourceSet lifted, FluxInstance not")
	}
}

func TestResourceSetSources(t *testing.T) {
	rs := mustDecode[*ResourceSet](t, permuteSet)
	g := NewGraph(GraphOptions{})
	if err := g.Add(ID{}, rs, staticProvider(t, "region-b", "{kind: region}", "{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Sources(rs); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "spec.inputsFrom[0] ResourceSetInputProvider/ns/tier") {
		t.Fatalf("Sources: %v", err)
	}
	if err := g.Add(ID{}, staticProvider(t, "tier", "{}", "{}"), staticProvider(t, "region-a", "{kind: region}", "{}"),
		staticProvider(t, "other", "{kind: other}", "{}")); err != nil {
		t.Fatal(err)
	}
	srcs, err := g.Sources(rs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range srcs {
		got = append(got, s.Metadata().ID.Name)
	}
	if diff := cmp.Diff([]string{"region-a", "region-b", "tier"}, got); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

// TestResourceSetEveryField decodes, for each Flux Operator kind, an
// object that sets every accepted field: Decode fails when one is
// accepted but not read.
func TestResourceSetEveryField(t *testing.T) {
	for _, s := range operatorSchemas() {
		t.Run(s.kind, func(t *testing.T) {
			u := everyField(t, s, "v1", "")
			if s.kind == KindResourceSet {
				spec := u.Object["spec"].(map[string]any)
				from := spec["inputsFrom"].([]any)[0].(map[string]any)
				byName := map[string]any{"apiVersion": from["apiVersion"], "kind": from["kind"], "name": "p"}
				delete(from, "name")
				spec["inputsFrom"] = []any{byName, from}
				spec["dependsOn"] = []any{map[string]any{"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
					"kind": "Kustomization", "name": "a", "namespace": "b", "ready": true}}
			}
			if _, err := Decode(u, DecodeOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
