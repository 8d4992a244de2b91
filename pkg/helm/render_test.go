package helm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

const hooksYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "5"
    helm.sh/hook-delete-policy: hook-succeeded,before-hook-creation
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: m
        image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: pre-config
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-weight: "-1"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: notify
  annotations:
    helm.sh/hook: post-install, post-upgrade
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: n
        image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: "{{ .Release.Name }}-test"
  annotations:
    helm.sh/hook: test
spec:
  containers:
  - name: t
    image: busybox
`

// fullChart exercises templates, helpers, capabilities, hooks, CRDs and
// notes.
func fullChart() helmrepo.Chart {
	return helmrepo.Chart{
		Name:       "full",
		Version:    "1.2.3",
		AppVersion: "9.9",
		Values:     "replicas: 1\nimage: nginx:1.25\nextra: {}\n",
		Templates: map[string]string{
			"_helpers.tpl": `{{- define "full.labels" -}}app: {{ .Release.Name }}{{- end -}}`,
			"deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    {{- include "full.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      {{- include "full.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "full.labels" . | nindent 8 }}
    spec:
      containers:
      - name: app
        image: {{ .Values.image }}
`,
			"caps.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: caps
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  minor: {{ .Capabilities.KubeVersion.Minor | quote }}
  hasMonitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  hasDeploymentKind: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
  isUpgrade: {{ .Release.IsUpgrade | quote }}
  revision: {{ .Release.Revision | quote }}
  namespace: {{ .Release.Namespace | quote }}
`,
			"hooks.yaml": hooksYAML,
			"NOTES.txt":  "Installed {{ .Release.Name }}.",
			"empty.yaml": "{{- if false }}\nnothing: here\n{{- end }}\n",
		},
		CRDs: map[string]string{"widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
`},
	}
}

// packaged packages c into a temporary directory and returns the path.
func packaged(t testing.TB, c helmrepo.Chart) string {
	t.Helper()
	tgz, err := c.Package()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), c.Name+".tgz")
	if err := os.WriteFile(p, tgz, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ids names objects as Kind/namespace/name or Kind/name.
func ids(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = objectID(o)
	}
	return out
}

func data(t *testing.T, objs []*unstructured.Unstructured, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			d, _ := o.Object["data"].(map[string]any)
			return d
		}
	}
	t.Fatalf("no %s/%s in %v", kind, name, ids(objs))
	return nil
}

func TestRenderObjectsAndCapabilities(t *testing.T) {
	p := packaged(t, fullChart())
	out, err := Render(t.Context(), RenderOptions{
		ChartPath: p, ReleaseName: "web", Namespace: "apps",
		Values:      map[string]any{"replicas": 3},
		KubeVersion: "v1.37.2",
		APIVersions: []string{"v1", "apps/v1", "apps/v1/Deployment", "monitoring.coreos.com/v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ConfigMap/caps", "Deployment/web"}, ids(out.Objects)); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"full/templates/caps.yaml", "full/templates/deploy.yaml"}, out.Sources); d != "" {
		t.Errorf("sources (-want +got):\n%s", d)
	}
	want := map[string]any{
		"kubeVersion": "v1.37.2", "minor": "37", "hasMonitoring": "true", "hasDeploymentKind": "true",
		"isUpgrade": "false", "revision": "1", "namespace": "apps",
	}
	if d := cmp.Diff(want, data(t, out.Objects, "ConfigMap", "caps")); d != "" {
		t.Errorf(".Capabilities and .Release (-want +got):\n%s", d)
	}
	deploy := out.Objects[1].Object
	if r := deploy["spec"].(map[string]any)["replicas"]; r != int64(3) {
		t.Errorf("replicas %v (%T), want the value 3 over the chart's 1", r, r)
	}
	if out.Notes != "Installed web." {
		t.Errorf("notes %q", out.Notes)
	}
	if out.Chart != "full" || out.Version != "1.2.3" || out.AppVersion != "9.9" {
		t.Errorf("chart %s %s %s", out.Chart, out.Version, out.AppVersion)
	}
	if out.Objects[1].GetNamespace() != "" {
		t.Errorf("an object without a namespace got %q; the orchestrator puts it in the release namespace", out.Objects[1].GetNamespace())
	}

	// Another cluster answers differently; an upgrade says so.
	out2, err := Render(t.Context(), RenderOptions{
		ChartPath: p, ReleaseName: "web", KubeVersion: "1.30.1-gke.1", APIVersions: []string{"v1"},
		IsUpgrade: true, Revision: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{
		"kubeVersion": "v1.30.1-gke.1", "minor": "30", "hasMonitoring": "false", "hasDeploymentKind": "false",
		"isUpgrade": "true", "revision": "4", "namespace": "default",
	}
	if d := cmp.Diff(want, data(t, out2.Objects, "ConfigMap", "caps")); d != "" {
		t.Errorf("upgrade on another cluster (-want +got):\n%s", d)
	}
	if out.Digest == out2.Digest {
		t.Error("different renders have the same digest")
	}
	again, err := Render(t.Context(), RenderOptions{
		ChartPath: p, ReleaseName: "web", Namespace: "apps", Values: map[string]any{"replicas": 3},
		KubeVersion: "v1.37.2", APIVersions: []string{"v1", "apps/v1", "apps/v1/Deployment", "monitoring.coreos.com/v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != out.Digest {
		t.Errorf("the same render twice has digests %s and %s", out.Digest, again.Digest)
	}
}

func TestRenderHooks(t *testing.T) {
	p := packaged(t, fullChart())
	type hook struct {
		ID       string
		Source   string
		Events   []HookEvent
		Weight   int
		Policies []HookDeletePolicy
	}
	summary := func(hs []Hook) []hook {
		var out []hook
		for _, h := range hs {
			out = append(out, hook{objectID(h.Object), h.Source, h.Events, h.Weight, h.DeletePolicies})
		}
		return out
	}
	out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web"})
	if err != nil {
		t.Fatal(err)
	}
	src := "full/templates/hooks.yaml"
	want := []hook{
		{"ConfigMap/pre-config", src, []HookEvent{HookPreInstall}, -1, []HookDeletePolicy{HookBeforeHookCreation}},
		{"Job/notify", src, []HookEvent{HookPostInstall, HookPostUpgrade}, 0, []HookDeletePolicy{HookBeforeHookCreation}},
		{"Job/migrate", src, []HookEvent{HookPreInstall, HookPreUpgrade}, 5, []HookDeletePolicy{HookSucceeded, HookBeforeHookCreation}},
	}
	if d := cmp.Diff(want, summary(out.Hooks)); d != "" {
		t.Errorf("hooks (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[0:1], summary(out.HooksFor(HookPreInstall))[0:1]); d != "" {
		t.Errorf("first pre-install hook (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ConfigMap/pre-config", "Job/migrate"}, idsOf(out.HooksFor(HookPreInstall))); d != "" {
		t.Errorf("pre-install order (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"Job/migrate"}, idsOf(out.HooksFor(HookPreUpgrade))); d != "" {
		t.Errorf("pre-upgrade (-want +got):\n%s", d)
	}
	if len(out.HooksFor(HookTest)) != 0 {
		t.Error("test hooks are rendered by default")
	}
	for _, o := range out.Objects {
		if _, ok := o.GetAnnotations()[HookAnnotation]; ok {
			t.Errorf("hook %s is among the objects", objectID(o))
		}
	}

	withTests, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", IncludeTestHooks: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"Pod/web-test"}, idsOf(withTests.HooksFor(HookTest))); d != "" {
		t.Errorf("test hooks when asked for (-want +got):\n%s", d)
	}
}

func idsOf(hs []Hook) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = objectID(h.Object)
	}
	return out
}

func TestRenderCRDPolicies(t *testing.T) {
	p := packaged(t, fullChart())
	for _, tc := range []struct {
		policy CRDPolicy
		want   []string
	}{
		{"", []string{"CustomResourceDefinition/widgets.example.com"}},
		{CRDsCreate, []string{"CustomResourceDefinition/widgets.example.com"}},
		{CRDsCreateReplace, []string{"CustomResourceDefinition/widgets.example.com"}},
		{CRDsSkip, []string{}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", CRDs: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, ids(out.CRDs)); d != "" {
				t.Errorf("CRDs (-want +got):\n%s", d)
			}
			wantPolicy := tc.policy
			if wantPolicy == "" {
				wantPolicy = CRDsCreate
			}
			if out.CRDPolicy != wantPolicy {
				t.Errorf("policy %s, want %s", out.CRDPolicy, wantPolicy)
			}
			if len(out.CRDs) > 0 && out.CRDSources[0] != "full/crds/widgets.yaml" {
				t.Errorf("CRD source %s", out.CRDSources[0])
			}
			for _, o := range out.Objects {
				if o.GetKind() == "CustomResourceDefinition" {
					t.Error("a CRD of crds/ is among the objects")
				}
			}
		})
	}
	if _, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", CRDs: "Always"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("unknown policy: %v", err)
	}
}

// parentChart has two subcharts, one behind a condition, one aliased.
func parentChart() helmrepo.Chart {
	sub := func(name, version string) helmrepo.Chart {
		return helmrepo.Chart{
			Name: name, Version: version, Values: "port: 80\n",
			Templates: map[string]string{"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\nspec:\n  ports: [{port: {{ .Values.port }}}]\n"},
			CRDs:      map[string]string{"c.yaml": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: " + name + "s.example.com\n"},
		}
	}
	return helmrepo.Chart{
		Name: "parent", Version: "1.0.0",
		Values:    "db:\n  enabled: true\ncache:\n  port: 6379\n",
		Templates: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: parent\n"},
		Dependencies: []helmrepo.Dependency{
			{Name: "db", Version: "~1.2.0", Condition: "db.enabled"},
			{Name: "redis", Version: "2.x", Alias: "cache"},
		},
		Subcharts: []helmrepo.Chart{sub("db", "1.2.5"), sub("redis", "2.0.1")},
		Lock:      true,
	}
}

func TestRenderSubcharts(t *testing.T) {
	p := packaged(t, parentChart())
	out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ConfigMap/parent", "Service/r-cache", "Service/r-db"}, ids(out.Objects)); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"parent/charts/cache/templates/svc.yaml", "parent/charts/db/templates/svc.yaml"}, out.Sources[1:]); d != "" {
		t.Errorf("sources (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"CustomResourceDefinition/dbs.example.com", "CustomResourceDefinition/rediss.example.com"}, ids(out.CRDs)); d != "" {
		t.Errorf("subchart CRDs (-want +got):\n%s", d)
	}
	port := out.Objects[1].Object["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"]
	if port != int64(6379) {
		t.Errorf("aliased subchart port %v, want the parent's 6379", port)
	}

	off, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "r", Values: map[string]any{"db": map[string]any{"enabled": false}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ConfigMap/parent", "Service/r-cache"}, ids(off.Objects)); d != "" {
		t.Errorf("with db disabled (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"CustomResourceDefinition/rediss.example.com"}, ids(off.CRDs)); d != "" {
		t.Errorf("CRDs with db disabled (-want +got):\n%s", d)
	}
}

func TestRenderDependencyErrors(t *testing.T) {
	missing := parentChart()
	missing.Subcharts = missing.Subcharts[1:]
	wrong := parentChart()
	wrong.Dependencies[0].Version = "^2.0.0"
	for _, tc := range []struct {
		name    string
		chart   helmrepo.Chart
		message string
	}{
		{"missing", missing, "parent: dependency db ~1.2.0 is declared in Chart.yaml but missing in charts/"},
		{"wrong version", wrong, "parent: dependency db: charts/ holds version 1.2.5, Chart.yaml asks for ^2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, tc.chart), ReleaseName: "r"})
			if !errors.Is(err, ErrInvalidChart) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Render: %v, want ErrInvalidChart containing %q", err, tc.message)
			}
		})
	}
}

func TestRenderChartFromGitDirectory(t *testing.T) {
	root := t.TempDir()
	chartDir := filepath.Join(root, "deploy", "charts", "app")
	if err := parentChart().WriteDir(chartDir); err != nil {
		t.Fatal(err)
	}
	out, err := Render(t.Context(), RenderOptions{ChartPath: chartDir, Root: root, ReleaseName: "git"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ConfigMap/parent", "Service/git-cache", "Service/git-db"}, ids(out.Objects)); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}

	t.Run("symlink leaving the source", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "secret.yaml")
		if err := os.WriteFile(outside, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "evil")
		if err := fullChart().WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "templates", "stolen.yaml")); err != nil {
			t.Fatal(err)
		}
		if _, err := Render(t.Context(), RenderOptions{ChartPath: dir, Root: root, ReleaseName: "x"}); err == nil || !strings.Contains(err.Error(), "symlink leads outside the source") {
			t.Fatalf("Render: %v", err)
		}
	})
	t.Run("huge values file", func(t *testing.T) {
		// A sparse 1 GiB values.yaml: refused before Helm reads it.
		dir := filepath.Join(root, "huge")
		if err := fullChart().WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(dir, "values.yaml"), 1<<30); err != nil {
			t.Fatal(err)
		}
		_, err := Render(t.Context(), RenderOptions{ChartPath: dir, Root: root, ReleaseName: "x"})
		if !errors.Is(err, render.ErrFileTooLarge) || !errors.Is(err, ErrInvalidChart) || !strings.Contains(err.Error(), filepath.Join(dir, "values.yaml")) {
			t.Fatalf("Render: %v", err)
		}
	})
	t.Run("alias bomb in values.yaml", func(t *testing.T) {
		// Nine levels of nine aliases: refused by Helm's YAML reader
		// before it expands them.
		bomb := "a0: &a0 [x,x,x,x,x,x,x,x,x]\n"
		for i := 1; i < 9; i++ {
			bomb += fmt.Sprintf("a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
		}
		c := fullChart()
		c.Values = bomb
		dir := filepath.Join(root, "bomb")
		if err := c.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := Render(t.Context(), RenderOptions{ChartPath: dir, Root: root, ReleaseName: "x"})
		if !errors.Is(err, ErrInvalidChart) || !strings.Contains(err.Error(), "values.yaml") || !strings.Contains(err.Error(), "excessive aliasing") {
			t.Fatalf("Render: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("chart outside the source", func(t *testing.T) {
		other := t.TempDir()
		if err := fullChart().WriteDir(other); err != nil {
			t.Fatal(err)
		}
		if _, err := Render(t.Context(), RenderOptions{ChartPath: other, Root: root, ReleaseName: "x"}); !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("Render: %v", err)
		}
	})
}

func TestRenderPostRenderers(t *testing.T) {
	p := packaged(t, fullChart())
	out, err := Render(t.Context(), RenderOptions{
		ChartPath: p, ReleaseName: "web",
		PostRenderers: []PostRenderer{{
			Patches: []render.Patch{{
				Patch:  "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: any\n  labels:\n    patched: \"yes\"\n",
				Target: &render.Selector{Kind: "Job"},
			}, {
				Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 7\n",
			}},
			Images: []render.Image{{Name: "nginx", NewTag: "1.27"}},
		}, {
			// The second post-renderer sees the first one's output.
			Images: []render.Image{{Name: "nginx", NewName: "mirror.example/nginx"}},
		}},
		CommonMetadata: &render.CommonMetadata{Labels: map[string]string{"team": "a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deploy := out.Objects[1].Object
	spec := deploy["spec"].(map[string]any)
	image := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]
	if spec["replicas"] != int64(7) || image != "mirror.example/nginx:1.27" {
		t.Errorf("deployment replicas %v image %v, want 7 and mirror.example/nginx:1.27", spec["replicas"], image)
	}
	if out.Objects[1].GetLabels()["team"] != "a" || out.CRDs[0].GetLabels()["team"] != "a" {
		t.Error("common labels missing on objects or CRDs")
	}
	if out.Sources[1] != "full/templates/deploy.yaml" {
		t.Errorf("source after post-rendering: %s", out.Sources[1])
	}
	// Hooks are post-rendered too (separately from the objects).
	for _, h := range out.Hooks {
		if h.Object.GetKind() == "Job" && h.Object.GetLabels()["patched"] != "yes" {
			t.Errorf("hook %s not patched", objectID(h.Object))
		}
	}

	t.Run("a patch that breaks names the post-renderer", func(t *testing.T) {
		_, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", PostRenderers: []PostRenderer{{
			Patches: []render.Patch{{Patch: "- op: replace\n  path: /spec/nope/deeper\n  value: 1\n", Target: &render.Selector{Kind: "Deployment"}}},
		}}})
		if err == nil || !strings.Contains(err.Error(), "post-renderer 0") {
			t.Fatalf("Render: %v", err)
		}
	})
}

func TestRenderErrors(t *testing.T) {
	withTemplate := func(name, tpl string) helmrepo.Chart {
		c := simpleChart("bad", "0.1.0")
		c.Templates[name] = tpl
		return c
	}
	schemaChart := simpleChart("schema", "0.1.0")
	schemaChart.Schema = `{"type":"object","properties":{"greeting":{"type":"string","maxLength":10}},"required":["greeting"]}`
	refChart := simpleChart("ref", "0.1.0")
	refChart.Schema = `{"$ref":"https://example.invalid/schema.json"}`
	kubeChart := simpleChart("old", "0.1.0")
	kubeChart.KubeVersion = "<1.25.0"
	libChart := simpleChart("lib", "0.1.0")
	libChart.Type = "library"
	for _, tc := range []struct {
		name    string
		chart   helmrepo.Chart
		opts    RenderOptions
		message string
	}{
		{"required value names the template", withTemplate("need.yaml", "{{ required \"x must be set\" .Values.x }}"), RenderOptions{},
			"bad/templates/need.yaml"},
		{"object without kind names the file", withTemplate("nokind.yaml", "apiVersion: v1\nmetadata:\n  name: a\n"), RenderOptions{},
			"bad/templates/nokind.yaml: document 1 (line 1)"},
		{"duplicate object", withTemplate("dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel\n"), RenderOptions{},
			"duplicate object"},
		{"invalid YAML", withTemplate("broken.yaml", "a: [\n"), RenderOptions{},
			"bad/templates/broken.yaml: document 1"},
		{"unknown hook event", withTemplate("hook.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: h\n  annotations:\n    helm.sh/hook: pre-instal\n"), RenderOptions{},
			`bad/templates/hook.yaml: ConfigMap/h: invalid chart: annotation helm.sh/hook: unknown hook event "pre-instal"`},
		{"bad hook weight", withTemplate("hook.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: h\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-weight: heavy\n"), RenderOptions{},
			`"heavy" is not an integer`},
		{"values against the schema", schemaChart, RenderOptions{Values: map[string]any{"greeting": "far too long a greeting"}},
			"values do not satisfy the chart's values.schema.json:\n  schema: at '/greeting': maxLength: got 23, want 10"},
		{"schema reference outside the chart", refChart, RenderOptions{},
			"a chart's schema may only refer to itself"},
		{"kubeVersion constraint", kubeChart, RenderOptions{KubeVersion: "v1.37.2"},
			"the chart requires Kubernetes <1.25.0, the cluster runs v1.37.2"},
		{"library chart", libChart, RenderOptions{},
			"lib 0.1.0: a library chart cannot be installed"},
		{"missing values file", simpleChart("vf", "0.1.0"), RenderOptions{ValuesFiles: []string{"values-prod.yaml"}},
			"valuesFiles[0] values-prod.yaml: no such file in the chart"},
		{"release name", simpleChart("rn", "0.1.0"), RenderOptions{ReleaseName: "Not_Valid"},
			`release name "Not_Valid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.ChartPath = packaged(t, tc.chart)
			if opts.ReleaseName == "" {
				opts.ReleaseName = "rel"
			}
			_, err := Render(t.Context(), opts)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Render: %v\nwant an error containing %q", err, tc.message)
			}
		})
	}

	t.Run("values that satisfy the schema", func(t *testing.T) {
		if _, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, schemaChart), ReleaseName: "rel",
			Values: map[string]any{"greeting": "hi"}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("schema validation can be disabled", func(t *testing.T) {
		_, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, schemaChart), ReleaseName: "rel",
			Values: map[string]any{"greeting": "far too long a greeting"}, DisableSchemaValidation: true})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestRenderValuesFiles(t *testing.T) {
	c := simpleChart("vf", "0.1.0")
	c.Values = "greeting: hello\nnested: {a: 1, b: 2}\n"
	c.Files = map[string]string{"env/prod.yaml": "greeting: prod\nnested: {b: 3}\n"}
	c.Templates["n.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\ndata:\n  a: {{ .Values.nested.a | quote }}\n  b: {{ .Values.nested.b | quote }}\n"
	p := packaged(t, c)
	for _, tc := range []struct {
		name  string
		files []string
		want  map[string]any
	}{
		{"chart values", nil, map[string]any{"a": "1", "b": "2"}},
		{"values.yaml then prod", []string{"values.yaml", "env/prod.yaml"}, map[string]any{"a": "1", "b": "3"}},
		{"prod alone replaces values.yaml", []string{"./env/prod.yaml"}, map[string]any{"a": nil, "b": "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "rel", ValuesFiles: tc.files})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, data(t, out.Objects, "ConfigMap", "n")); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestRenderMergedValuesEndToEnd(t *testing.T) {
	// valuesFrom and inline values, merged as Flux does, then coalesced
	// over the chart's values by Render.
	vals, err := MergeValues([]ValuesSource{
		cm("base", "values.yaml", "greeting: from-configmap\n"),
		{Kind: "Secret", Name: "s", ValuesKey: "g", TargetPath: "greeting", Found: true, Data: map[string][]byte{"g": []byte("from-secret")}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, simpleChart("app", "1.0.0")), ReleaseName: "rel", Values: vals})
	if err != nil {
		t.Fatal(err)
	}
	if g := data(t, out.Objects, "ConfigMap", "rel")["greeting"]; g != "from-secret" {
		t.Errorf("greeting %v", g)
	}
}

func TestRenderPostRenderStrategies(t *testing.T) {
	c := fullChart()
	// A ServiceAccount that is both a regular object and (as a copy) a
	// pre-install hook, the case Helm's separate strategy exists for.
	c.Templates["sa.yaml"] = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shared\n"
	c.Templates["sa-hook.yaml"] = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shared\n  annotations:\n    helm.sh/hook: pre-install\n"
	p := packaged(t, c)
	jobPatch := []PostRenderer{{Patches: []render.Patch{{
		Patch:  "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: any\n  labels:\n    patched: \"yes\"\n",
		Target: &render.Selector{Kind: "Job"},
	}}}}
	meta := &render.CommonMetadata{Labels: map[string]string{"team": "a"}}
	migrate := func(out *Rendered) *unstructured.Unstructured {
		for _, h := range out.Hooks {
			if h.Object.GetName() == "migrate" {
				return h.Object
			}
		}
		t.Fatal("no migrate hook")
		return nil
	}

	t.Run("combined refuses an object that is also a hook", func(t *testing.T) {
		_, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", PostRenderers: jobPatch})
		if err == nil || !strings.Contains(err.Error(), "already registered id: ServiceAccount.v1.[noGrp]/shared") {
			t.Fatalf("Render: %v", err)
		}
	})
	t.Run("separate post-renders hooks on their own", func(t *testing.T) {
		out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", PostRenderers: jobPatch,
			PostRenderStrategy: PostRenderSeparate, CommonMetadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		if l := migrate(out).GetLabels(); l["patched"] != "yes" || l["team"] != "a" {
			t.Errorf("hook labels %v, want patched and team", l)
		}
		if d := cmp.Diff([]string{"ConfigMap/pre-config", "ServiceAccount/shared", "Job/migrate"}, idsOf(out.HooksFor(HookPreInstall))); d != "" {
			t.Errorf("pre-install hooks (-want +got):\n%s", d)
		}
	})
	t.Run("nohooks leaves hooks alone", func(t *testing.T) {
		out, err := Render(t.Context(), RenderOptions{ChartPath: p, ReleaseName: "web", PostRenderers: jobPatch,
			PostRenderStrategy: PostRenderNoHooks, CommonMetadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		if l := migrate(out).GetLabels(); len(l) != 0 {
			t.Errorf("hook labels %v, want none", l)
		}
		if out.Objects[0].GetLabels()["team"] != "a" {
			t.Errorf("object labels %v, want team", out.Objects[0].GetLabels())
		}
	})
	t.Run("without post-renderers the duplicate is fine", func(t *testing.T) {
		c := fullChart()
		c.Templates["sa.yaml"] = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shared\n"
		c.Templates["sa-hook.yaml"] = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shared\n  annotations:\n    helm.sh/hook: pre-install\n"
		if _, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, c), ReleaseName: "web"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRenderFollowsSymlinkedDirectoriesWhenConfining(t *testing.T) {
	root := t.TempDir()
	chartDir := filepath.Join(root, "app")
	if err := simpleChart("app", "1.0.0").WriteDir(chartDir); err != nil {
		t.Fatal(err)
	}
	// templates/shared -> ../../shared, inside the source, which holds a
	// symlink leading out of it.
	shared := filepath.Join(root, "shared")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(chartDir, "templates", "shared")); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(t.Context(), RenderOptions{ChartPath: chartDir, Root: root, ReleaseName: "x"}); err != nil {
		t.Fatalf("a symlink inside the source: %v", err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(shared, "leak.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(t.Context(), RenderOptions{ChartPath: chartDir, Root: root, ReleaseName: "x"}); err == nil || !strings.Contains(err.Error(), "shared/leak.yaml: symlink leads outside the source") {
		t.Fatalf("a symlink out through a symlinked directory: %v", err)
	}
}
