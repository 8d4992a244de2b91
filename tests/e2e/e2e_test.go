// Package e2e holds the end-to-end tests: real images of this repository's
// binaries run as Pods, Jobs and CronJob-made Jobs on a node-mode test cluster.
package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) {
	code := cluster.Run(m, cluster.Options{Node: true}, &env)
	// Run has stopped the cluster (Stop checked the machine-wide leftovers
	// while it held the node lock): none of its processes, mounts or files
	// may remain.
	if env != nil {
		if left := env.Leftovers(); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: the test cluster left: %s\n", strings.Join(left, "; "))
			code = 1
		}
	}
	os.Exit(code)
}

// buildImage builds the main package pkg into an image tagged tag and
// imports it into the node (cluster.BuildImage).
func buildImage(t *testing.T, pkg, tag string) {
	t.Helper()
	if err := env.BuildImage(t.Context(), pkg, tag); err != nil {
		t.Fatal(err)
	}
}

func jobSpec(image string, args ...string) batchv1.JobSpec {
	backoff := int32(0)
	return batchv1.JobSpec{
		BackoffLimit: &backoff,
		Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name:            "main",
					Image:           image,
					ImagePullPolicy: corev1.PullNever,
					Args:            args,
				}},
			},
		},
	}
}

// waitJob waits until the Job has succeeded and returns its Pod's log. A
// failed Job fails the test at once, with the Pod's log and events.
func waitJob(t *testing.T, ns, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var job *batchv1.Job
	err := env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		var err error
		job, err = env.Client().BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if job.Status.Failed > 0 {
			return false, fmt.Errorf("Job %s/%s failed", ns, name)
		}
		return job.Status.Succeeded == 1, nil
	})
	log := podLog(t, ns, name)
	if err != nil {
		t.Fatalf("Job %s/%s: %v\nstatus: %+v\npod log:\n%s\nevents:\n%s", ns, name, err, job.Status, log, events(t, ns))
	}
	return log
}

func podLog(t *testing.T, ns, job string) string {
	t.Helper()
	ctx := t.Context()
	pods, err := env.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil || len(pods.Items) == 0 {
		return fmt.Sprintf("(no Pod: %v)", err)
	}
	b, err := env.Client().CoreV1().Pods(ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return fmt.Sprintf("(log of %s: %v)", pods.Items[0].Name, err)
	}
	return string(b)
}

func events(t *testing.T, ns string) string {
	list, err := env.Client().CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range list.Items {
		fmt.Fprintf(&b, "%s %s/%s: %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return b.String()
}

// TestSyncJobSmoke runs the real sync-job image as a Job and as a Job made
// from a CronJob the way `kubectl create job --from=cronjob/x` makes it.
func TestSyncJobSmoke(t *testing.T) {
	t.Parallel()
	const image = "gitsync.local/sync-job:e2e"
	buildImage(t, "./cmd/sync-job", image)
	ctx := t.Context()
	ns := env.NewNamespace(t)
	jobs := env.Client().BatchV1().Jobs(ns)

	if _, err := jobs.Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "version"},
		Spec:       jobSpec(image, "version"),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	suspend := true
	cj, err := env.Client().BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 0 1 1 *",
			Suspend:  &suspend, // only the manual run below
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "sync-job"}},
				Spec:       jobSpec(image, "version"),
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	maps.Copy(annotations, cj.Spec.JobTemplate.Annotations)
	controller := true
	manual, err := jobs.Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "x-manual",
			Labels:      cj.Spec.JobTemplate.Labels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1",
				Kind:       "CronJob",
				Name:       cj.Name,
				UID:        cj.UID,
				Controller: &controller,
			}},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"version", manual.Name} {
		log := waitJob(t, ns, name)
		if !strings.Contains(log, "sync-job") {
			t.Errorf("Job %s: log %q lacks \"sync-job\"", name, log)
		}
	}
	got, err := jobs.Get(ctx, manual.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != cj.UID {
		t.Errorf("manual Job's annotations %v / owners %v do not point at the CronJob", got.Annotations, got.OwnerReferences)
	}
}

// TestPodReachesAPIServer checks the network paths sync-job depends on: a Pod
// reaches the apiserver through the kubernetes Service with
// rest.InClusterConfig and authenticates with its ServiceAccount token, and
// it reaches a test server bound to the cluster's HostIP (where Git servers
// of the tests listen).
func TestPodReachesAPIServer(t *testing.T) {
	t.Parallel()
	const image = "gitsync.local/incluster:e2e"
	buildImage(t, "./tests/e2e/incluster", image)
	ctx := t.Context()
	ns := env.NewNamespace(t)
	svc, err := env.Client().CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(env.HostIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the host")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("srv.Close: %v", err)
		}
	})
	url := "http://" + l.Addr().String() + "/"

	if _, err := env.Client().BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "incluster"},
		Spec:       jobSpec(image, url),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	log := waitJob(t, ns, "incluster")
	for _, want := range []string{
		fmt.Sprintf("incluster: host=https://%s:443 user=system:serviceaccount:%s:default", svc.Spec.ClusterIP, ns),
		fmt.Sprintf("get %s: 200 hello from the host", url),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("Pod log %q lacks %q", log, want)
		}
	}
}
