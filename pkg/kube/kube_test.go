package kube_test

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/kube/kubeclientset"
	"github.com/gitsync/gitsync/tests/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(cluster.Run(m, cluster.Options{}, &env)) }

func newClient(t *testing.T) kube.Interface {
	t.Helper()
	c, err := kube.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exercise creates obj with c and then reads, updates, patches, lists and
// deletes it, checking each answer and the API server's errors: 409 on a
// second create and on an update with a stale resourceVersion, 404 after
// the delete. count returns the number of items of a list.
func exercise[T metav1.Object, L any](t *testing.T, c kube.ObjectClient[T, L], obj T, count func(L) int) {
	t.Helper()
	ctx := t.Context()
	name := obj.GetName()
	label := strings.ReplaceAll(t.Name(), "/", ".")
	created, err := c.Create(ctx, obj, metav1.CreateOptions{FieldManager: "kube-test"})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if created.GetName() != name || created.GetUID() == "" || created.GetResourceVersion() == "" {
		t.Fatalf("create answered name %q, uid %q, resourceVersion %q", created.GetName(), created.GetUID(), created.GetResourceVersion())
	}
	if _, err := c.Create(ctx, obj, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists (409)", err)
	}

	// A controller may write the object between the get and the update
	// (the Job controller, its status): the update is then refused as
	// stale, and made again on what a new get returns.
	var updated T
	for attempt := 1; ; attempt++ {
		got, err := c.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		if got.GetUID() != created.GetUID() {
			t.Errorf("get answered uid %q, created %q", got.GetUID(), created.GetUID())
		}
		got.SetLabels(map[string]string{"kube-test": label, "step": "updated"})
		updated, err = c.Update(ctx, got, metav1.UpdateOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt == 5 {
			t.Fatalf("update %s (attempt %d): %v", name, attempt, err)
		}
	}
	if updated.GetLabels()["step"] != "updated" || updated.GetResourceVersion() == created.GetResourceVersion() {
		t.Errorf("update answered labels %v, resourceVersion %q (created at %q)", updated.GetLabels(), updated.GetResourceVersion(), created.GetResourceVersion())
	}
	created.SetLabels(map[string]string{"step": "stale"})
	if _, err := c.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want Conflict (409)", err)
	}

	patched, err := c.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"step":"patched"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch %s: %v", name, err)
	}
	if patched.GetLabels()["step"] != "patched" || patched.GetLabels()["kube-test"] != label {
		t.Errorf("patch answered labels %v", patched.GetLabels())
	}

	list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "kube-test=" + label + ",step=patched"})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if n := count(list); n != 1 {
		t.Errorf("list found %d objects, want 1", n)
	}

	// Background: a Job deleted with the default (orphan) policy waits
	// for the garbage collector's finalizer.
	background := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
	if err := c.Delete(ctx, name, background); err != nil {
		t.Fatalf("delete %s: %v", name, err)
	}
	if _, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound (404)", err)
	}
	if err := c.Delete(ctx, name, background); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: %v, want NotFound (404)", err)
	}
}

func meta(name, ns string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }

func podSpec() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "c", Image: "example.invalid/none"}},
	}}
}

func TestObjectClients(t *testing.T) {
	c := newClient(t)
	ns := env.NewNamespace(t)
	t.Run("ConfigMaps", func(t *testing.T) {
		exercise(t, c.ConfigMaps(ns), &corev1.ConfigMap{ObjectMeta: meta("cm", ns), Data: map[string]string{"k": "v"}},
			func(l *corev1.ConfigMapList) int { return len(l.Items) })
	})
	t.Run("Secrets", func(t *testing.T) {
		exercise(t, c.Secrets(ns), &corev1.Secret{ObjectMeta: meta("s", ns), Data: map[string][]byte{"k": []byte("v")}},
			func(l *corev1.SecretList) int { return len(l.Items) })
	})
	t.Run("Events", func(t *testing.T) {
		exercise(t, c.Events(ns), &corev1.Event{ObjectMeta: meta("e", ns), Type: corev1.EventTypeNormal, Reason: "Test",
			Message: "m", InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: ns, Name: "cm"}},
			func(l *corev1.EventList) int { return len(l.Items) })
	})
	t.Run("Leases", func(t *testing.T) {
		exercise(t, c.Leases(ns), &coordinationv1.Lease{ObjectMeta: meta("l", ns),
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("me"), LeaseDurationSeconds: ptr.To[int32](30)}},
			func(l *coordinationv1.LeaseList) int { return len(l.Items) })
	})
	t.Run("Jobs", func(t *testing.T) {
		exercise(t, c.Jobs(ns), &batchv1.Job{ObjectMeta: meta("j", ns), Spec: batchv1.JobSpec{Template: podSpec()}},
			func(l *batchv1.JobList) int { return len(l.Items) })
	})
	t.Run("CronJobs", func(t *testing.T) {
		exercise(t, c.CronJobs(ns), &batchv1.CronJob{ObjectMeta: meta("cj", ns), Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podSpec()}}}},
			func(l *batchv1.CronJobList) int { return len(l.Items) })
	})
}

// TestNamespaces checks the cluster-scoped client: a deleted Namespace
// stays (Terminating) until the namespace controller, which this control
// plane does not run, empties it, so it ends with the delete.
func TestNamespaces(t *testing.T) {
	c := newClient(t).Namespaces()
	ctx := t.Context()
	name := "kube-test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	created, err := c.Create(ctx, &corev1.Namespace{ObjectMeta: meta(name, "")}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, &corev1.Namespace{ObjectMeta: meta(name, "")}, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists (409)", err)
	}
	patched, err := c.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"kube-test":"patched"}}}`), metav1.PatchOptions{})
	if err != nil || patched.Labels["kube-test"] != "patched" {
		t.Fatalf("patch: %v, labels %v", err, patched.GetLabels())
	}
	if _, err := c.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want Conflict (409)", err)
	}
	list, err := c.List(ctx, metav1.ListOptions{LabelSelector: "kube-test=patched"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != name {
		t.Errorf("list found %d namespaces labelled, want only %s", len(list.Items), name)
	}
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, name, metav1.GetOptions{})
	if err == nil && got.DeletionTimestamp == nil {
		t.Errorf("namespace %s has no deletionTimestamp after delete", name)
	}
	if _, err := c.Get(ctx, "kube-test-no-such-namespace", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing namespace: %v, want NotFound (404)", err)
	}
}

func TestReviews(t *testing.T) {
	c := newClient(t)
	ssr, err := c.SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ssr.Status.UserInfo.Username == "" {
		t.Errorf("SelfSubjectReview names no user: %+v", ssr.Status)
	}
	ns := env.NewNamespace(t)
	for _, tt := range []struct {
		verb, resource string
		want           bool
	}{{"create", "configmaps", true}, {"frobnicate", "configmaps", true}} {
		ssar, err := c.SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: tt.verb, Resource: tt.resource,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ssar.Status.Allowed != tt.want {
			t.Errorf("%s %s: allowed %v, want %v (the admin may do anything)", tt.verb, tt.resource, ssar.Status.Allowed, tt.want)
		}
	}
	// An invalid review is the API server's 422, not a panic or a silent
	// empty answer.
	_, err = c.SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("review without attributes: %v, want Invalid (422)", err)
	}
}

// request is what TestSameRequestsAsClientset compares of a request.
type request struct {
	Method, Path, Accept, ContentType, UserAgent string
}

// recording returns a config whose requests are appended to *got.
func recording(got *[]request) *rest.Config {
	cfg := env.Config()
	var mu sync.Mutex
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			*got = append(*got, request{req.Method, req.URL.Path, req.Header.Get("Accept"), req.Header.Get("Content-Type"), req.Header.Get("User-Agent")})
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestSameRequestsAsClientset checks that the narrow client sends what
// client-go's clientset sends for the same calls: the same paths, content
// types (protobuf, as client-go's typed clients prefer) and user agent.
func TestSameRequestsAsClientset(t *testing.T) {
	ns := env.NewNamespace(t)
	calls := func(t *testing.T, c kube.Interface, name string) {
		ctx := t.Context()
		if _, err := c.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta(name, ns)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Leases(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var narrow, full []request
	nc, err := kube.NewForConfig(recording(&narrow))
	if err != nil {
		t.Fatal(err)
	}
	calls(t, nc, "same")
	cs, err := kubernetes.NewForConfig(recording(&full))
	if err != nil {
		t.Fatal(err)
	}
	calls(t, kubeclientset.FromClientset(cs), "same")
	if len(narrow) != 5 {
		t.Errorf("the narrow client sent %d requests for 5 calls: %+v", len(narrow), narrow)
	}
	if diff := cmp.Diff(full, narrow); diff != "" {
		t.Errorf("requests differ from client-go's clientset's (-clientset +narrow):\n%s", diff)
	}
}

// TestEngineTakesClientset checks that the adapter serves the engine's
// interface with client-go's own typed clients.
func TestEngineTakesClientset(t *testing.T) {
	var c kube.Interface = env.Client()
	ns := env.NewNamespace(t)
	exercise(t, c.ConfigMaps(ns), &corev1.ConfigMap{ObjectMeta: meta("via-clientset", ns)},
		func(l *corev1.ConfigMapList) int { return len(l.Items) })
}
