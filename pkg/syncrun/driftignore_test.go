package syncrun

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// TestFluxDriftIgnore runs a tree whose Kustomization has spec.ignore and
// whose HelmReleases have driftDetection (ignore rules; mode warn,
// disabled, not set) while an autoscaler scales their Deployments: the
// ignored replicas stay the autoscaler's and are no drift once corrected,
// the Deployment no rule selects is corrected, the warned one is reported
// and left, the disabled and unset ones are not looked at, and an upgrade
// of the HelmRelease applies every field, as helm-controller does.
func TestFluxDriftIgnore(t *testing.T) {
	deployment := func(name string, replicas string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: NS}
spec:
  replicas: %s
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: c, image: example.invalid/app:1}]}
`, name, replicas, name, name)
	}
	release := func(name, replicas, drift string) string {
		return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: %s, namespace: NS}
spec:
  interval: 5m
  chart:
    spec:
      chart: ./charts/app
      sourceRef: {kind: GitRepository, name: NS}
  install: {disableWait: true}
  upgrade: {disableWait: true}
  values: {replicas: %s}
`, name, replicas) + drift
	}
	const ignoreReplicas = "  driftDetection:\n    mode: enabled\n    ignore:\n    - paths: [/spec/replicas]\n      target: {kind: Deployment}\n"
	files := map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/apps.yaml": kustomization("apps", "./apps",
			"  ignore:\n  - paths: [/spec/replicas]\n    target: {kind: Deployment, name: web}\n"),
		"apps/web.yaml":                    deployment("web", "2"),
		"apps/other.yaml":                  deployment("other", "2"),
		"clusters/test/chart.yaml":         release("chart", "2", ignoreReplicas),
		"clusters/test/warned.yaml":        release("warned", "2", "  driftDetection:\n    mode: warn\n"),
		"clusters/test/unwatched.yaml":     release("unwatched", "2", "  driftDetection:\n    mode: disabled\n"),
		"clusters/test/unset.yaml":         release("unset", "2", ""),
		"charts/app/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"charts/app/templates/deploy.yaml": strings.Replace(deployment("{{ .Release.Name }}-web", "{{ .Values.replicas }}"), "namespace: NS", "namespace: {{ .Release.Namespace }}", 1),
	}
	f := newFluxSync(t, files)
	mustUnitsSucceed(t, f.run())

	deploys := env.Client().AppsV1().Deployments(f.ns)
	replicas := func(name string) int32 {
		t.Helper()
		d, err := deploys.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	scale := func(n int32, names ...string) {
		t.Helper()
		for _, name := range names {
			s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
			if _, err := deploys.UpdateScale(t.Context(), name, s, metav1.UpdateOptions{FieldManager: "autoscaler"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string, want map[string]int32) {
		t.Helper()
		for name, n := range want {
			if got := replicas(name); got != n {
				t.Errorf("%s: %s has %d replicas, want %d", when, name, got, n)
			}
		}
	}
	unit := func(res *Result, kind, name string) UnitResult {
		t.Helper()
		u, ok := units(res)[kind+"/"+f.ns+"/"+name]
		if !ok {
			t.Fatalf("no unit %s/%s", kind, name)
		}
		return u
	}
	drifted := func(u UnitResult) []string {
		var out []string
		for _, id := range u.Drifted {
			out = append(out, id.Name)
		}
		slices.Sort(out)
		return out
	}
	check("created", map[string]int32{"web": 2, "other": 2, "chart-web": 2, "warned-web": 2, "unwatched-web": 2, "unset-web": 2})
	// Nothing changed: no drift, although gitsync owns the ignored fields
	// (the fingerprints leave them out, and the drift check as well).
	res := f.run()
	mustUnitsSucceed(t, res)
	for _, u := range res.Units {
		if len(u.Drifted) != 0 || u.Rendered {
			t.Errorf("%s with nothing changed: drifted %v, rendered %v", u.ID, u.Drifted, u.Rendered)
		}
	}

	// The autoscaler scales everything: what the rules name is no drift,
	// the Deployment no rule selects is corrected, the warned one left.
	scale(5, "web", "other", "chart-web", "warned-web", "unwatched-web", "unset-web")
	res = f.run()
	mustUnitsSucceed(t, res)
	check("after the correction", map[string]int32{"web": 5, "other": 2, "chart-web": 5, "warned-web": 5, "unwatched-web": 5, "unset-web": 5})
	// Disabled, and not set (helm-controller's default): not looked for.
	for _, name := range []string{"unwatched", "unset"} {
		if u := unit(res, "HelmRelease", name); len(u.Drifted) != 0 || u.Rendered ||
			!strings.Contains(u.Message, "drift detection is disabled") {
			t.Errorf("%s: %+v; want drift detection disabled", name, u)
		}
	}
	if got := drifted(unit(res, "Kustomization", "apps")); !slices.Equal(got, []string{"other"}) {
		t.Errorf("apps drifted: %v", got)
	}
	if u := unit(res, "HelmRelease", "chart"); len(u.Drifted) != 0 || u.Rendered {
		t.Errorf("chart: drifted %v, rendered %v", u.Drifted, u.Rendered)
	}
	if u := unit(res, "HelmRelease", "warned"); !slices.Equal(drifted(u), []string{"warned-web"}) ||
		!strings.Contains(u.Message, "left as it is (driftDetection.mode: warn): Deployment.apps/"+f.ns+"/warned-web") || u.Rendered {
		t.Errorf("warned: %+v", u)
	}

	// The autoscaler goes on; an edit of a field no rule names is
	// corrected and leaves the ignored one alone.
	scale(7, "web", "chart-web")
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deploys.Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = "example.invalid/app:edited"
		_, err = deploys.Update(t.Context(), d, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	mustUnitsSucceed(t, res)
	if got := drifted(unit(res, "Kustomization", "apps")); !slices.Equal(got, []string{"web"}) {
		t.Errorf("apps drifted after the image edit: %v", got)
	}
	if u := unit(res, "HelmRelease", "chart"); len(u.Drifted) != 0 || u.Rendered {
		t.Errorf("chart after the autoscaler scaled again: drifted %v, rendered %v", u.Drifted, u.Rendered)
	}
	check("scaled again", map[string]int32{"web": 7, "chart-web": 7})
	if d, err := deploys.Get(t.Context(), "web", metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != "example.invalid/app:1" {
		t.Errorf("web's image after the correction: %v", err)
	}

	// A commit: the Kustomization's rule holds at every apply, even
	// against a new value in Git; the HelmRelease's upgrade applies every
	// field, as helm-controller's does.
	f.commit(expandNS(map[string]string{
		"apps/web.yaml":            deployment("web", "3"),
		"clusters/test/chart.yaml": release("chart", "3", ignoreReplicas),
	}, f.ns))
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := unit(res, "HelmRelease", "chart"); !u.Rendered {
		t.Errorf("chart was not upgraded: %+v", u)
	}
	check("after the commit", map[string]int32{"web": 7, "chart-web": 3})
}
