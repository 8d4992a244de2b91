package install

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitsync/gitsync/pkg/names"
)

func toUnstructured(t *testing.T, o runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func obj(apiVersion, kind, ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	if labels != nil {
		u.SetLabels(labels)
	}
	return u
}

// TestReservedGeneratedObjects: every object install writes, in both RBAC
// modes, is reserved — by its labels, and by its name alone once the labels
// are removed (a source can write any labels it likes).
func TestReservedGeneratedObjects(t *testing.T) {
	for _, mode := range RBACModes() {
		objs, err := Generate(sample(), Options{Image: "registry.example.com/sync-job:v1", RBAC: mode})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs.List() {
			u := toUnstructured(t, o)
			id := u.GetKind() + "/" + u.GetName()
			if reason, ok := Reserved(u); !ok {
				t.Errorf("%s %s: not reserved", mode, id)
			} else if !strings.Contains(reason, "label") && !strings.Contains(reason, "name") {
				t.Errorf("%s %s: reason %q names neither label nor name", mode, id, reason)
			}
			u.SetLabels(nil)
			if reason, ok := Reserved(u); !ok || !strings.Contains(reason, u.GetName()) {
				t.Errorf("%s %s without labels: Reserved = %q, %v; want reserved by name", mode, id, reason, ok)
			}
		}
	}
}

func TestReserved(t *testing.T) {
	deployment := func(sa string) *unstructured.Unstructured {
		u := obj("apps/v1", "Deployment", "team-a", "web", nil)
		_ = unstructured.SetNestedField(u.Object, sa, "spec", "template", "spec", "serviceAccountName")
		return u
	}
	cronJob := obj("batch/v1", "CronJob", "team-a", "nightly", nil)
	_ = unstructured.SetNestedField(cronJob.Object, "gitsync-admin", "spec", "jobTemplate", "spec", "template", "spec", "serviceAccountName")
	pod := obj("v1", "Pod", "team-a", "p", nil)
	_ = unstructured.SetNestedField(pod.Object, "gitsync-admin", "spec", "serviceAccount")

	for _, tt := range []struct {
		name string
		obj  *unstructured.Unstructured
		want string // "" when not reserved
	}{
		{"spec", obj("v1", "ConfigMap", "team-b", names.Spec("admin"), nil), "gitsync-admin is reserved"},
		{"inventory", obj("v1", "ConfigMap", "", names.Inventory("admin"), nil), "gitsync-admin-inventory is reserved"},
		{"history", obj("v1", "ConfigMap", "x", names.History("admin", 3), nil), "gitsync-admin-rev-3"},
		{"unit state", obj("v1", "ConfigMap", "x", names.Inventory("admin.ks.flux-system.apps"), nil), "reserved"},
		{"lease", obj("coordination.k8s.io/v1", "Lease", "x", names.Lease("admin"), nil), "a sync's Lease"},
		{"cronjob", obj("batch/v1", "CronJob", "x", names.CronJob("admin"), nil), "a sync's CronJob"},
		{"job", obj("batch/v1", "Job", "x", "gitsync-admin-29000000", nil), "a sync's run"},
		{"sa", obj("v1", "ServiceAccount", "x", names.ServiceAccount("admin"), nil), "ServiceAccount"},
		{"own role", obj("rbac.authorization.k8s.io/v1", "Role", "x", names.OwnRole("admin"), nil), "Role"},
		{"applier role", obj("rbac.authorization.k8s.io/v1", "RoleBinding", "x", names.Applier("ops", "admin"), nil), "gitsync:ops:admin"},
		{"cluster role", obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", names.Applier("ops", "admin"), nil), "ClusterRole"},
		{"cluster binding", obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", names.Applier("ops", "admin"), nil), "ClusterRoleBinding"},
		{"flux tree", obj("v1", "Secret", "x", "gitsync-admin-flux", nil), "Flux tree"},
		{"stored render", obj("v1", "Secret", "x", names.Render("admin"), nil), "stored Flux tree or render (gitsync-…-render)"},
		{"managed-by job", obj("v1", "ConfigMap", "x", "state", map[string]string{"app.kubernetes.io/managed-by": "gitsync"}), "managed-by=gitsync"},
		{"managed-by plugin", obj("v1", "Secret", "x", "s", map[string]string{"app.kubernetes.io/managed-by": "kubectl-gitsync"}), "managed-by=kubectl-gitsync"},
		{"kind label", obj("v1", "ConfigMap", "x", "renamed", map[string]string{"gitsync.io/kind": "spec"}), "gitsync.io/kind=spec"},
		{"unit-of label", obj("v1", "ConfigMap", "x", "renamed", map[string]string{"gitsync.io/unit-of": "admin"}), "gitsync.io/unit-of=admin"},
		{"runs as a sync", deployment("gitsync-admin"), "spec.template.spec.serviceAccountName gitsync-admin"},
		{"cronjob runs as a sync", cronJob, "spec.jobTemplate.spec.template.spec.serviceAccountName gitsync-admin"},
		{"pod runs as a sync", pod, "spec.serviceAccount gitsync-admin"},

		{"app configmap", obj("v1", "ConfigMap", "x", "web", nil), ""},
		{"prefix alone", obj("v1", "ConfigMap", "x", "gitsync-", nil), ""},
		{"credentials secret", obj("v1", "Secret", "x", "gitsync-admin-auth", nil), ""},
		{"cluster role with the prefix", obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "gitsync-viewer", nil), ""},
		{"other group", obj("example.com/v1", "ConfigMap", "x", "gitsync-admin", nil), ""},
		{"sync label alone", obj("v1", "ConfigMap", "x", "web", map[string]string{names.LabelSync: "admin", "app.kubernetes.io/managed-by": "helm"}), ""},
		{"workload with its own account", deployment("web"), ""},
		{"workload with the default account", deployment(""), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reason, ok := Reserved(tt.obj)
			if ok != (tt.want != "") {
				t.Fatalf("Reserved = %q, %v; want reserved %v", reason, ok, tt.want != "")
			}
			if !strings.Contains(reason, tt.want) {
				t.Errorf("reason %q does not mention %q", reason, tt.want)
			}
		})
	}
}

func TestClusterModeWarning(t *testing.T) {
	if w := ClusterModeWarning(RBACCluster, "team-a"); !strings.Contains(w, "namespace team-a") || !strings.Contains(w, ClusterNamespace) {
		t.Errorf("cluster mode in a tenant namespace: %q", w)
	}
	if w := ClusterModeWarning(RBACCluster, ClusterNamespace); w != "" {
		t.Errorf("cluster mode in %s: %q, want none", ClusterNamespace, w)
	}
	if w := ClusterModeWarning(RBACNamespace, "team-a"); w != "" {
		t.Errorf("namespace mode: %q, want none", w)
	}
}
