package install

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/version"
)

// sample returns a valid sync web in team-a with a secretRef, a
// substituteFrom Secret and a target namespace.
func sample() *spec.Sync {
	s := spec.New("web", "team-a")
	s.Spec.Source.Git = &spec.GitSource{
		URL:       "https://git.example.com/web.git",
		Ref:       spec.GitRef{Branch: "main"},
		SecretRef: &spec.LocalObjectReference{Name: "git-creds"},
		Timeout:   spec.NewDuration(30 * time.Second),
	}
	s.Spec.TargetNamespace = "apps"
	s.Spec.Timeout = spec.NewDuration(3 * time.Minute)
	s.Spec.PostBuild = &spec.PostBuild{SubstituteFrom: []spec.SubstituteReference{
		{Kind: "Secret", Name: "vars"}, {Kind: "ConfigMap", Name: "settings"}, {Kind: "Secret", Name: "git-creds"},
	}}
	return s
}

func TestGenerateNamespaceMode(t *testing.T) {
	objs, err := Generate(sample(), Options{Image: "registry.example.com/sync-job:v1"})
	if err != nil {
		t.Fatal(err)
	}
	if objs.ClusterRole != nil || objs.ClusterRoleBinding != nil {
		t.Errorf("namespace mode made cluster RBAC: %v %v", objs.ClusterRole, objs.ClusterRoleBinding)
	}

	// No wildcard anywhere, and only Roles.
	for _, r := range objs.Roles {
		for _, rule := range r.Rules {
			if err := checkNoWildcard(rule); err != nil {
				t.Errorf("Role %s/%s: %v", r.Namespace, r.Name, err)
			}
			if len(rule.Verbs) == 0 || len(rule.Resources) == 0 || len(rule.APIGroups) == 0 {
				t.Errorf("Role %s/%s: incomplete rule %+v", r.Namespace, r.Name, rule)
			}
		}
	}

	type place struct{ NS, Name string }
	var roles, bindings []place
	for _, r := range objs.Roles {
		roles = append(roles, place{r.Namespace, r.Name})
	}
	for _, b := range objs.RoleBindings {
		bindings = append(bindings, place{b.Namespace, b.Name})
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "gitsync-web", Namespace: "team-a"}}
		if diff := cmp.Diff(want, b.Subjects); diff != "" {
			t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", b.Namespace, b.Name, diff)
		}
		if b.RoleRef.Kind != "Role" || b.RoleRef.Name != b.Name {
			t.Errorf("RoleBinding %s/%s binds %+v", b.Namespace, b.Name, b.RoleRef)
		}
	}
	wantPlaces := []place{{"team-a", "gitsync-web"}, {"apps", "gitsync:team-a:web"}}
	if diff := cmp.Diff(wantPlaces, roles); diff != "" {
		t.Errorf("Roles (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPlaces, bindings); diff != "" {
		t.Errorf("RoleBindings (-want +got):\n%s", diff)
	}

	// The own Role reads exactly the Secrets the spec names, and reads and
	// writes its stored render by name only.
	var secretRules []rbacv1.PolicyRule
	for _, rule := range objs.Roles[0].Rules {
		if slices.Contains(rule.Resources, "secrets") {
			secretRules = append(secretRules, rule)
		}
	}
	wantSecrets := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"gitsync-web-render"}, Verbs: []string{"get", "create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"git-creds", "vars"}, Verbs: []string{"get"}},
	}
	if diff := cmp.Diff(wantSecrets, secretRules); diff != "" {
		t.Errorf("own Role's secret rules (-want +got):\n%s", diff)
	}
	// The applying Role grants the default set, nothing cluster-scoped.
	granted := map[string]bool{}
	for _, rule := range objs.Roles[1].Rules {
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				granted[r+"."+g] = true
			}
		}
		if diff := cmp.Diff(ManagedVerbs(), rule.Verbs); diff != "" {
			t.Errorf("applying Role verbs (-want +got):\n%s", diff)
		}
	}
	for _, want := range []string{"deployments.apps", "secrets.", "roles.rbac.authorization.k8s.io", "ingresses.networking.k8s.io"} {
		if !granted[want] {
			t.Errorf("applying Role does not grant %s", want)
		}
	}
	for _, not := range []string{"clusterroles.rbac.authorization.k8s.io", "namespaces.", "pods.", "resourcequotas."} {
		if granted[not] {
			t.Errorf("applying Role grants %s", not)
		}
	}

	// A chart whose tests run (Pods) gets what they need on Pods, and no
	// more.
	tested := sample()
	tested.Spec.Helm = &spec.HelmSpec{Test: &spec.HelmTest{Enable: true}}
	tested.Spec.PostBuild = nil
	if testedObjs, err := Generate(tested, Options{Image: "registry.example.com/sync-job:v1"}); err != nil {
		t.Errorf("a sync with Helm tests: %v", err)
	} else {
		var podRules []rbacv1.PolicyRule
		for _, rule := range testedObjs.Roles[1].Rules {
			if slices.Contains(rule.Resources, "pods") {
				podRules = append(podRules, rule)
			}
		}
		want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "create", "patch", "delete"}}}
		if diff := cmp.Diff(want, podRules); diff != "" {
			t.Errorf("applying Role's Pod rules with Helm tests (-want +got):\n%s", diff)
		}
	}

	args := objs.CronJob.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	if diff := cmp.Diff([]string{"--sync", "web", "--scope", "namespace", "--work-dir", "/tmp"}, args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	wantIDs := "Role.rbac.authorization.k8s.io/apps/gitsync:team-a:web,Role.rbac.authorization.k8s.io/team-a/gitsync-web," +
		"RoleBinding.rbac.authorization.k8s.io/apps/gitsync:team-a:web,RoleBinding.rbac.authorization.k8s.io/team-a/gitsync-web"
	if got := objs.ServiceAccount.Annotations[AnnotationRBAC]; got != wantIDs {
		t.Errorf("annotation %s = %q, want %q", AnnotationRBAC, got, wantIDs)
	}
	checkLabels(t, objs)
}

func TestGenerateClusterMode(t *testing.T) {
	objs, err := Generate(sample(), Options{RBAC: RBACCluster})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Roles) != 0 || len(objs.RoleBindings) != 0 {
		t.Errorf("cluster mode made Roles %v and RoleBindings %v", objs.Roles, objs.RoleBindings)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}
	if diff := cmp.Diff(want, objs.ClusterRole.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	if objs.ClusterRole.Name != "gitsync:team-a:web" || objs.ClusterRoleBinding.RoleRef.Name != "gitsync:team-a:web" ||
		objs.ClusterRoleBinding.RoleRef.Kind != "ClusterRole" || objs.ClusterRole.Namespace != "" {
		t.Errorf("ClusterRole %q, binding to %+v", objs.ClusterRole.Name, objs.ClusterRoleBinding.RoleRef)
	}
	c := objs.CronJob.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args[2:4], []string{"--scope", "cluster"}) {
		t.Errorf("args %q, want --scope cluster", c.Args)
	}
	if c.Image != "ghcr.io/gitsync/sync-job:"+version.Version {
		t.Errorf("default image %q", c.Image)
	}
	checkLabels(t, objs)
}

// checkLabels checks that every object carries the sync's labels.
func checkLabels(t *testing.T, objs *Objects) {
	t.Helper()
	want := map[string]string{
		"app.kubernetes.io/name":       "gitsync",
		"app.kubernetes.io/managed-by": "kubectl-gitsync",
		"gitsync.io/sync":              "web",
		"gitsync.io/sync-namespace":    "team-a",
	}
	for _, obj := range objs.List() {
		m, err := metaOf(obj)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if m.Labels[k] != v {
				t.Errorf("%T %s: label %s=%q, want %q", obj, m.Name, k, m.Labels[k], v)
			}
		}
	}
	tmpl := objs.CronJob.Spec.JobTemplate
	for _, l := range []map[string]string{tmpl.Labels, tmpl.Spec.Template.Labels} {
		if diff := cmp.Diff(want, l); diff != "" {
			t.Errorf("job or pod template labels (-want +got):\n%s", diff)
		}
	}
}

func metaOf(obj runtime.Object) (metav1.ObjectMeta, error) {
	u, err := Unstructured(obj)
	if err != nil {
		return metav1.ObjectMeta{}, err
	}
	return metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), Labels: u.GetLabels()}, nil
}

func TestGenerateCronJob(t *testing.T) {
	s := sample()
	s.Spec.Suspend = true
	s.Spec.Schedule = "0 * * * *"
	objs, err := Generate(s, Options{Image: "registry.example.com:5000/sync-job"})
	if err != nil {
		t.Fatal(err)
	}
	cj := objs.CronJob
	if cj.Spec.Schedule != "0 * * * *" || !*cj.Spec.Suspend || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("schedule %q suspend %v policy %q", cj.Spec.Schedule, *cj.Spec.Suspend, cj.Spec.ConcurrencyPolicy)
	}
	job := cj.Spec.JobTemplate.Spec
	// 3m timeout + 2 × 30s Git timeout + 2m margin.
	if got := *job.ActiveDeadlineSeconds; got != 360 {
		t.Errorf("activeDeadlineSeconds %d, want 360", got)
	}
	if *job.BackoffLimit != 0 || job.TTLSecondsAfterFinished != nil {
		t.Errorf("backoffLimit %d ttl %v", *job.BackoffLimit, job.TTLSecondsAfterFinished)
	}
	pod := job.Template.Spec
	c := pod.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("untagged image: pull policy %q, want Always", c.ImagePullPolicy)
	}
	if pod.ServiceAccountName != "gitsync-web" || !*pod.AutomountServiceAccountToken || pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("serviceAccountName %q automount %v restartPolicy %q", pod.ServiceAccountName, *pod.AutomountServiceAccountToken, pod.RestartPolicy)
	}
	// The restricted Pod Security Standard, field by field.
	psc, csc := pod.SecurityContext, c.SecurityContext
	if !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || *psc.RunAsGroup != 65532 || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if *csc.AllowPrivilegeEscalation || !*csc.ReadOnlyRootFilesystem || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v", csc)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/tmp" || pod.Volumes[0].EmptyDir == nil || pod.Volumes[0].EmptyDir.SizeLimit.String() != "1Gi" {
		t.Errorf("work dir: mounts %+v volumes %+v", c.VolumeMounts, pod.Volumes)
	}
	if c.Resources.Limits.Memory().String() != "256Mi" || c.Resources.Requests.Memory().String() != "64Mi" || c.Resources.Requests.Cpu().String() != "100m" || c.Resources.Limits.Cpu().Sign() != 0 {
		t.Errorf("resources %+v", c.Resources)
	}
}

func TestGenerateConfigMapParses(t *testing.T) {
	s := sample()
	s.Spec.Path = "deploy" // canonicalised to ./deploy
	objs, err := Generate(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cm := objs.ConfigMap
	if cm.Name != "gitsync-web" || cm.Namespace != "team-a" || cm.Labels[LabelKind] != KindSpec {
		t.Errorf("ConfigMap %s/%s labels %v", cm.Namespace, cm.Name, cm.Labels)
	}
	got, err := spec.Parse([]byte(cm.Data[spec.ConfigMapKey]))
	if err != nil {
		t.Fatalf("stored spec does not parse: %v", err)
	}
	if got.Spec.Path != "./deploy" || got.Name != "web" || got.Namespace != "team-a" || got.Digest() != s.Digest() {
		t.Errorf("stored spec: path %q name %s/%s digest %s, want %s", got.Spec.Path, got.Namespace, got.Name, got.Digest(), s.Digest())
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*spec.Sync)
		opts    Options
		wantErr string
		// wantFields are the field paths of a spec error.
		wantFields []string
	}{
		{name: "no namespace", mutate: func(s *spec.Sync) { s.Namespace = "" }, wantErr: "metadata.namespace are required"},
		{name: "invalid spec", mutate: func(s *spec.Sync) {
			s.Spec.Schedule = "every minute"
			s.Spec.Source.Git.URL = "ftp://x"
		}, wantFields: []string{"spec.source.git.url", "spec.schedule"}},
		{name: "bad image", opts: Options{Image: "UPPER/case:x"}, wantErr: `image "UPPER/case:x"`},
		{name: "bad mode", opts: Options{RBAC: "tenant"}, wantErr: `RBAC mode "tenant"`},
		{name: "extra rules in cluster mode", opts: Options{RBAC: RBACCluster, ExtraRules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}, wantErr: "only with RBAC mode namespace"},
		{name: "wildcard extra rule", opts: Options{ExtraRules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"*"}, Verbs: []string{"get"}}}}, wantErr: `wildcard "*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sample()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			objs, err := Generate(s, tt.opts)
			if err == nil {
				t.Fatalf("no error; objects %+v", objs)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want %q", err, tt.wantErr)
			}
			if tt.wantFields != nil {
				var agg utilerrors.Aggregate
				if !errors.As(err, &agg) {
					t.Fatalf("error %v is no Aggregate", err)
				}
				var fields []string
				for _, e := range agg.Errors() {
					var fe *field.Error
					if errors.As(e, &fe) {
						fields = append(fields, fe.Field)
					}
				}
				if diff := cmp.Diff(tt.wantFields, fields); diff != "" {
					t.Errorf("field paths (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestScheduleForInterval(t *testing.T) {
	seeds := []string{"team-a/web", "team-a/api", "prod/x", "default/demo", "b/c", "a/b"}
	for _, d := range []time.Duration{
		time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute, 6 * time.Minute,
		10 * time.Minute, 12 * time.Minute, 15 * time.Minute, 20 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 7 * 24 * time.Hour,
	} {
		t.Run(ShortDuration(d), func(t *testing.T) {
			distinct := map[string]bool{}
			for _, seed := range seeds {
				s, err := ScheduleForInterval(d, seed)
				if err != nil {
					t.Fatalf("%s: %v", seed, err)
				}
				again, _ := ScheduleForInterval(d, seed)
				if again != s {
					t.Errorf("%s: not deterministic: %q then %q", seed, s, again)
				}
				distinct[s] = true
				checkEvery(t, s, d)
			}
			// The offsets spread syncs (a 1m interval has no room to).
			if d > 2*time.Minute && len(distinct) < 2 {
				t.Errorf("all seeds gave the same schedule %v", distinct)
			}
		})
	}

	for _, tt := range []struct {
		d       time.Duration
		wantErr string
	}{
		{7 * time.Minute, "interval 7m cannot be expressed exactly"},
		{90 * time.Minute, "interval 1h30m cannot be expressed exactly"},
		{45 * time.Minute, "cannot be expressed exactly"},
		{5 * time.Hour, "cannot be expressed exactly"},
		{48 * time.Hour, "cannot be expressed exactly"},
		{90 * time.Second, "whole minutes"},
		{30 * time.Second, "whole minutes"},
		{0, "must be positive"},
		{-5 * time.Minute, "must be positive"},
	} {
		t.Run("error "+tt.d.String(), func(t *testing.T) {
			s, err := ScheduleForInterval(tt.d, "a/b")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ScheduleForInterval(%s) = %q, %v; want error %q", tt.d, s, err, tt.wantErr)
			}
		})
	}
	_, err := ScheduleForInterval(7*time.Minute, "a/b")
	if !strings.Contains(err.Error(), "1m, 2m, 3m, 4m, 5m, 6m, 10m, 12m, 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h, 168h") {
		t.Errorf("error does not list the valid intervals: %v", err)
	}
}

// checkEvery checks, with the cron parser Kubernetes uses, that schedule
// fires exactly every d for five weeks.
func checkEvery(t *testing.T, schedule string, d time.Duration) {
	t.Helper()
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		t.Fatalf("%q: %v", schedule, err)
	}
	start := time.Date(2026, 2, 27, 13, 7, 0, 0, time.UTC) // crosses a month end
	prev := sched.Next(start)
	if prev.Sub(start) > d {
		t.Errorf("%q: first run %s after start, more than %s", schedule, prev.Sub(start), d)
	}
	for end := start.Add(5 * 7 * 24 * time.Hour); prev.Before(end); {
		next := sched.Next(prev)
		if next.Sub(prev) != d {
			t.Fatalf("%q: runs at %s and %s, %s apart, want %s", schedule, prev, next, next.Sub(prev), d)
		}
		prev = next
	}
}

func TestPullPolicy(t *testing.T) {
	for _, tt := range []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"ghcr.io/gitsync/sync-job:v0.1.0", corev1.PullIfNotPresent},
		{"ghcr.io/gitsync/sync-job:latest", corev1.PullAlways},
		{"ghcr.io/gitsync/sync-job", corev1.PullAlways},
		{"localhost:5000/sync-job", corev1.PullAlways},
		{"localhost:5000/sync-job:dev", corev1.PullIfNotPresent},
		{"sync-job@sha256:" + strings.Repeat("ab", 32), corev1.PullIfNotPresent},
		{"ghcr.io/gitsync/sync-job:latest@sha256:" + strings.Repeat("ab", 32), corev1.PullIfNotPresent},
	} {
		got, err := PullPolicy(tt.image)
		if err != nil || got != tt.want {
			t.Errorf("PullPolicy(%q) = %q, %v; want %q", tt.image, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "Upper/Case", "a:b:c", "x@sha256:12"} {
		if got, err := PullPolicy(bad); err == nil {
			t.Errorf("PullPolicy(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want rbacv1.PolicyRule
	}{
		{"pods", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: ManagedVerbs()}},
		{"servicemonitors.monitoring.coreos.com", rbacv1.PolicyRule{APIGroups: []string{"monitoring.coreos.com"}, Resources: []string{"servicemonitors"}, Verbs: ManagedVerbs()}},
		{"roles.rbac.authorization.k8s.io:escalate,bind", rbacv1.PolicyRule{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles"}, Verbs: []string{"escalate", "bind"}}},
		{"deployments/scale.apps:get,update", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update"}}},
	} {
		got, err := ParseRule(tt.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRule(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, tt := range []struct{ in, wantErr string }{
		{"*", "wildcard"},
		{"pods:*", "wildcard"},
		{"*.apps", "wildcard"},
		{"deployments.*", "wildcard"},
		{"Pods", "not a resource name"},
		{"", "not a resource name"},
		{"pods.Bad_Group", "not an API group"},
		{"pods:get,", `"" is not a verb`},
		{"pods:get list", "is not a verb"},
	} {
		if got, err := ParseRule(tt.in); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseRule(%q) = %+v, %v; want error %q", tt.in, got, err, tt.wantErr)
		}
	}
}

func TestJobFromCronJob(t *testing.T) {
	objs, err := Generate(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cj := objs.CronJob
	cj.UID = "0b0c-uid"
	cj.Spec.JobTemplate.Annotations = map[string]string{"example.com/note": "x"}
	before := cj.DeepCopy()

	job := JobFromCronJob(cj, "gitsync-web-manual")
	if diff := cmp.Diff(before, cj); diff != "" {
		t.Errorf("JobFromCronJob modified the CronJob (-before +after):\n%s", diff)
	}
	want := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        "gitsync-web-manual",
			Namespace:   "team-a",
			Labels:      Labels("team-a", "web"),
			Annotations: map[string]string{"example.com/note": "x", "cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: "gitsync-web", UID: "0b0c-uid",
				Controller: new(true), BlockOwnerDeletion: new(true),
			}},
		},
		Spec: before.Spec.JobTemplate.Spec,
	}
	if diff := cmp.Diff(want, job); diff != "" {
		t.Errorf("Job (-want +got):\n%s", diff)
	}
	// The Job owns its copies: changing it leaves the CronJob alone.
	job.Labels["x"] = "y"
	job.Annotations["y"] = "z"
	job.Spec.Template.Spec.Containers[0].Args[1] = "other"
	if diff := cmp.Diff(before, cj); diff != "" {
		t.Errorf("the Job shares state with the CronJob (-before +after):\n%s", diff)
	}

	gen := JobFromCronJob(cj, "")
	if gen.Name != "" || gen.GenerateName != "gitsync-web-" {
		t.Errorf("empty name: name %q generateName %q", gen.Name, gen.GenerateName)
	}
}

func TestStaleRBAC(t *testing.T) {
	nsObjs, err := Generate(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	clObjs, err := Generate(sample(), Options{RBAC: RBACCluster})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(o *Objects) []object.ID { return o.RBACIDs() }

	// Cluster → namespace: the ClusterRole and its binding are stale.
	got, err := StaleRBAC(clObjs.ServiceAccount.Annotations[AnnotationRBAC], nsObjs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids(clObjs), got); diff != "" {
		t.Errorf("cluster→namespace stale (-want +got):\n%s", diff)
	}
	// Namespace → cluster: all four namespaced objects are stale.
	got, err = StaleRBAC(nsObjs.ServiceAccount.Annotations[AnnotationRBAC], clObjs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids(nsObjs), got); diff != "" {
		t.Errorf("namespace→cluster stale (-want +got):\n%s", diff)
	}
	// Same install again: nothing stale.
	if got, err := StaleRBAC(nsObjs.ServiceAccount.Annotations[AnnotationRBAC], nsObjs); err != nil || len(got) != 0 {
		t.Errorf("reinstall: stale %v, %v", got, err)
	}
	// A changed target namespace: the old applying Role and binding.
	moved := sample()
	moved.Spec.TargetNamespace = "apps2"
	movedObjs, err := Generate(moved, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = StaleRBAC(nsObjs.ServiceAccount.Annotations[AnnotationRBAC], movedObjs)
	if err != nil {
		t.Fatal(err)
	}
	want := []object.ID{
		{Group: "rbac.authorization.k8s.io", Kind: "Role", Namespace: "apps", Name: "gitsync:team-a:web"},
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding", Namespace: "apps", Name: "gitsync:team-a:web"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("moved target stale (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"Deployment.apps/team-a/web", "nonsense"} {
		if got, err := StaleRBAC(bad, nsObjs); err == nil {
			t.Errorf("StaleRBAC(%q) = %v, want an error", bad, got)
		}
	}
}

func TestMarshal(t *testing.T) {
	objs, err := Generate(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := []string{"ServiceAccount", "Role", "Role", "RoleBinding", "RoleBinding", "ConfigMap", "CronJob"}

	y, err := Marshal(objs.List(), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(y), "\n---\n")
	var kinds []string
	for _, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, m["kind"].(string))
		if _, ok := m["status"]; ok {
			t.Errorf("%s has a status", m["kind"])
		}
	}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("YAML kinds (-want +got):\n%s", diff)
	}
	if strings.Contains(string(y), "creationTimestamp") {
		t.Error("YAML has creationTimestamp")
	}

	j, err := Marshal(objs.List(), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string
		Items []struct{ Kind string }
	}
	if err := json.Unmarshal(j, &list); err != nil {
		t.Fatal(err)
	}
	kinds = nil
	for _, it := range list.Items {
		kinds = append(kinds, it.Kind)
	}
	if list.Kind != "List" {
		t.Errorf("JSON kind %q", list.Kind)
	}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("JSON kinds (-want +got):\n%s", diff)
	}
	if _, err := Marshal(objs.List(), "table"); err == nil {
		t.Error("Marshal table: no error")
	}
}

func TestResource(t *testing.T) {
	objs, err := Generate(sample(), Options{RBAC: RBACCluster})
	if err != nil {
		t.Fatal(err)
	}
	list := append(objs.List(), JobFromCronJob(objs.CronJob, "x"))
	nsObjs, err := Generate(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	list = append(list, nsObjs.List()...)
	for _, obj := range list {
		u, err := Unstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		gvr, err := Resource(u.GroupVersionKind())
		if err != nil {
			t.Errorf("%s: %v", u.GetKind(), err)
			continue
		}
		if gvr.Group != u.GroupVersionKind().Group || gvr.Version != "v1" || !strings.HasPrefix(gvr.Resource, strings.ToLower(u.GetKind())) {
			t.Errorf("%s: resource %v", u.GetKind(), gvr)
		}
	}
}
