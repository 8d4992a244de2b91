package syncrun

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// teamsSet is a ResourceSet making, per input, a Namespace and a ConfigMap
// in it (resources), and `size` ConfigMaps in its own namespace
// (resourcesTemplate, a range loop).
const teamsSet = `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: teams
  namespace: NS
spec:
  commonMetadata:
    labels: {owner: platform}
  inputs:
  INPUTS
  resources:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: NS-<< inputs.team >>
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: team-<< inputs.team >>
      namespace: NS-<< inputs.team >>
    data:
      size: << inputs.size | quote >>
  resourcesTemplate: |
    <<- range $i, $e := until (int inputs.size) >>
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: << inputs.team >>-slot-<< $i >>
    data:
      team: << inputs.team >>
    <<- end >>
`

func teams(inputs string) string { return strings.Replace(teamsSet, "INPUTS", inputs, 1) }

// TestResourceSetInputsAndPrune: a ResourceSet of the sync's render is a
// unit: its inline inputs make a Namespace and ConfigMaps per input, from
// resources and from a resourcesTemplate's range loop, with its
// commonMetadata and its own state; an unchanged run does not render it
// again; removing an input prunes that input's objects only.
func TestResourceSetInputsAndPrune(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/rset.yaml": teams("- {team: a, size: 1}\n  - {team: b, size: 2}"),
	})
	t.Cleanup(func() {
		for _, n := range []string{f.ns + "-a", f.ns + "-b"} {
			_ = env.Client().CoreV1().Namespaces().Delete(t.Context(), n, metav1.DeleteOptions{})
		}
	})
	id := flux.ID{Kind: flux.KindResourceSet, Namespace: f.ns, Name: "teams"}
	res := f.run()
	f.mustSucceed(res)
	u := units(res)[id.String()]
	if u.Outcome != Succeeded || !u.Rendered || u.Objects != 7 {
		t.Fatalf("unit: %s rendered %v objects %d: %s", u.Outcome, u.Rendered, u.Objects, u.Message)
	}
	f.mustHave("a-slot-0", "b-slot-0", "b-slot-1")
	f.mustNotHave("a-slot-1")
	for _, team := range []string{"a", "b"} {
		c, err := f.configMapIn(f.ns+"-"+team, "team-"+team)
		if err != nil {
			t.Fatal(err)
		}
		if c.Labels["owner"] != "platform" || c.Labels[LabelUnit] != flux.StateName("tree", id) {
			t.Errorf("team-%s labels %v", team, c.Labels)
		}
	}
	if got := f.configMapData("b-slot-1")["team"]; got != "b" {
		t.Errorf("b-slot-1 team %q", got)
	}
	state := &inventory.Store{Client: env.Client(), Namespace: f.ns, Sync: flux.StateName("tree", id)}
	inv, err := state.Load(t.Context())
	if err != nil || len(inv.Entries) != 7 || inv.Record.LastRun.Result != inventory.ResultSucceeded {
		t.Fatalf("the unit's state: %v %+v", err, inv)
	}

	res = f.run()
	f.mustSucceed(res)
	if u := units(res)[id.String()]; u.Outcome != Succeeded || u.Rendered {
		t.Errorf("unchanged: %s rendered %v: %s", u.Outcome, u.Rendered, u.Message)
	}

	// build/diff --unit render the ResourceSet alone, as the run does.
	ru, err := Render(t.Context(), RenderOptions{Name: "tree", Namespace: f.ns, Config: env.Config(), Unit: id})
	if err != nil {
		t.Fatalf("Render of the ResourceSet: %v", err)
	}
	if len(ru.Objects) != 7 || len(ru.Inventory) != 7 || len(ru.Stale) != 0 {
		t.Errorf("Render of the ResourceSet: %d objects, inventory %d, stale %v; want the 7 it applied", len(ru.Objects), len(ru.Inventory), ru.Stale)
	}

	f.commit(expandNS(map[string]string{"clusters/test/rset.yaml": teams("- {team: a, size: 1}")}, f.ns))
	res = f.run()
	f.mustSucceed(res)
	f.mustHave("a-slot-0")
	f.mustNotHave("b-slot-0", "b-slot-1")
	if _, err := f.configMapIn(f.ns+"-a", "team-a"); err != nil {
		t.Error(err)
	}
	ns, err := env.Client().CoreV1().Namespaces().Get(t.Context(), f.ns+"-b", metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("Namespace %s-b not deleted", f.ns)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
}

// TestResourceSetPermute: Permute across the ResourceSet's inputs and two
// Static providers (one by name, one by selector) makes every combination,
// with the Flux Operator's ids (Adler-32 of the normalised provider names
// and the chosen indexes; a Static provider's id is that of its name).
func TestResourceSetPermute(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/rset.yaml": `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: matrix, namespace: NS}
spec:
  inputStrategy: {name: Permute}
  inputs: [{app: web}, {app: api}]
  inputsFrom:
  - apiVersion: fluxcd.controlplane.io/v1
    kind: ResourceSetInputProvider
    name: region-eu
  - selector: {matchLabels: {tier: "true"}}
  resourcesTemplate: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: << inputs.matrix.app >>-<< inputs.region_eu.region >>-<< inputs.id >>
    data:
      tier: << inputs.gold.tier >>
      regionID: << inputs.region_eu.id | quote >>
`,
		"clusters/test/providers.yaml": staticProviders("gold"),
	})
	f.mustSucceed(f.run())
	// adler32("matrix=0/gold=0/region_eu=0"), adler32("matrix=1/gold=0/region_eu=0")
	f.mustHave("web-eu-2306607518", "api-eu-2307918239")
	if d := f.configMapData("api-eu-2307918239"); d["tier"] != "gold" || d["regionID"] != "304284556" {
		t.Errorf("data %v", d)
	}

	// A provider's defaultValues are part of the ResourceSet's spec.
	f.commit(map[string]string{"clusters/test/providers.yaml": strings.ReplaceAll(staticProviders("platinum"), "NS", f.ns)})
	f.mustSucceed(f.run())
	if d := f.configMapData("web-eu-2306607518"); d["tier"] != "platinum" {
		t.Errorf("after the provider changed: %v", d)
	}
}

// TestResourceSetDependsOn: a ResourceSet starts after the Kustomization
// it depends on (ready: true) succeeded, and is skipped after one that
// failed; one naming a ResourceSet without ready waits for it to have run;
// the Kustomization a ResourceSet generates is a unit in turn, and so is a
// ResourceSet a Kustomization renders.
func TestResourceSetDependsOn(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": kustomization("infra", "./infra", "") + kustomization("broken", "./missing", "") +
			kustomization("nested", "./nested", ""),
		"nested/rset.yaml": `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: nested}
spec:
  resources:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: nested-rs}}
`,
		"infra/cm.yaml":    cm("infra", "1"),
		"apps/one/cm.yaml": cm("deployed-one", "1"),
		"clusters/test/rsets.yaml": `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: apps, namespace: NS}
spec:
  dependsOn:
  - {apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, name: infra, ready: true}
  inputs: [{app: one}]
  resources:
  - apiVersion: kustomize.toolkit.fluxcd.io/v1
    kind: Kustomization
    metadata: {name: app-<< inputs.app >>}
    spec:
      interval: 10m
      path: ./apps/<< inputs.app >>
      prune: true
      sourceRef: {kind: GitRepository, name: NS}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: app-<< inputs.app >>}
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: after, namespace: NS}
spec:
  dependsOn:
  - {apiVersion: fluxcd.controlplane.io/v1, kind: ResourceSet, name: apps}
  resources:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: after}}
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: blocked, namespace: NS}
spec:
  dependsOn:
  - {apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, name: broken, ready: true}
  resources:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: blocked}}
`,
	})
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed (broken)", res.Outcome)
	}
	got := units(res)
	ks := func(n string) string { return "Kustomization/" + f.ns + "/" + n }
	rs := func(n string) string { return "ResourceSet/" + f.ns + "/" + n }
	for name, want := range map[string]Outcome{ks("infra"): Succeeded, ks("broken"): Failed, rs("apps"): Succeeded,
		ks("app-one"): Succeeded, rs("after"): Succeeded, rs("blocked"): Skipped, rs("nested"): Succeeded} {
		if u := got[name]; u.Outcome != want {
			t.Errorf("%s: %s (%s), want %s", name, u.Outcome, u.Message, want)
		}
	}
	if !got[rs("apps")].Start.After(got[ks("infra")].End) && !got[rs("apps")].Start.Equal(got[ks("infra")].End) {
		t.Errorf("apps started %v, before infra ended %v", got[rs("apps")].Start, got[ks("infra")].End)
	}
	if !got[rs("after")].Start.After(got[rs("apps")].End) && !got[rs("after")].Start.Equal(got[rs("apps")].End) {
		t.Errorf("after started %v, before apps ended %v", got[rs("after")].Start, got[rs("apps")].End)
	}
	if p := got[ks("app-one")].Parent.String(); p != rs("apps") {
		t.Errorf("app-one's parent %s", p)
	}
	if m := got[rs("blocked")].Message; !strings.Contains(m, "dependency did not succeed: "+ks("broken")+" failed") {
		t.Errorf("blocked: %s", m)
	}
	if p := got[rs("nested")].Parent.String(); p != ks("nested") {
		t.Errorf("the nested ResourceSet's parent %s", p)
	}
	f.mustHave("infra", "app-one", "deployed-one", "after", "nested-rs")
	f.mustNotHave("blocked")
}

// TestResourceSetTemplateError: a template naming an input that does not
// exist fails the unit, naming the ResourceSet, the resource and the
// template line, and applies nothing of it; a generated document that is
// not an object likewise.
func TestResourceSetTemplateError(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/own.yaml": cm("own", "1"),
		"clusters/test/rset.yaml": `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: broken, namespace: NS}
spec:
  inputs: [{name: x}]
  resources:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: good-<< inputs.name >>}}
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: bad-<< inputs.nmae >>
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: notobject, namespace: NS}
spec:
  resourcesTemplate: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: fine}
    ---
    apiVersion: v1
    data: {a: b}
`,
	})
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed", res.Outcome)
	}
	u := units(res)["ResourceSet/"+f.ns+"/broken"]
	for _, want := range []string{"render: spec.resources[1] with input set 0: template: spec.resources[1]:4:", `map has no entry for key "nmae"`} {
		if u.Outcome != Failed || !strings.Contains(u.Message, want) {
			t.Errorf("broken: %s %q, want %q", u.Outcome, u.Message, want)
		}
	}
	u = units(res)["ResourceSet/"+f.ns+"/notobject"]
	if want := "spec.resourcesTemplate (no input set): document 2: not a Kubernetes object: kind, metadata.name missing"; u.Outcome != Failed || !strings.Contains(u.Message, want) {
		t.Errorf("notobject: %s %q, want %q", u.Outcome, u.Message, want)
	}
	if !strings.Contains(res.Message, "ResourceSet/"+f.ns+"/broken failed: render: spec.resources[1]") {
		t.Errorf("the run's message does not name the ResourceSet: %s", res.Message)
	}
	f.mustHave("own")
	f.mustNotHave("good-x", "fine")
}

// TestResourceSetNonStaticProvider: a provider of a type gitsync does not
// run fails the ResourceSet reading it, naming the provider and its type,
// rather than making no input.
func TestResourceSetNonStaticProvider(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/rset.yaml": `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata: {name: prs, namespace: NS}
spec:
  type: GitHubPullRequest
  url: https://github.com/example/app
  filter: {labels: [deploy/preview]}
  defaultValues: {chart: charts/app}
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: previews, namespace: NS}
spec:
  inputsFrom: [{name: prs}]
  resourcesTemplate: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: preview-<< inputs.id >>}
`,
	})
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed", res.Outcome)
	}
	u := units(res)["ResourceSet/"+f.ns+"/previews"]
	want := "ResourceSetInputProvider/" + f.ns + "/prs is of type GitHubPullRequest, which gitsync does not run"
	if u.Outcome != Failed || !strings.Contains(u.Message, want) {
		t.Errorf("previews: %s %q, want %q", u.Outcome, u.Message, want)
	}
}

// TestResourceSetServiceAccount: a ResourceSet's serviceAccountName is
// impersonated for its objects, as a Kustomization's: with the rights of
// that ServiceAccount only.
func TestResourceSetServiceAccount(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/rset.yaml": `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata: {name: tenant, namespace: NS}
spec:
  serviceAccountName: unit-sa
  resources:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: tenant-cm}}
`,
	})
	res := f.run()
	u := units(res)["ResourceSet/"+f.ns+"/tenant"]
	if u.Outcome != Failed || !strings.Contains(u.Message, "unit-sa") {
		t.Fatalf("without the ServiceAccount's rights: %s %q", u.Outcome, u.Message)
	}
	f.mustNotHave("tenant-cm")
	err := env.ApplyYAML(t.Context(), f.ns, `apiVersion: v1
kind: ServiceAccount
metadata: {name: unit-sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: unit-sa}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, create, update, patch, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: unit-sa}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: unit-sa}
subjects: [{kind: ServiceAccount, name: unit-sa, namespace: `+f.ns+`}]
`)
	if err != nil {
		t.Fatal(err)
	}
	res = f.run()
	f.mustSucceed(res)
	if u := units(res)["ResourceSet/"+f.ns+"/tenant"]; u.ServiceAccount != "system:serviceaccount:"+f.ns+":unit-sa" {
		t.Errorf("applied as %q", u.ServiceAccount)
	}
	f.mustHave("tenant-cm")
}

// staticProviders are two Static ResourceSetInputProviders in namespace NS:
// region-eu, and gold (labelled tier: "true") whose tier is tier.
func staticProviders(tier string) string {
	return `apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata: {name: region-eu, namespace: NS}
spec:
  type: Static
  defaultValues: {region: eu}
---
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSetInputProvider
metadata: {name: gold, namespace: NS, labels: {tier: "true"}}
spec:
  type: Static
  defaultValues: {tier: ` + tier + `}
`
}
