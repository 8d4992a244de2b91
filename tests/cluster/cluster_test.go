package cluster_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync/gitsync/tests/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.Run(m, cluster.Options{}, &env))
}

func TestRBACIsEnforced(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	if err := env.ApplyYAML(ctx, ns, `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: some-data
data:
  k: v
`); err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ServiceAccountConfig(ctx, ns, "reader")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The token really is the ServiceAccount's.
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+ns+":reader"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}

	_, err = sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing ConfigMaps without a Role: got error %v, want Forbidden", err)
	}

	if err := env.ApplyYAML(ctx, ns, `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: configmap-reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: configmap-reader
subjects:
- kind: ServiceAccount
  name: reader
`); err != nil {
		t.Fatal(err)
	}
	// RBAC is served from an informer cache: allow it a moment.
	var names []string
	err = env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		list, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		names = names[:0]
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("listing ConfigMaps with a Role: %v", err)
	}
	if diff := cmp.Diff([]string{"kube-root-ca.crt", "some-data"}, names); diff != "" {
		t.Errorf("ConfigMaps (-want +got):\n%s", diff)
	}

	// The Role allows reading, nothing more.
	_, err = sa.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("creating a ConfigMap with a read-only Role: got error %v, want Forbidden", err)
	}
	_, err = sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets: got error %v, want Forbidden", err)
	}
}

func TestApplyYAML(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	crdGroup := "test.gitsync.io"
	plural := "widgets" + strings.ReplaceAll(strings.TrimPrefix(ns, "testapplyyaml-"), "-", "")
	crd := plural + "." + crdGroup
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = env.Dynamic().Resource(gvr).Delete(ctx, crd, metav1.DeleteOptions{})
	})

	// Documents in order, an empty document, a namespaced object without a
	// namespace, and a custom resource whose CRD comes just before it.
	manifests := `
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: first
data:
  a: "1"
---
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + crd + `
spec:
  group: ` + crdGroup + `
  names:
    kind: Widget
    plural: ` + plural + `
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: ` + crdGroup + `/v1
kind: Widget
metadata:
  name: w
spec:
  size: 3
`
	if err := env.ApplyYAML(ctx, ns, manifests); err != nil {
		t.Fatal(err)
	}
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "first", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, cm.Data); diff != "" {
		t.Errorf("ConfigMap data (-want +got):\n%s", diff)
	}
	var managers []string
	for _, mf := range cm.ManagedFields {
		managers = append(managers, string(mf.Operation)+"/"+mf.Manager)
	}
	if diff := cmp.Diff([]string{"Apply/" + cluster.FieldManager}, managers); diff != "" {
		t.Errorf("field managers (-want +got):\n%s", diff)
	}
	widget, err := env.Dynamic().Resource(schema.GroupVersionResource{Group: crdGroup, Version: "v1", Resource: plural}).
		Namespace(ns).Get(ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := widget.Object["spec"]; !cmp.Equal(got, map[string]any{"size": int64(3)}) {
		t.Errorf("widget spec = %v", got)
	}

	// Applying again with a change updates the object; a field the new
	// manifest drops is removed (the manager owned it).
	if err := env.ApplyYAML(ctx, ns, `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: first}
  data: {b: "2"}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: second}
`); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "second", metav1.GetOptions{}); err != nil {
		t.Errorf("second item of the List: %v", err)
	}
	cm, err = env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "first", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"b": "2"}, cm.Data); diff != "" {
		t.Errorf("ConfigMap data after the second apply (-want +got):\n%s", diff)
	}

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name, namespace, manifests, wantErr string
		}{
			{"no namespace", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "ConfigMap/x: namespaced kind"},
			{"no kind", ns, "apiVersion: v1\nmetadata: {name: x}\n", "document 1: apiVersion and kind are required"},
			{"no name", ns, "apiVersion: v1\nkind: ConfigMap\n", "document 1 (ConfigMap): metadata.name is required"},
			{"bad yaml", ns, "a: [", "document 1"},
			{"unknown kind", ns, "apiVersion: nothing.gitsync.io/v1\nkind: Nothing\nmetadata: {name: x}\n", "Nothing/x: resolving"},
			{"invalid object", ns, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {\"not a key!\": v}\n", "ConfigMap/" + ns + "/x: apply"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				defer cancel()
				err := env.ApplyYAML(ctx, tt.namespace, tt.manifests)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ApplyYAML error = %v, want one containing %q", err, tt.wantErr)
				}
			})
		}
	})
}

func TestNewNamespace(t *testing.T) {
	var name string
	t.Run("Odd name: with/slashes and UPPER case", func(t *testing.T) {
		name = env.NewNamespace(t)
		if !regexp.MustCompile(`^testnewnamespace-odd-name-with-slashes-and-upper-c-[a-z0-9]{6}$`).MatchString(name) {
			t.Errorf("namespace name %q does not follow the test name", name)
		}
		if _, err := env.Client().CoreV1().ServiceAccounts(name).Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("default ServiceAccount: %v", err)
		}
		// A second namespace of the same test differs.
		if other := env.NewNamespace(t); other == name {
			t.Errorf("two namespaces of one test share the name %q", name)
		}
	})
	// The subtest's cleanup has deleted it (it may still be terminating).
	ns, err := env.Client().CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s still exists after the test's cleanup", name)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}

	t.Run(strings.Repeat("long", 30), func(t *testing.T) {
		name := env.NewNamespace(t)
		if len(name) > 63 {
			t.Errorf("namespace name %q is longer than 63 characters", name)
		}
	})
}

func TestWaitFor(t *testing.T) {
	t.Run("true after a few calls", func(t *testing.T) {
		calls := 0
		err := env.WaitFor(t.Context(), func(context.Context) (bool, error) {
			calls++
			return calls == 3, nil
		})
		if err != nil || calls != 3 {
			t.Errorf("WaitFor = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("condition error stops", func(t *testing.T) {
		calls := 0
		err := env.WaitFor(t.Context(), func(context.Context) (bool, error) {
			calls++
			return false, context.Canceled
		})
		if err != context.Canceled || calls != 1 {
			t.Errorf("WaitFor = %v after %d calls, want the condition's error after 1", err, calls)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := env.WaitFor(ctx, func(context.Context) (bool, error) { return false, nil })
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Errorf("WaitFor = %v, want a deadline error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("WaitFor returned after %v, want about 300ms", d)
		}
	})
}

// TestControllers checks that the controller manager runs what the product
// relies on: the garbage collector and the Job controller's bookkeeping.
func TestControllers(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	cms := env.Client().CoreV1().ConfigMaps(ns)
	owner, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:            "dependent",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		_, err := cms.Get(ctx, "dependent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		t.Errorf("garbage collector did not delete the dependent: %v", err)
	}

	// Without a node the Job's Pod stays Pending, but the Job controller
	// creates it.
	if err := env.ApplyYAML(ctx, ns, `
apiVersion: batch/v1
kind: Job
metadata:
  name: j
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: gitsync.local/none:test
`); err != nil {
		t.Fatal(err)
	}
	err = env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		pods, err := env.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=j"})
		return err == nil && len(pods.Items) == 1, err
	})
	if err != nil {
		t.Errorf("Job controller did not create the Pod: %v", err)
	}
}

func TestKubeconfig(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := cluster.KubernetesVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != want {
		t.Errorf("server version %s, want the pinned %s", v.GitVersion, want)
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if groups := review.Status.UserInfo.Groups; !strings.Contains(strings.Join(groups, ","), "system:masters") {
		t.Errorf("admin kubeconfig's groups %v lack system:masters", groups)
	}
	if env.HostIP() != "127.0.0.1" {
		t.Errorf("HostIP() = %q in control-plane mode, want 127.0.0.1", env.HostIP())
	}
	if err := env.ImportImage(t.Context(), "/nonexistent.tar"); err == nil {
		t.Error("ImportImage in control-plane mode: no error")
	}
}

// TestStartStop starts a second cluster and checks that Stop leaves nothing:
// no process, no mount, no directory; and that a second Stop is harmless.
func TestStartStop(t *testing.T) {
	ctx := t.Context()
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second cluster started in %v", c.StartupTime())
	pids := c.PIDs()
	if len(pids) != 3 {
		t.Errorf("PIDs() = %v, want etcd, kube-apiserver and kube-controller-manager", pids)
	}
	if got := c.RemainingProcesses(); len(got) < len(pids) {
		t.Errorf("RemainingProcesses() = %v while running, want at least %v", got, pids)
	}
	if _, err := c.Client().CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("second cluster: %v", err)
	}
	dir := c.Dir()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("process %d still exists after Stop", pid)
		}
	}
	if left := c.Leftovers(); len(left) > 0 {
		t.Errorf("Leftovers() after Stop = %v", left)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s still exists after Stop", dir)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Setenv(cluster.TestbinEnv, t.TempDir())
	_, err := cluster.Start(t.Context(), cluster.Options{})
	if err == nil || !strings.Contains(err.Error(), "make testbin") || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Errorf("Start without binaries: error %v, want one naming kube-apiserver and `make testbin`", err)
	}
}

// TestStartFailure checks that a failed Start says which component failed,
// with its log, and leaves nothing behind.
func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	_, err := cluster.Start(t.Context(), cluster.Options{Dir: dir, Controllers: []string{"no-such-controller"}})
	if err == nil || !strings.Contains(err.Error(), "kube-controller-manager exited early") || !strings.Contains(err.Error(), "no-such-controller") {
		t.Errorf("Start with an unknown controller: error %v, want one naming kube-controller-manager and quoting its log", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left after a failed Start: %s", e.Name())
	}
}
