package spec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const helmFull = `apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata:
  name: podinfo
  namespace: apps
spec:
  source:
    helm:
      url: https://charts.example.com/stable
      chart: podinfo
      version: ">=6.0.0 <7"
      secretRef:
        name: charts-auth
      passCredentials: true
      timeout: 2m
  targetNamespace: web
  helm:
    releaseName: front
    values:
      replicaCount: 3
      ratio: 1.5
      enabled: true
      tag: "1.10"
      date: 2024-01-01
      empty: null
      nested:
        list: [1, two, 3.0]
        2: numeric key
    valuesFrom:
      - kind: ConfigMap
        name: podinfo-values
      - kind: Secret
        name: podinfo-secret
        valuesKey: cpu
        targetPath: resources.limits.cpu
        optional: true
    valuesFiles:
      - values.yaml
      - values-prod.yaml
    crds: CreateReplace
    postRenderStrategy: nohooks
    postRenderers:
      - kustomize:
          patches:
            - patch: |
                - op: add
                  path: /metadata/labels/x
                  value: "1"
              target:
                kind: Deployment
          images:
            - name: ghcr.io/stefanprodan/podinfo
              newTag: "6.5.0"
    disableSchemaValidation: true
`

func TestParseHelm(t *testing.T) {
	s, err := Parse([]byte(helmFull))
	if err != nil {
		t.Fatal(err)
	}
	want := &Sync{
		TypeMeta:   metav1.TypeMeta{APIVersion: "gitsync.io/v1alpha1", Kind: "Sync"},
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "apps"},
		Spec: SyncSpec{
			Source: Source{Helm: &HelmSource{
				URL: "https://charts.example.com/stable", Chart: "podinfo", Version: ">=6.0.0 <7",
				SecretRef: &LocalObjectReference{Name: "charts-auth"}, PassCredentials: true,
				Timeout: NewDuration(2 * time.Minute),
			}},
			Path:            "./",
			Schedule:        DefaultSchedule,
			TargetNamespace: "web",
			Prune:           ptr(true),
			Timeout:         NewDuration(DefaultTimeout),
			Helm: &HelmSpec{
				ReleaseName: "front",
				Values: map[string]any{
					// Values keep YAML's types, unlike every other field.
					"replicaCount": int64(3), "ratio": 1.5, "enabled": true, "tag": "1.10",
					"date": "2024-01-01", "empty": nil,
					// 3.0 is the JSON number 3, as for Helm.
					"nested": map[string]any{"list": []any{int64(1), "two", int64(3)}, "2": "numeric key"},
				},
				ValuesFrom: []ValuesReference{
					{Kind: "ConfigMap", Name: "podinfo-values", ValuesKey: "values.yaml"},
					{Kind: "Secret", Name: "podinfo-secret", ValuesKey: "cpu", TargetPath: "resources.limits.cpu", Optional: true},
				},
				ValuesFiles:        []string{"values.yaml", "values-prod.yaml"},
				CRDs:               CRDsCreateReplace,
				PostRenderStrategy: PostRenderNoHooks,
				PostRenderers: []PostRenderer{{Kustomize: &KustomizePostRenderer{
					Patches: []Patch{{
						Patch:  "- op: add\n  path: /metadata/labels/x\n  value: \"1\"\n",
						Target: &Selector{Kind: "Deployment"},
					}},
					Images: []Image{{Name: "ghcr.io/stefanprodan/podinfo", NewTag: "6.5.0"}},
				}}},
				DisableSchemaValidation: true,
			},
		},
	}
	if d := cmp.Diff(want, s, cmpOpts); d != "" {
		t.Errorf("Parse (-want +got):\n%s", d)
	}
	if !s.Spec.IsHelm() || s.HelmReleaseName() != "front" {
		t.Errorf("IsHelm %v, release name %q", s.Spec.IsHelm(), s.HelmReleaseName())
	}

	// The canonical form parses back to the same spec and digest.
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal): %v\n%s", err, out)
	}
	if back.Digest() != s.Digest() {
		t.Errorf("digest changed through Marshal:\n%s", out)
	}
	if d := cmp.Diff(s.Spec.Helm.Values["nested"], back.Spec.Helm.Values["nested"]); d != "" {
		t.Errorf("values through Marshal (-before +after):\n%s", d)
	}
}

func TestParseHelmDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       SyncSpec
	}{{
		name: "oci repository without helm section",
		spec: "source:\n    helm:\n      url: oci://ghcr.io/stefanprodan/charts/podinfo",
		want: SyncSpec{Source: Source{Helm: &HelmSource{
			URL: "oci://ghcr.io/stefanprodan/charts/podinfo", Version: "*", Timeout: NewDuration(DefaultHelmTimeout),
		}}},
	}, {
		name: "chart in a Git directory",
		spec: "source:\n    git:\n      url: https://example.com/r.git\n  path: charts/app\n  helm:\n    valuesFrom:\n    - {kind: ConfigMap, name: v}",
		want: SyncSpec{
			Source: Source{Git: &GitSource{URL: "https://example.com/r.git", Timeout: NewDuration(DefaultGitTimeout)}},
			Path:   "./charts/app",
			Helm: &HelmSpec{
				ValuesFrom: []ValuesReference{{Kind: "ConfigMap", Name: "v", ValuesKey: DefaultValuesKey}},
				CRDs:       CRDsCreate, PostRenderStrategy: PostRenderCombined,
			},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: web\nspec:\n  " + tc.spec + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Schedule, tc.want.Prune, tc.want.Timeout = DefaultSchedule, ptr(true), NewDuration(DefaultTimeout)
			if tc.want.Path == "" {
				tc.want.Path = "./"
			}
			if d := cmp.Diff(tc.want, s.Spec, cmpOpts); d != "" {
				t.Errorf("Parse (-want +got):\n%s", d)
			}
			if s.HelmReleaseName() != "web" || s.Spec.Helm.CRDPolicy() != CRDsCreate || !s.Spec.IsHelm() {
				t.Errorf("release name %q, CRD policy %q", s.HelmReleaseName(), s.Spec.Helm.CRDPolicy())
			}
		})
	}
}

func TestParseHelmErrors(t *testing.T) {
	doc := func(spec string) string {
		return "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: web\nspec:\n" + spec + "\n"
	}
	helmSrc := "  source:\n    helm:\n      url: https://charts.example.com\n      chart: app\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"two sources", doc("  source:\n    git: {url: https://example.com/r.git}\n    helm: {url: https://c.example.com, chart: a}"), []string{
			`spec.source: Forbidden: set exactly one source kind, not git and helm`,
		}},
		{"no url", doc("  source:\n    helm: {chart: a}"), []string{
			`spec.source.helm.url: Required value: https://... (a repository with index.yaml) or oci://... (an OCI registry)`,
		}},
		{"bad scheme", doc("  source:\n    helm: {url: 's3://bucket', chart: a}"), []string{
			`spec.source.helm.url: Invalid value: "s3://bucket": must start with https:// (a repository with index.yaml) or oci:// (an OCI registry)`,
		}},
		{"http without insecure, chart missing", doc("  source:\n    helm: {url: 'http://c.example.com'}"), []string{
			`spec.source.helm.url: Invalid value: "http://c.example.com": plain http:// is allowed only with insecure: true; use https://`,
			`spec.source.helm.chart: Required value: the chart's name in the repository`,
		}},
		{"insecure on https, credentials in the url", doc("  source:\n    helm: {url: 'https://u:p@c.example.com', chart: a, insecure: true}"), []string{
			`spec.source.helm.url: Invalid value: "https://xxxxx@c.example.com": may not hold credentials; put them in the Secret named by secretRef`,
			`spec.source.helm.insecure: Forbidden: only allowed with an http:// or oci:// URL: it permits plain HTTP and does not disable TLS verification`,
		}},
		{"oci with tag, bad chart name, bad version, bad timeout", doc("  source:\n    helm: {url: 'oci://ghcr.io/x:1.0', chart: '../a', version: latest, timeout: soon}"), []string{
			`spec.source.helm.url: Invalid value: "oci://ghcr.io/x:1.0": must be oci://host[:port]/path, a registry repository without tag or digest (the chart is url/chart)`,
			`spec.source.helm.chart: Invalid value: "../a": a chart name: letters, digits, '-', '_', '.' and '+', starting with a letter or digit`,
			`spec.source.helm.version: Invalid value: "latest": not a version or semver range`,
			`spec.source.helm.timeout: Invalid value: "soon": must be a duration such as "90s" or "1m30s"`,
		}},
		{"helm source with a path and kustomize fields", doc(helmSrc + "  path: sub\n  namePrefix: a-\n  images: [{name: nginx, newTag: '1'}]\n  postBuild: {substitute: {a: b}}"), []string{
			`spec.path: Forbidden: a chart from spec.source.helm has no path; to render a chart directory of a Git source, use spec.source.git with spec.helm`,
			`spec.namePrefix: Forbidden: not used when rendering a Helm chart`,
			`spec.images: Forbidden: not used when rendering a Helm chart; use spec.helm.postRenderers[].kustomize.images`,
			`spec.postBuild: Forbidden: not used when rendering a Helm chart; use spec.helm.values or valuesFrom`,
		}},
		{"helm section without any source", doc("  helm: {releaseName: a}"), []string{
			`spec.source: Required value: set exactly one source kind: git or helm or oci or bucket`,
			`spec.source: Required value: spec.helm needs a chart: spec.source.helm, or spec.source.git, spec.source.oci or spec.source.bucket with spec.path naming the chart directory`,
		}},
		{"helm section fields", doc(helmSrc + `  helm:
    releaseName: Front_End
    valuesFrom:
      - {kind: Secret, name: a}
      - {kind: Secret, name: a, valuesKey: values.yaml}
      - {kind: Pod, name: ''}
      - {kind: ConfigMap, name: b, valuesKey: 'a b', targetPath: 'a=b,c'}
    valuesFiles: ['../up.yaml', '/abs.yaml', '']
    crds: Always
    postRenderStrategy: sometimes
    postRenderers:
      - {}
      - kustomize: {}
      - kustomize:
          patches: [{patch: "- {op: add, path: /x}"}]
          images: [{name: nginx}]`), []string{
			`spec.helm.releaseName: Invalid value: "Front_End": a Helm release name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
			`spec.helm.valuesFrom[1]: Duplicate value: "Secret/a values.yaml"`,
			`spec.helm.valuesFrom[2].kind: Unsupported value: "Pod": supported values: "ConfigMap", "Secret"`,
			`spec.helm.valuesFrom[2].name: Required value`,
			`spec.helm.valuesFrom[3].valuesKey: Invalid value: "a b": a data key: letters, digits, '-', '_' and '.', at most 253 characters`,
			`spec.helm.valuesFrom[3].targetPath: Invalid value: "a=b,c": a dotted path such as a.b[0].c: letters, digits, '_', '-', '.', '/', '\' and [index], at most 250 characters`,
			`spec.helm.valuesFiles[0]: Invalid value: "../up.yaml": must be a file path relative to the chart directory that stays inside it`,
			`spec.helm.valuesFiles[1]: Invalid value: "/abs.yaml": must be a file path relative to the chart directory that stays inside it`,
			`spec.helm.valuesFiles[2]: Invalid value: "": must be a file path relative to the chart directory that stays inside it`,
			`spec.helm.crds: Unsupported value: "Always": supported values: "Create", "CreateReplace", "Skip"`,
			`spec.helm.postRenderStrategy: Unsupported value: "sometimes": supported values: "combined", "separate", "nohooks"`,
			`spec.helm.postRenderers[0].kustomize: Required value: the only kind of post-renderer`,
			`spec.helm.postRenderers[1].kustomize: Required value: set patches or images`,
			`spec.helm.postRenderers[2].kustomize.patches[0].target: Required value: a JSON 6902 patch needs a target`,
			`spec.helm.postRenderers[2].kustomize.patches[0].patch: Invalid value: operation 0: add needs a value`,
			`spec.helm.postRenderers[2].kustomize.images[0]: Required value: set newName, newTag or digest`,
		}},
		{"values that are not a map", doc(helmSrc + "  helm:\n    values: [a, b]"), []string{
			`spec.helm.values: Invalid value: a list: must be an object`,
		}},
		{"helm tests", doc(helmSrc + "  helm:\n    test: {enable: true, timeout: 0s, filters: [{name: ''}, {name: a, exclude: true}]}"), []string{
			`spec.helm.test.timeout: Invalid value: "0s": must be greater than 0`,
			`spec.helm.test.filters[0].name: Invalid value: "": a test's name: 1 to 253 characters`,
		}},
		{"unknown helm field", doc(helmSrc + "  helm:\n    chart: app"), []string{
			`spec.helm.chart: Forbidden: unknown field`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if d := cmp.Diff(tc.want, errorStrings(err)); d != "" {
				t.Errorf("errors (-want +got):\n%s\n%s", d, tc.doc)
			}
		})
	}
}

func TestHelmTestFilters(t *testing.T) {
	for _, tc := range []struct {
		filters HelmTestFilters
		runs    []string // of a, b, c
	}{
		{nil, []string{"a", "b", "c"}},
		{HelmTestFilters{{Name: "b"}}, []string{"b"}},
		{HelmTestFilters{{Name: "b", Exclude: true}}, []string{"a", "c"}},
		{HelmTestFilters{{Name: "a"}, {Name: "b"}, {Name: "a", Exclude: true}}, []string{"b"}},
		{HelmTestFilters{{Name: "x"}}, nil},
	} {
		var got []string
		for _, n := range []string{"a", "b", "c"} {
			if tc.filters.Runs(n) {
				got = append(got, n)
			}
		}
		if d := cmp.Diff(tc.runs, got); d != "" {
			t.Errorf("filters %+v (-want +got):\n%s", tc.filters, d)
		}
	}
	s := &SyncSpec{Helm: &HelmSpec{Test: &HelmTest{Enable: true}}}
	if got := s.HelmTestTimeout(); got != DefaultTimeout {
		t.Errorf("test timeout without spec.timeout: %s", got)
	}
	s.Timeout = NewDuration(time.Minute)
	if got := s.HelmTestTimeout(); got != time.Minute {
		t.Errorf("test timeout with spec.timeout 1m: %s", got)
	}
	s.Helm.Test.Timeout = NewDuration(2 * time.Minute)
	if got := s.HelmTestTimeout(); got != 2*time.Minute {
		t.Errorf("test timeout 2m: %s", got)
	}
	s.Helm.Test.Enable = false
	if got := s.HelmTestTimeout(); got != 0 {
		t.Errorf("test timeout when disabled: %s", got)
	}
}

func TestHelmDigest(t *testing.T) {
	digest := func(t *testing.T, values string) string {
		t.Helper()
		s, err := Parse([]byte("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: web\nspec:\n  source:\n    helm: {url: 'oci://r.example.com/c/app'}\n  helm:\n    values:\n" + values + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s.Digest()
	}
	base := digest(t, "      b: {y: 2, x: 1}\n      a: [1, 2]")
	if d := digest(t, "      a: [1,   2]\n      b:\n        x: 1\n        y: 2"); d != base {
		t.Error("reformatted values changed the digest")
	}
	for _, changed := range []string{
		"      b: {y: 2, x: 1}\n      a: [2, 1]",
		"      b: {y: 2, x: '1'}\n      a: [1, 2]",
		"      b: {y: 2, x: 1, z: null}\n      a: [1, 2]",
	} {
		if digest(t, changed) == base {
			t.Errorf("values %q have the digest of the base values", strings.TrimSpace(changed))
		}
	}
}
