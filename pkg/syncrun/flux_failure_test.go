package syncrun

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// newFluxSync returns a sync of ./clusters/test of a new repository
// holding files, in a new namespace NS (the placeholder in files).
func newFluxSync(t *testing.T, files map[string]string) *fixture {
	t.Helper()
	f := newFixture(t, gitserver.Options{})
	f.name = "tree"
	f.commit(expandNS(files, f.ns))
	f.writeSpec(fluxSyncDoc(f, ""))
	return f
}

// fluxSyncDoc is the spec newFluxSync writes, with extra spec lines.
func fluxSyncDoc(f *fixture, extra string) string {
	return fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tree, namespace: %s}\nspec:\n  source:\n    git:\n      url: %s\n      insecure: true\n      ref: {branch: main}\n  path: ./clusters/test\n%s",
		f.ns, f.git.HTTPURL("app"), extra)
}

func expandNS(files map[string]string, ns string) map[string]string {
	out := map[string]string{}
	for p, c := range files {
		out[p] = strings.ReplaceAll(c, "NS", ns)
	}
	return out
}

// kustomization is a Flux Kustomization of the sync's own repository
// (named in gotk-sync.yaml's way: GitRepository NS/NS) with extra spec
// lines.
func kustomization(name, path, extra string) string {
	return fmt.Sprintf(`---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %s
  namespace: NS
spec:
  interval: 10m
  path: %s
  prune: true
  sourceRef:
    kind: GitRepository
    name: NS
%s`, name, path, extra)
}

// ownRepository is the GitRepository of gotk-sync.yaml.
const ownRepository = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: NS
  namespace: NS
spec:
  interval: 1m
  url: ssh://git@example.com/fleet
  ref: {branch: main}
  secretRef: {name: flux-system}
`

// TestFluxDependencyFailure: a unit that fails skips its dependents (and
// theirs), each naming the dependency; a dependsOn cycle fails every unit
// on it, naming the cycle; independent units are applied; the run fails
// and says which units did not succeed; the sync's own objects count as
// applied, so the next run does not render the sync again.
func TestFluxDependencyFailure(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/own.yaml":                   cm("own", "1"),
		"clusters/test/units.yaml": kustomization("good", "./good", "") +
			kustomization("broken", "./missing", "") +
			kustomization("dependent", "./dependent", "  dependsOn:\n  - name: broken\n") +
			kustomization("transitive", "./dependent2", "  dependsOn:\n  - name: dependent\n") +
			kustomization("a", "./a", "  dependsOn:\n  - name: b\n") +
			kustomization("b", "./b", "  dependsOn:\n  - name: a\n"),
		"good/cm.yaml":       cm("good", "1"),
		"dependent/cm.yaml":  cm("dependent", "1"),
		"dependent2/cm.yaml": cm("dependent2", "1"),
		"a/cm.yaml":          cm("a", "1"),
		"b/cm.yaml":          cm("b", "1"),
	})
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed", res.Outcome)
	}
	ks := func(name string) string { return "Kustomization/" + f.ns + "/" + name }
	got := units(res)
	expect := func(name string, outcome Outcome, message ...string) {
		t.Helper()
		u, ok := got[ks(name)]
		if !ok {
			t.Errorf("%s: not in the run's units", name)
			return
		}
		if u.Outcome != outcome {
			t.Errorf("%s: %s (%s), want %s", name, u.Outcome, u.Message, outcome)
		}
		for _, m := range message {
			if !strings.Contains(u.Message, m) {
				t.Errorf("%s: message %q does not contain %q", name, u.Message, m)
			}
		}
	}
	expect("good", Succeeded)
	expect("broken", Failed, "render: ", "missing")
	expect("dependent", Skipped, "dependency did not succeed: "+ks("broken")+" failed")
	expect("transitive", Skipped, ks("dependent")+" was skipped")
	cycle := fmt.Sprintf("dependsOn cycle: %s → %s → %s", ks("a"), ks("b"), ks("a"))
	expect("a", Failed, cycle)
	expect("b", Failed, fmt.Sprintf("dependsOn cycle: %s → %s → %s", ks("b"), ks("a"), ks("b")))
	if u := got[ks("dependent")]; u.BlockedBy != ks("broken") {
		t.Errorf("dependent blocked by %q", u.BlockedBy)
	}
	f.mustHave("own", "good")
	f.mustNotHave("dependent", "dependent2", "a", "b")
	for _, m := range []string{ks("broken") + " failed", ks("dependent") + " skipped", "6 units (3 failed, 2 skipped, 1 succeeded)"} {
		if !strings.Contains(res.Message, m) && !strings.Contains(res.Err.Error(), m) {
			t.Errorf("the run's message %q does not say %q", res.Message, m)
		}
	}
	rec := f.inventory().Record
	if rec.LastRun.Result != inventory.ResultFailed || rec.LastRun.FailedUnits != 5 || !rec.SelfSucceeded() {
		t.Errorf("the sync's record: %+v", rec.LastRun)
	}
	for _, u := range rec.Units {
		if u.Name == "dependent" && (u.Result != inventory.ResultSkipped || u.BlockedBy != ks("broken")) {
			t.Errorf("dependent's record %+v", u)
		}
	}

	// The next run does not render the sync again (its own objects are
	// applied); the failed unit tries again.
	res = f.run()
	if res.Rendered {
		t.Error("the sync rendered again although its own objects were applied")
	}
	if u := units(res)[ks("broken")]; u.Outcome != Failed {
		t.Errorf("broken, second run: %+v", u)
	}
	if u := units(res)[ks("good")]; u.Outcome != Succeeded || u.Rendered {
		t.Errorf("good, second run: %s, rendered %v", u.Outcome, u.Rendered)
	}
}

// TestFluxUnsupportedFields: each Flux object that sets a field gitsync
// refuses fails, naming the object and the field; nothing of that unit is
// applied; a unit reading a refused source fails naming it; independent
// units proceed, one of them from another GitRepository.
func TestFluxUnsupportedFields(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	other, err := f.git.CreateRepo(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Commit(t.Context(), "other", map[string]string{"deploy/cm.yaml": cm("from-other", "1")}); err != nil {
		t.Fatal(err)
	}
	f.name = "tree"
	f.commit(expandOther(map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml": kustomization("decrypt", "./decrypt", "  decryption:\n    provider: sops\n    secretRef: {name: sops}\n    serviceAccountName: kms\n") +
			kustomization("impersonate", "./impersonate", "  serviceAccountName: deployer\n") +
			strings.Replace(kustomization("proxied", "./deploy", ""), "    name: NS\n", "    name: proxied\n", 1) +
			strings.Replace(kustomization("good", "./deploy", ""), "    name: NS\n", "    name: other\n", 1) + `---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: proxied, namespace: NS}
spec:
  interval: 1m
  url: OTHERURL
  ref: {branch: main}
  proxySecretRef: {name: proxy}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: other, namespace: NS}
spec:
  interval: 1m
  url: OTHERURL
  ref: {branch: main}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: release, namespace: NS}
spec:
  interval: 1m
  serviceAccountName: deployer
  chart:
    spec:
      chart: app
      sourceRef: {kind: HelmRepository, name: nowhere}
`,
		"decrypt/cm.yaml":     cm("decrypt", "1"),
		"impersonate/cm.yaml": cm("impersonate", "1"),
	}, f.ns, f.git.HTTPURL("other")))
	f.writeSpec(fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: tree, namespace: %s}\nspec:\n  source:\n    git:\n      url: %s\n      insecure: true\n      ref: {branch: main}\n  path: ./clusters/test\n",
		f.ns, f.git.HTTPURL("app")))
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s, want Failed", res.Outcome)
	}
	got := units(res)
	for id, want := range map[string]string{
		// The message says what is wrong; UnitResult.ID names the object.
		"Kustomization/" + f.ns + "/decrypt": "spec.decryption.serviceAccountName: not supported",
		// serviceAccountName is honoured: deployer has no rights, and the
		// preflight names it before anything is applied.
		"Kustomization/" + f.ns + "/impersonate": "apply: ConfigMap/" + f.ns + "/impersonate: forbidden: User \"system:serviceaccount:" + f.ns + ":deployer\" (impersonated) cannot patch",
		"HelmRelease/" + f.ns + "/release":       "chart.spec.sourceRef HelmRepository/" + f.ns + "/nowhere: not found",
		"GitRepository/" + f.ns + "/proxied":     "spec.proxySecretRef: not supported",
		"Kustomization/" + f.ns + "/proxied":     "source GitRepository/" + f.ns + "/proxied: spec.proxySecretRef: not supported",
	} {
		u, ok := got[id]
		if !ok || u.Outcome != Failed || !strings.HasPrefix(u.Message, want) {
			t.Errorf("%s: %s %q; want Failed, naming the object and %q", id, u.Outcome, u.Message, want)
		}
	}
	if u := got["Kustomization/"+f.ns+"/good"]; u.Outcome != Succeeded {
		t.Errorf("good: %s %s", u.Outcome, u.Message)
	}
	f.mustHave("from-other")
	f.mustNotHave("decrypt", "impersonate")
	for _, name := range []string{"decrypt"} {
		state := flux.StateName("tree", flux.ID{Kind: flux.KindKustomization, Namespace: f.ns, Name: name})
		if _, err := f.configMap(inventory.InventoryName(state)); !apierrors.IsNotFound(err) {
			t.Errorf("%s has state: %v", name, err)
		}
	}
}

func expandOther(files map[string]string, ns, url string) map[string]string {
	out := expandNS(files, ns)
	for p, c := range out {
		out[p] = strings.ReplaceAll(c, "OTHERURL", url)
	}
	return out
}
