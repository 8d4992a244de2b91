package helm

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/tests/cluster"
)

// TestRenderWithClusterCapabilities renders against what a real API server
// reports, before and after a CRD is installed.
func TestRenderWithClusterCapabilities(t *testing.T) {
	env, err := cluster.Start(t.Context(), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	dc, err := kube.NewDiscovery(env.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	kv, apis, err := ClusterCapabilities(t.Context(), dc)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := dc.ServerVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if kv != sv.GitVersion || !strings.HasPrefix(kv, "v1.") {
		t.Errorf("kube version %q, server says %q", kv, sv.GitVersion)
	}
	for _, want := range []string{"v1", "apps/v1", "apps/v1/Deployment", "batch/v1/CronJob", "apiextensions.k8s.io/v1/CustomResourceDefinition"} {
		if !slices.Contains(apis, want) {
			t.Errorf("API versions lack %s", want)
		}
	}
	if slices.Contains(apis, "example.com/v1") {
		t.Error("API versions list example.com/v1 before its CRD exists")
	}

	// Install the chart's CRD as the orchestrator would, then ask again.
	var crd map[string]any
	if err := yaml.Unmarshal([]byte(fullChart().CRDs["widgets.yaml"]), &crd); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := env.Dynamic().Resource(gvr).Create(t.Context(), &unstructured.Unstructured{Object: crd}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(apis, "example.com/v1/Widget") {
		if time.Now().After(deadline) {
			t.Fatal("example.com/v1/Widget never appeared in discovery")
		}
		time.Sleep(200 * time.Millisecond)
		if _, apis, err = ClusterCapabilities(t.Context(), dc); err != nil {
			t.Fatal(err)
		}
	}

	c := fullChart()
	c.Templates["caps.yaml"] += `  hasWidgets: {{ .Capabilities.APIVersions.Has "example.com/v1/Widget" | quote }}
`
	out, err := Render(t.Context(), RenderOptions{ChartPath: packaged(t, c), ReleaseName: "web", KubeVersion: kv, APIVersions: apis})
	if err != nil {
		t.Fatal(err)
	}
	d := data(t, out.Objects, "ConfigMap", "caps")
	minor := strings.Split(strings.TrimPrefix(kv, "v"), ".")[1]
	if d["kubeVersion"] != kv || d["minor"] != minor || d["hasDeploymentKind"] != "true" || d["hasWidgets"] != "true" || d["hasMonitoring"] != "false" {
		t.Errorf(".Capabilities from the cluster: %v", d)
	}
}
