package syncrun

import (
	"strings"
	"testing"
)

// TestFluxChartFromGit: a HelmRelease whose chart is a directory of the
// sync's own repository, with reconcileStrategy ChartVersion (Flux's
// default), renders again when the chart's version changes, not when only
// its files do; and a suspended unit does not run while its objects stay.
func TestFluxChartFromGit(t *testing.T) {
	chart := func(version, value string) map[string]string {
		return map[string]string{
			"charts/app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: " + version + "\n",
			"charts/app/values.yaml": "value: " + value + "\n",
			"charts/app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n" +
				"  value: {{ .Values.value | quote }}\n  version: {{ .Chart.Version | quote }}\n",
		}
	}
	files := map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2beta2
kind: HelmRelease
metadata: {name: app, namespace: NS}
spec:
  interval: 5m
  chart:
    spec:
      chart: ./charts/app
      sourceRef: {kind: GitRepository, name: NS}
`,
		"clusters/test/paused.yaml": kustomization("paused", "./paused", ""),
		"paused/cm.yaml":            cm("paused", "1"),
	}
	for p, c := range chart("0.1.0", "one") {
		files[p] = c
	}
	f := newFluxSync(t, files)
	res := f.run()
	mustUnitsSucceed(t, res)
	hr := "HelmRelease/" + f.ns + "/app"
	if u := units(res)[hr]; !u.Rendered || !strings.HasPrefix(u.Revision, "0.1.0@sha1:") {
		t.Errorf("first run: %+v", u)
	}
	value := func() string {
		t.Helper()
		c, err := f.configMap("app-config")
		if err != nil {
			t.Fatal(err)
		}
		return c.Data["value"]
	}
	if v := value(); v != "one" {
		t.Errorf("value %q", v)
	}

	// The chart's files change, its version does not: not rendered.
	f.commit(map[string]string{"charts/app/values.yaml": "value: two\n"})
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[hr]; u.Rendered {
		t.Errorf("rendered without a new chart version: %+v", u)
	}
	if v := value(); v != "one" {
		t.Errorf("value %q, want one (the chart version did not change)", v)
	}

	// A new version is rendered; the suspended unit's objects stay.
	f.commit(map[string]string{"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.2.0\n",
		"clusters/test/paused.yaml": expandNS(map[string]string{"k": kustomization("paused", "./paused", "  suspend: true\n")}, f.ns)["k"],
		"paused/cm.yaml":            cm("paused", "2")})
	res = f.run()
	mustUnitsSucceed(t, res)
	if u := units(res)[hr]; !u.Rendered || !strings.HasPrefix(u.Revision, "0.2.0@sha1:") {
		t.Errorf("new version: %+v", u)
	}
	if v := value(); v != "two" {
		t.Errorf("value %q, want two", v)
	}
	u := units(res)["Kustomization/"+f.ns+"/paused"]
	if !u.Suspended || u.Rendered || u.Outcome != Succeeded {
		t.Errorf("suspended unit: %+v", u)
	}
	if c, err := f.configMap("paused"); err != nil || c.Data["value"] != "1" {
		t.Errorf("the suspended unit's object: %v, %v", c, err)
	}
}
