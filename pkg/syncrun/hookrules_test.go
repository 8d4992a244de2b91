package syncrun

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// chartSpec installs the chart in ./chart of the fixture's repository.
func (f *fixture) chartSpec() {
	f.writeSpec(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: app, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./chart
  timeout: 20s
  helm: {}
`, f.ns, f.git.HTTPURL("app")))
}

// TestHelmHookLeavesForeignObject: a hook whose name is taken by an object
// that is not this sync's (made by hand, by another tool or another sync)
// must neither delete it (before-hook-creation, the default policy) nor
// take it over: the run fails naming it, and the object is untouched.
func TestHelmHookLeavesForeignObject(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{
		"chart/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n",
		"chart/templates/hook.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations:
    helm.sh/hook: pre-install
data:
  from: hook
`,
	})
	f.chartSpec()
	foreign, err := env.Client().CoreV1().ConfigMaps(f.ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: f.ns},
		Data:       map[string]string{"from": "someone else"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := f.run()
	if res.Outcome != Failed || !strings.Contains(res.Message, "ConfigMap/"+f.ns+"/settings") || !strings.Contains(res.Message, "not this sync's") {
		t.Fatalf("outcome %s, message %q; want Failed naming the foreign object", res.Outcome, res.Message)
	}
	live, err := f.configMap("settings")
	if err != nil {
		t.Fatalf("the foreign object was deleted: %v", err)
	}
	if live.UID != foreign.UID || live.Data["from"] != "someone else" {
		t.Errorf("the foreign object was replaced or changed: uid %s (was %s), data %v", live.UID, foreign.UID, live.Data)
	}
	f.mustNotHave("app-config")

	// The hook's own object from an earlier run is still replaced.
	if err := env.Client().CoreV1().ConfigMaps(f.ns).Delete(t.Context(), "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mustSucceed(f.run())
	first, _ := f.configMap("settings")
	f.commit(map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.2.0\n",
		"chart/templates/hook.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
data:
  from: hook
`})
	f.mustSucceed(f.run())
	second, err := f.configMap("settings")
	if err != nil || second.UID == first.UID {
		t.Errorf("the sync's own hook was not recreated (before-hook-creation): %v", err)
	}
}

// TestHelmHookScope: a namespaced sync refuses hooks outside its namespace,
// or cluster-scoped, before anything is applied, exactly as it refuses the
// chart's other objects.
func TestHelmHookScope(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	other := env.NewNamespace(t)
	f.commit(map[string]string{
		"chart/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n",
		"chart/templates/hook.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: elsewhere
  namespace: ` + other + `
  annotations:
    helm.sh/hook: pre-install
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ` + f.ns + `-hook
  annotations:
    helm.sh/hook: post-install
rules: []
`,
	})
	f.chartSpec()
	res := f.runWith(Options{NamespaceScoped: true})
	if res.Outcome != Failed || !strings.Contains(res.Message, "nothing was applied") ||
		!strings.Contains(res.Message, "ConfigMap/"+other+"/elsewhere") || !strings.Contains(res.Message, "ClusterRole.rbac.authorization.k8s.io/"+f.ns+"-hook") {
		t.Fatalf("outcome %s, message %q; want Failed naming both hooks, nothing applied", res.Outcome, res.Message)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(other).Get(t.Context(), "elsewhere", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hook outside the namespace was applied: %v", err)
	}
	if _, err := env.Client().RbacV1().ClusterRoles().Get(t.Context(), f.ns+"-hook", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cluster-scoped hook was applied: %v", err)
		_ = env.Client().RbacV1().ClusterRoles().Delete(t.Context(), f.ns+"-hook", metav1.DeleteOptions{})
	}
	f.mustNotHave("app-config")
}
