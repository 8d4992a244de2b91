package action

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
)

func TestOfflineConfig(t *testing.T) {
	client, err := kubernetes.NewForConfig(OfflineConfig())
	must(t, err)
	_, err = client.CoreV1().ConfigMaps("ns").Get(t.Context(), "x", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "--offline reads nothing from a cluster") {
		t.Errorf("Get: %v, want a NotFound that says why", err)
	}
	v, err := client.Discovery().ServerVersion()
	must(t, err)
	if v.Major != "1" || v.Minor == "0" {
		t.Errorf("version %+v: not the client's", v)
	}
	groups, err := restmapper.GetAPIGroupResources(client.Discovery())
	must(t, err)
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	for gk, namespaced := range map[schema.GroupKind]bool{
		{Kind: "ConfigMap"}: true, {Kind: "Namespace"}: false, {Group: "apps", Kind: "Deployment"}: true,
		{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: false,
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         false,
	} {
		m, err := mapper.RESTMapping(gk)
		if err != nil {
			t.Errorf("%s: %v", gk, err)
			continue
		}
		if got := m.Scope.Name() == "namespace"; got != namespaced || m.GroupVersionKind.Version != "v1" {
			t.Errorf("%s: namespaced %v, version %s", gk, got, m.GroupVersionKind.Version)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	got := []string{"v1beta1", "v1alpha1", "v2", "v1", "v2beta1", "v1beta2"}
	slices.SortFunc(got, func(a, b string) int { return -compareVersions(a, b) })
	if want := []string{"v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestClientMinorIsGoMods(t *testing.T) {
	data, err := os.ReadFile("../../go.mod")
	must(t, err)
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go v0\.(\d+)\.`).FindSubmatch(data)
	if m == nil || string(m[1]) != clientMinor {
		t.Errorf("go.mod requires k8s.io/client-go %q; clientMinor is %s", m, clientMinor)
	}
}
