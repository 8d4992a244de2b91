package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/tests/cluster"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ and manifests/")

// env is the test cluster of this package's integration tests.
var env *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(cluster.Run(m, cluster.Options{}, &env)) }

// runCLI runs `kubectl-gitsync args...` in process with stdin.
func runCLI(ctx context.Context, stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &out})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/cli -run %s -update)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

const testImage = "ghcr.io/gitsync/sync-job:v0.1.0"

// offline is a kubeconfig with a context namespace whose server is never
// contacted: --export must not need a cluster.
const offline = "testdata/install/kubeconfig"

func TestInstallExportGolden(t *testing.T) {
	tests := []struct {
		name, golden string
		args         []string
	}{
		{name: "namespace mode", golden: "testdata/install/namespace.yaml", args: []string{
			"install", "web", "-n", "team-a", "--url", "https://git.example.com/platform/web.git", "--branch", "release",
			"--path", "deploy/prod", "--secret", "git-creds", "--interval", "10m", "--target-namespace", "apps",
			"--timeout", "3m", "--rbac-extra-rule", "servicemonitors.monitoring.coreos.com",
			"--rbac-extra-rule", "pods:get,list", "--image", testImage, "--export",
		}},
		{name: "cluster mode", golden: "testdata/install/cluster.yaml", args: []string{
			"install", "infra", "-n", "gitsync-system", "--url", "ssh://git@git.example.com/platform/infra.git",
			"--secret", "deploy-key", "--tag", "v1.2.3", "--rbac", "cluster", "--prune=false", "--wait", "--suspend",
			"--image", testImage, "--export",
		}},
		{name: "cluster mode json", golden: "testdata/install/cluster.json", args: []string{
			"install", "infra", "-n", "gitsync-system", "--url", "ssh://git@git.example.com/platform/infra.git",
			"--secret", "deploy-key", "--tag", "v1.2.3", "--rbac", "cluster", "--prune=false", "--wait", "--suspend",
			"--image", testImage, "--export", "-o", "json",
		}},
		{name: "from file, namespace from the context", golden: "testdata/install/from-file.yaml", args: []string{
			"install", "-f", "testdata/install/sync.yaml", "--image", testImage, "--export",
		}},
		{name: "manifests/gitsync-demo.yaml", golden: "../../manifests/gitsync-demo.yaml", args: []string{
			"install", "demo", "-n", "demo", "--url", "https://github.com/example/demo-apps", "--path", "./apps",
			"--image", testImage, "--export",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t.Context(), "", append(tt.args, "--kubeconfig", offline)...)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out)
			checkExport(t, out, slices.Contains(tt.args, "cluster"))
		})
	}
}

// checkExport decodes the exported objects and checks, independently of
// the golden file, what must hold in every export.
func checkExport(t *testing.T, out string, clusterMode bool) {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var kinds []string
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc["kind"] == "List" {
			for _, it := range doc["items"].([]any) {
				docs = append(docs, it.(map[string]any))
			}
			continue
		}
		docs = append(docs, doc)
	}
	for _, doc := range docs {
		kind := doc["kind"].(string)
		kinds = append(kinds, kind)
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "Role":
			var r rbacv1.Role
			decodeJSON(t, data, &r)
			// Namespace mode grants nothing by wildcard.
			for _, rule := range r.Rules {
				for _, v := range slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames) {
					if strings.Contains(v, "*") {
						t.Errorf("Role %s/%s has a wildcard rule %+v", r.Namespace, r.Name, rule)
					}
				}
			}
		case "CronJob":
			var cj batchv1.CronJob
			decodeJSON(t, data, &cj)
			checkPodSecurity(t, cj.Spec.JobTemplate.Spec.Template.Spec)
		}
	}
	want := []string{"ServiceAccount", "Role", "Role", "RoleBinding", "RoleBinding", "ConfigMap", "CronJob"}
	if clusterMode {
		want = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "CronJob"}
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("exported kinds (-want +got):\n%s", diff)
	}
}

// checkPodSecurity checks the restricted Pod Security Standard's
// requirements on the sync-job Pod.
func checkPodSecurity(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 ||
			sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].EmptyDir == nil {
		t.Errorf("volumes %+v: want only the emptyDir work dir", pod.Volumes)
	}
}

func decodeJSON(t *testing.T, data []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}

func leaseNamed(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To[int32](60)},
	}
}

func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}},
			},
		},
	}
}

func TestInstallValidation(t *testing.T) {
	base := []string{"install", "web", "-n", "team-a", "--url", "https://git.example.com/web.git"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad schedule", []string{"--schedule", "every day"}, `--schedule: spec.schedule: Invalid value: "every day": not a cron schedule`},
		{"interval not expressible", []string{"--interval", "7m"}, "--interval: interval 7m cannot be expressed exactly as a cron schedule: use one of 1m, 2m"},
		{"interval below a minute", []string{"--interval", "30s"}, "--interval: interval 30s: cron counts whole minutes"},
		{"interval and schedule", []string{"--interval", "5m", "--schedule", "* * * * *"}, "--interval: cannot be combined with --schedule"},
		{"two refs", []string{"--tag", "v1", "--semver", "1.x"}, "--tag, --semver: give one ref flag (only --commit may be combined with --branch)"},
		{"short commit", []string{"--commit", "abc123"}, `--commit: spec.source.git.ref.commit: Invalid value: "abc123": must be a full 40-character`},
		{"bad semver", []string{"--semver", "latest"}, `--semver: spec.source.git.ref.semver: Invalid value: "latest": not a semver range`},
		{"http without insecure", []string{"--url", "http://git.example.com/web.git"}, "--url: spec.source.git.url: Invalid value"},
		{"insecure on https", []string{"--insecure"}, "--insecure: spec.source.git.insecure: Forbidden"},
		{"ssh without secret", []string{"--url", "ssh://git@git.example.com/web.git"}, "--secret: spec.source.git.secretRef: Required value"},
		{"bad target namespace", []string{"--target-namespace", "Apps"}, `--target-namespace: spec.targetNamespace: Invalid value: "Apps"`},
		{"bad path", []string{"--path", "../up"}, `--path: spec.path: Invalid value: "../up"`},
		{"zero timeout", []string{"--timeout", "0s"}, "--timeout: must be positive"},
		{"negative git timeout", []string{"--git-timeout", "-1s"}, "--git-timeout: must be positive"},
		{"two errors at once", []string{"--schedule", "x", "--target-namespace", "Apps"}, "invalid Sync (2 errors):\n  --schedule: spec.schedule"},
		{"unknown rbac", []string{"--rbac", "tenant"}, `--rbac: must be namespace or cluster, not "tenant"`},
		{"extra rule in cluster mode", []string{"--rbac", "cluster", "--rbac-extra-rule", "pods"}, "--rbac-extra-rule: only with --rbac=namespace"},
		{"wildcard extra rule", []string{"--rbac-extra-rule", "*.apps"}, `--rbac-extra-rule: "*.apps": wildcard "*"`},
		{"bad extra rule", []string{"--rbac-extra-rule", "Pods"}, `--rbac-extra-rule: "Pods": "Pods" is not a resource name`},
		{"bad image", []string{"--image", "Not An Image"}, `--image: image "Not An Image"`},
		{"output without export", []string{"-o", "yaml"}, "--output: only with --export"},
		{"bad output", []string{"--export", "-o", "table"}, `--output: must be yaml or json, not "table"`},
		{"run with export", []string{"--run", "--export"}, "--run: cannot be combined with --export"},
		{"no url", nil, "--url, --helm-repo, --oci-url or --bucket-endpoint: required"},
		{"bad name", nil, `NAME: metadata.name: Invalid value: "Web_1"`},
		{"long name", nil, "NAME: metadata.name: Invalid value"},
		{"no name", nil, "NAME: required"},
		{"file and flags", []string{"-f", "testdata/install/sync.yaml", "--branch", "x", "--prune=false"}, "--branch, --prune: cannot be combined with --filename"},
		{"invalid file", []string{"-f", "testdata/install/invalid.yaml"}, "invalid Sync (2 errors):\n  testdata/install/invalid.yaml: spec.source.git.reff: Forbidden: unknown field"},
		{"missing file", []string{"-f", "testdata/install/nonexistent.yaml"}, "--filename: open testdata/install/nonexistent.yaml"},
		{"file names another sync", []string{"-f", "testdata/install/sync.yaml"}, `NAME: "web", but testdata/install/sync.yaml names the sync "shop"`},
		{"file in another namespace", []string{"-f", "testdata/install/sync-in-namespace.yaml", "-n", "team-a"}, `--namespace: "team-a", but testdata/install/sync-in-namespace.yaml puts the sync in namespace "team-b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Concat(base, tt.args)
			switch tt.name {
			case "no url":
				args = []string{"install", "web", "-n", "team-a"}
			case "bad name":
				args = slices.Concat([]string{"install", "Web_1"}, base[2:])
			case "long name":
				args = slices.Concat([]string{"install", strings.Repeat("a", 45)}, base[2:])
			case "no name":
				args = slices.Concat([]string{"install"}, base[2:])
			case "file and flags", "invalid file", "missing file":
				args = slices.Concat([]string{"install"}, tt.args)
			case "file in another namespace":
				args = slices.Concat([]string{"install"}, tt.args)
			case "file names another sync":
				args = slices.Concat([]string{"install", "web"}, tt.args)
			}
			args = append(args, "--kubeconfig", offline)
			if !slices.Contains(args, "--export") && !slices.Contains(args, "-o") {
				// Not exporting: a validation error must come before
				// any attempt to reach the (unreachable) server.
				args = append(args, "--request-timeout", "1s")
			}
			out, err := runCLI(t.Context(), "", args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Errorf("the server was contacted: %v", err)
			}
			if out != "" {
				t.Errorf("output despite the error:\n%s", out)
			}
			if ExitCode(err) != ExitError {
				t.Errorf("exit code %d, want %d", ExitCode(err), ExitError)
			}
		})
	}
}

func TestInstallFromStdin(t *testing.T) {
	data, err := os.ReadFile("testdata/install/sync-in-namespace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t.Context(), string(data), "install", "-f", "-", "--export", "--kubeconfig", offline)
	if err != nil {
		t.Fatal(err)
	}
	// The document's namespace wins over the context's.
	if !strings.Contains(out, "  name: gitsync-shop\n  namespace: team-b\n") || strings.Contains(out, "from-context") {
		t.Errorf("stdin install not in namespace team-b:\n%s", out)
	}
	// Without a ref, a document and the flags alike leave the ref empty:
	// the sync follows the remote's HEAD (TestDefaultRefFollowsHEAD).
	if strings.Contains(out, "ref:") {
		t.Errorf("document without a ref got one:\n%s", out)
	}
	out, err = runCLI(t.Context(), "", "install", "x", "-n", "a", "--url", "https://git.example.com/x", "--export", "--kubeconfig", offline)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "ref:") {
		t.Errorf("flags without a ref gave one:\n%s", out)
	}
}

// TestDefaultRefFollowsHEAD installs a sync without a ref flag: its runs
// check out the branch the remote's HEAD names, record it in the revision,
// and follow HEAD when it moves to another branch.
func TestDefaultRefFollowsHEAD(t *testing.T) {
	f := newPipelineFixture(t)
	ctx := t.Context()
	f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "on-main")})
	_, _, err := f.cli(ctx, "install", "app", "--url", f.git.HTTPURL("app"), "--insecure", "--path", "./deploy", "--suspend", "--image", testImage)
	wantExit(t, err, ExitOK, "")
	if doc := f.configMap("gitsync-app").Data["sync.yaml"]; strings.Contains(doc, "ref:") {
		t.Fatalf("install wrote a ref:\n%s", doc)
	}
	status := func(field string) string {
		t.Helper()
		out, _, err := f.cli(ctx, "status", "app", "-o", "jsonpath={."+field+"}")
		wantExit(t, err, ExitOK, "")
		return out
	}

	_, _, err = f.cli(ctx, "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	main, err := f.repo.Head(ctx)
	must(t, err)
	if got := status("lastAppliedRevision"); got != "main@sha1:"+main {
		t.Errorf("revision %q, want main@sha1:%s", got, main)
	}
	if got := status("source.ref"); got != "default branch main" {
		t.Errorf("status ref %q", got)
	}

	must(t, f.repo.Branch(ctx, "trunk"))
	trunk := f.commit(map[string]string{"deploy/a.yaml": configMapYAML("a", "on-trunk")})
	must(t, f.repo.SetDefaultBranch(ctx, "trunk"))
	_, _, err = f.cli(ctx, "run", "app", "--local")
	wantExit(t, err, ExitOK, "")
	if got := status("lastAppliedRevision"); got != "trunk@sha1:"+trunk {
		t.Errorf("after HEAD moved: revision %q, want trunk@sha1:%s", got, trunk)
	}
	if got := f.configMap("a").Data["value"]; got != "on-trunk" {
		t.Errorf("a.value = %q, want on-trunk", got)
	}
}

// ---- against the test cluster ----

// kubeconfigFor writes a kubeconfig for cfg (a token) with namespace as
// the context's namespace and returns its path.
func kubeconfigFor(t *testing.T, cfg *rest.Config, namespace string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "user", Namespace: namespace}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// versions returns the resourceVersion of every object install writes for
// sync web in ns, keyed by kind/namespace/name; missing objects are absent.
func versions(t *testing.T, ns, target string) map[string]string {
	t.Helper()
	ctx, c := t.Context(), env.Client()
	sel := metav1.ListOptions{LabelSelector: names.LabelSync + "=web," + names.LabelSyncNamespace + "=" + ns}
	out := map[string]string{}
	add := func(kind string, items []metav1.Object) {
		for _, it := range items {
			out[kind+"/"+it.GetNamespace()+"/"+it.GetName()] = it.GetResourceVersion()
		}
	}
	sas, err := c.CoreV1().ServiceAccounts(ns).List(ctx, sel)
	must(t, err)
	add("ServiceAccount", objects(sas.Items))
	cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, sel)
	must(t, err)
	add("ConfigMap", objects(cms.Items))
	cjs, err := c.BatchV1().CronJobs(ns).List(ctx, sel)
	must(t, err)
	add("CronJob", objects(cjs.Items))
	for _, n := range slices.Compact([]string{ns, target}) {
		roles, err := c.RbacV1().Roles(n).List(ctx, sel)
		must(t, err)
		add("Role", objects(roles.Items))
		rbs, err := c.RbacV1().RoleBindings(n).List(ctx, sel)
		must(t, err)
		add("RoleBinding", objects(rbs.Items))
	}
	crs, err := c.RbacV1().ClusterRoles().List(ctx, sel)
	must(t, err)
	add("ClusterRole", objects(crs.Items))
	crbs, err := c.RbacV1().ClusterRoleBindings().List(ctx, sel)
	must(t, err)
	add("ClusterRoleBinding", objects(crbs.Items))
	return out
}

func objects[T any, PT interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestInstallOnCluster(t *testing.T) {
	ctx := t.Context()
	ns, target, other := env.NewNamespace(t), env.NewNamespace(t), env.NewNamespace(t)
	admin := env.Client()
	for _, name := range []string{"git-creds", "unrelated"} {
		_, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		must(t, err)
	}
	args := []string{"install", "web", "-n", ns, "--kubeconfig", env.KubeconfigPath(),
		"--url", "https://git.example.com/web.git", "--secret", "git-creds", "--target-namespace", target, "--image", testImage}

	first, err := runCLI(ctx, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, first)
	}
	v1 := versions(t, ns, target)
	wantObjects := []string{
		"ConfigMap/" + ns + "/gitsync-web",
		"CronJob/" + ns + "/gitsync-web",
		"Role/" + ns + "/gitsync-web",
		"Role/" + target + "/gitsync:" + ns + ":web",
		"RoleBinding/" + ns + "/gitsync-web",
		"RoleBinding/" + target + "/gitsync:" + ns + ":web",
		"ServiceAccount/" + ns + "/gitsync-web",
	}
	slices.Sort(wantObjects) // the namespaces' names are random
	if diff := cmp.Diff(wantObjects, keys(v1)); diff != "" {
		t.Fatalf("objects after install (-want +got):\n%s\noutput:\n%s", diff, first)
	}
	cm, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	if !strings.Contains(cm.Data["sync.yaml"], "url: https://git.example.com/web.git") {
		t.Errorf("spec ConfigMap:\n%s", cm.Data["sync.yaml"])
	}
	for _, mf := range cm.ManagedFields {
		if mf.Manager != install.FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("ConfigMap managed by %q (%s), want %q (Apply)", mf.Manager, mf.Operation, install.FieldManager)
		}
	}

	t.Run("idempotent", func(t *testing.T) {
		again, err := runCLI(ctx, "", args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, again)
		}
		if again != first {
			t.Errorf("second install printed\n%s\nfirst printed\n%s", again, first)
		}
		// Applying the same objects again changes nothing on the server.
		if diff := cmp.Diff(v1, versions(t, ns, target)); diff != "" {
			t.Errorf("resourceVersions changed (-first +second):\n%s", diff)
		}
	})

	t.Run("rbac as the ServiceAccount", func(t *testing.T) {
		cfg, err := env.ServiceAccountConfig(ctx, ns, "gitsync-web")
		must(t, err)
		sa := kubernetes.NewForConfigOrDie(cfg)
		checkSyncJobRights(t, sa, ns, target, other)
	})

	t.Run("run", func(t *testing.T) {
		out, err := runCLI(ctx, "", append(args, "--run")...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		jobs, err := admin.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		must(t, err)
		if len(jobs.Items) != 1 {
			t.Fatalf("%d Jobs, want 1", len(jobs.Items))
		}
		job := jobs.Items[0]
		cj, err := admin.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
		must(t, err)
		if ref := metav1.GetControllerOf(&job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
			t.Errorf("Job %s controller %+v, want CronJob %s", job.Name, ref, cj.UID)
		}
		if job.Annotations[install.AnnotationInstantiate] != "manual" || !strings.HasPrefix(job.Name, "gitsync-web-") {
			t.Errorf("Job %s annotations %v", job.Name, job.Annotations)
		}
		if !strings.Contains(out, "Job.batch/"+ns+"/"+job.Name+" created") {
			t.Errorf("output does not name the Job %s:\n%s", job.Name, out)
		}
		if diff := cmp.Diff(cj.Spec.JobTemplate.Spec.Template.Spec.Containers, job.Spec.Template.Spec.Containers); diff != "" {
			t.Errorf("Job containers differ from the CronJob's (-cronjob +job):\n%s", diff)
		}
	})

	t.Run("switch to cluster mode and back", func(t *testing.T) {
		cfg, err := env.ServiceAccountConfig(ctx, ns, "gitsync-web")
		must(t, err)
		sa := kubernetes.NewForConfigOrDie(cfg)
		out, err := runCLI(ctx, "", append(args, "--rbac", "cluster")...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if n := strings.Count(out, "deleted (no longer granted)"); n != 4 {
			t.Errorf("%d objects deleted, want the 4 Roles and RoleBindings:\n%s", n, out)
		}
		want := []string{
			"ClusterRole//gitsync:" + ns + ":web",
			"ClusterRoleBinding//gitsync:" + ns + ":web",
			"ConfigMap/" + ns + "/gitsync-web",
			"CronJob/" + ns + "/gitsync-web",
			"ServiceAccount/" + ns + "/gitsync-web",
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, keys(versions(t, ns, target))); diff != "" {
			t.Errorf("objects in cluster mode (-want +got):\n%s", diff)
		}
		cj, err := admin.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
		must(t, err)
		if args := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "cluster") {
			t.Errorf("cluster mode args %q", args)
		}
		clusterRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "gitsync-test-"}}
		waitAllowed(t, "create a ClusterRole in cluster mode", func() error {
			cr, err := sa.RbacV1().ClusterRoles().Create(ctx, clusterRole, metav1.CreateOptions{})
			if err == nil {
				t.Cleanup(func() {
					_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), cr.Name, metav1.DeleteOptions{})
				})
			}
			return err
		})

		out, err = runCLI(ctx, "", args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if n := strings.Count(out, "deleted (no longer granted)"); n != 2 {
			t.Errorf("%d objects deleted, want the ClusterRole and its binding:\n%s", n, out)
		}
		if !strings.Contains(out, "note: the sync's scope changed") {
			t.Errorf("narrowing to namespace mode does not say what happens to objects outside the scope:\n%s", out)
		}
		waitForbidden(t, "create a ClusterRole back in namespace mode", func() error {
			_, err := sa.RbacV1().ClusterRoles().Create(ctx, clusterRole, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		})
		if diff := cmp.Diff(wantObjects, keys(versions(t, ns, target))); diff != "" {
			t.Errorf("objects back in namespace mode (-want +got):\n%s", diff)
		}
	})

	t.Run("restricted pod security", func(t *testing.T) {
		// The API server's PodSecurity admission judges the Pod the CronJob
		// would create, in a namespace that enforces "restricted".
		psa := env.NewNamespace(t)
		nsObj, err := admin.CoreV1().Namespaces().Get(ctx, psa, metav1.GetOptions{})
		must(t, err)
		nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
		_, err = admin.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{})
		must(t, err)
		cj, err := admin.BatchV1().CronJobs(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
		must(t, err)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sync-job"}, Spec: cj.Spec.JobTemplate.Spec.Template.Spec}
		pod.Spec.ServiceAccountName = "default"
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		if _, err := admin.CoreV1().Pods(psa).Create(ctx, pod, dry); err != nil {
			t.Errorf("the sync-job Pod is refused under the restricted standard: %v", err)
		}
		// The check can fail: the same Pod without its security context is
		// refused.
		pod.Spec.SecurityContext = nil
		if _, err := admin.CoreV1().Pods(psa).Create(ctx, pod, dry); !apierrors.IsForbidden(err) {
			t.Errorf("a Pod without security context: err = %v, want Forbidden", err)
		}
	})

	t.Run("nothing written when validation fails", func(t *testing.T) {
		fresh := env.NewNamespace(t)
		bad := [][]string{
			{"--schedule", "every day"},
			{"--interval", "7m"},
			{"--rbac", "tenant"},
			{"--rbac-extra-rule", "*"},
			{"--image", "Bad Image"},
		}
		for _, extra := range bad {
			a := slices.Concat([]string{"install", "web", "-n", fresh, "--kubeconfig", env.KubeconfigPath(), "--url", "https://git.example.com/web.git"}, extra)
			if out, err := runCLI(ctx, "", a...); err == nil {
				t.Errorf("%q: no error\n%s", extra, out)
			}
		}
		if got := versions(t, fresh, fresh); len(got) != 0 {
			t.Errorf("objects written despite validation errors: %v", keys(got))
		}
	})
}

// checkSyncJobRights checks, as the sync's ServiceAccount, what sync-job
// may and may not do in namespace mode.
func checkSyncJobRights(t *testing.T, sa kubernetes.Interface, ns, target, other string) {
	t.Helper()
	ctx := t.Context()
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", what, err)
		}
	}
	_, err := sa.CoreV1().ConfigMaps(ns).Get(ctx, "gitsync-web", metav1.GetOptions{})
	allowed("get the spec ConfigMap", err)
	inv := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-web-inventory"}, Data: map[string]string{"a": "1"}}
	inv, err = sa.CoreV1().ConfigMaps(ns).Create(ctx, inv, metav1.CreateOptions{})
	allowed("create the inventory ConfigMap", err)
	if err == nil {
		inv.Data["a"] = "2"
		_, err = sa.CoreV1().ConfigMaps(ns).Update(ctx, inv, metav1.UpdateOptions{})
		allowed("update the inventory ConfigMap", err)
	}
	_, err = sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "gitsync.io/kind=history"})
	allowed("list history ConfigMaps", err)

	l, err := sa.CoordinationV1().Leases(ns).Create(ctx, leaseNamed("gitsync-web"), metav1.CreateOptions{})
	allowed("create the Lease", err)
	if err == nil {
		_, err = sa.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{})
		allowed("renew the Lease", err)
		allowed("release the Lease", sa.CoordinationV1().Leases(ns).Delete(ctx, "gitsync-web", metav1.DeleteOptions{}))
	}
	_, err = sa.CoordinationV1().Leases(ns).Get(ctx, "gitsync-other", metav1.GetOptions{})
	forbidden("get another sync's Lease", err)

	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "gitsync-web."},
		InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: ns, Name: "gitsync-web"},
		Reason:         "Test", Message: "test", Type: corev1.EventTypeNormal,
	}
	_, err = sa.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
	allowed("create an Event", err)

	_, err = sa.CoreV1().Secrets(ns).Get(ctx, "git-creds", metav1.GetOptions{})
	allowed("get the secretRef Secret", err)
	_, err = sa.CoreV1().Secrets(ns).Get(ctx, "unrelated", metav1.GetOptions{})
	forbidden("get an unrelated Secret", err)
	_, err = sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	forbidden("list Secrets of the sync's namespace", err)

	_, err = sa.AppsV1().Deployments(target).Create(ctx, deployment("web"), metav1.CreateOptions{})
	allowed("create a Deployment in the target namespace", err)
	_, err = sa.AppsV1().Deployments(target).Patch(ctx, "web", types.ApplyPatchType,
		[]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"b"}}}`),
		metav1.PatchOptions{FieldManager: "gitsync"})
	allowed("server-side apply a Deployment in the target namespace", err)
	_, err = sa.AppsV1().Deployments(target).List(ctx, metav1.ListOptions{})
	allowed("list Deployments in the target namespace", err)
	allowed("delete a Deployment in the target namespace", sa.AppsV1().Deployments(target).Delete(ctx, "web", metav1.DeleteOptions{}))
	_, err = sa.AppsV1().Deployments(other).Create(ctx, deployment("web"), metav1.CreateOptions{})
	forbidden("create a Deployment in another namespace", err)
	_, err = sa.AppsV1().Deployments(ns).Create(ctx, deployment("web"), metav1.CreateOptions{})
	forbidden("create a Deployment in the sync's own namespace when it targets another", err)
	_, err = sa.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	forbidden("list Deployments cluster-wide", err)
	_, err = sa.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-test-escalation"}}, metav1.CreateOptions{})
	forbidden("create a ClusterRole", err)
	_, err = sa.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gitsync-test-escalation"}}, metav1.CreateOptions{})
	forbidden("create a Namespace", err)
	_, err = sa.CoreV1().Pods(target).List(ctx, metav1.ListOptions{})
	forbidden("list Pods (not in the default set)", err)
}

func TestInstallAsTenant(t *testing.T) {
	// A tenant with the built-in admin role in its two namespaces, and no
	// cluster rights, installs a namespace-mode sync; cluster mode is
	// refused to it.
	ctx := t.Context()
	ns, target := env.NewNamespace(t), env.NewNamespace(t)
	admin := env.Client()
	_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}, metav1.CreateOptions{})
	must(t, err)
	for _, n := range []string{ns, target} {
		_, err := admin.RbacV1().RoleBindings(n).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "tenant-admin"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: ns}},
		}, metav1.CreateOptions{})
		must(t, err)
	}
	cfg, err := env.ServiceAccountConfig(ctx, ns, "tenant")
	must(t, err)
	kc := kubeconfigFor(t, cfg, ns)
	args := []string{"install", "web", "--kubeconfig", kc, "--url", "https://git.example.com/web.git",
		"--target-namespace", target, "--image", testImage}

	var out string
	waitAllowed(t, "tenant installs in namespace mode", func() error {
		out, err = runCLI(ctx, "", args...)
		return err
	})
	if !strings.Contains(out, "sync "+ns+"/web installed") {
		t.Errorf("output:\n%s", out)
	}
	// -n: without it cluster mode installs into gitsync-system (clusterns_test.go).
	out, err = runCLI(ctx, "", append(args, "--rbac", "cluster", "-n", ns)...)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ClusterRole.rbac.authorization.k8s.io/gitsync:"+ns+":web: apply") {
		t.Errorf("tenant in cluster mode: err = %v, want Forbidden naming the ClusterRole\n%s", err, out)
	}
	out, err = runCLI(ctx, "", append(args, "--rbac", "cluster")...)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "/gitsync-system/gitsync-web") {
		t.Errorf("tenant in cluster mode without -n: err = %v, want Forbidden in gitsync-system\n%s", err, out)
	}
}

// waitAllowed retries f until it succeeds: RBAC changes reach the
// authorizer's cache shortly after they are written.
func waitAllowed(t *testing.T, what string, f func() error) {
	t.Helper()
	var last error
	err := env.WaitFor(t.Context(), func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

// waitForbidden retries f until it fails with Forbidden.
func waitForbidden(t *testing.T, what string, f func() error) {
	t.Helper()
	var last error
	err := env.WaitFor(t.Context(), func(context.Context) (bool, error) {
		last = f()
		return apierrors.IsForbidden(last), nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

// TestInstallClearsRollbackPin: installing again makes the spec
// authoritative, so the pin a rollback left on the CronJob goes.
func TestInstallClearsRollbackPin(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	args := []string{"install", "web", "-n", ns, "--kubeconfig", env.KubeconfigPath(),
		"--url", "https://git.example.com/web.git", "--image", testImage}
	if out, err := runCLI(ctx, "", args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cjs := env.Client().BatchV1().CronJobs(ns)
	cj, err := cjs.Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	if cj.Annotations == nil {
		cj.Annotations = map[string]string{}
	}
	cj.Annotations[action.AnnotationPinnedRevision] = "main@sha1:0123456789012345678901234567890123456789"
	c := &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	c.Args = append(c.Args, "--revision="+"main@sha1:0123456789012345678901234567890123456789")
	_, err = cjs.Update(ctx, cj, metav1.UpdateOptions{FieldManager: "kubectl-gitsync-rollback"})
	must(t, err)

	out, err := runCLI(ctx, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "rollback pin to main@sha1:0123456789012345678901234567890123456789 cleared") {
		t.Errorf("install did not say it cleared the pin:\n%s", out)
	}
	cj, err = cjs.Get(ctx, "gitsync-web", metav1.GetOptions{})
	must(t, err)
	if _, ok := cj.Annotations[action.AnnotationPinnedRevision]; ok {
		t.Error("pin annotation still set")
	}
	for _, a := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--revision=") {
			t.Errorf("pinned argument %q still set", a)
		}
	}
}

func TestInstallHelmFlags(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	valuesFile := dir + "/values.yaml"
	must(t, os.WriteFile(valuesFile, []byte("replicas: 2\nimage:\n  tag: v1\n  repository: example/app\n"), 0o644))
	base := []string{"install", "web", "-n", "team", "--export", "--image", testImage}

	out, err := runCLI(ctx, "", append(base, "--helm-repo", "oci://registry.example/charts", "--chart", "app",
		"--chart-version", ">=1.0.0 <2", "--secret", "registry", "--values", valuesFile, "--set", "image.tag=v2,extra=true")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"url: oci://registry.example/charts", "chart: app", "version: '>=1.0.0 <2'",
		"secretRef:", "replicas: 2", "tag: v2", "repository: example/app", "extra: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("export does not contain %q", want)
		}
	}
	if !strings.Contains(out, "- registry") {
		t.Error("the sync's Role does not grant get on the chart registry's Secret")
	}

	out, err = runCLI(ctx, "", append(base, "--url", "https://git.example/app.git", "--chart-path", "./charts/app", "--release-name", "web-app")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"path: ./charts/app", "releaseName: web-app"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart-in-Git export does not contain %q", want)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--helm-repo", "https://charts.example", "--url", "https://git.example/a.git"}, "--helm-repo: cannot be combined with --url"},
		{[]string{"--url", "https://git.example/a.git", "--chart", "app"}, "--chart, --chart-version: only with --helm-repo"},
		{[]string{"--helm-repo", "https://charts.example", "--chart", "app", "--tag", "v1"}, "--tag: Git ref flags do not apply"},
		{[]string{"--url", "https://git.example/a.git", "--set", "a=b"}, "only for a chart"},
		{[]string{"--helm-repo", "ftp://charts.example", "--chart", "app"}, "--helm-repo: spec.source.helm.url"},
		{[]string{"--helm-repo", "https://charts.example", "--chart", "app", "--values", dir + "/missing.yaml"}, "--values:"},
	} {
		out, err := runCLI(ctx, "", append(base, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}
