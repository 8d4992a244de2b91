package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/names"
)

// objectVersions returns the resourceVersion of every object install wrote
// for the syncs of namespace ns (and their RBAC elsewhere), by ID.
func objectVersions(ctx context.Context, t *testing.T, ns string, extraNS ...string) map[string]string {
	t.Helper()
	c := env.Client()
	sel := metav1.ListOptions{LabelSelector: names.LabelSyncNamespace + "=" + ns}
	out := map[string]string{}
	cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cms.Items {
		out["ConfigMap/"+o.Name] = o.ResourceVersion
	}
	cjs, err := c.BatchV1().CronJobs(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cjs.Items {
		out["CronJob/"+o.Name] = o.ResourceVersion
	}
	sas, err := c.CoreV1().ServiceAccounts(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range sas.Items {
		out["ServiceAccount/"+o.Name] = o.ResourceVersion
	}
	for _, n := range append([]string{ns}, extraNS...) {
		roles, err := c.RbacV1().Roles(n).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range roles.Items {
			out["Role/"+n+"/"+o.Name] = o.ResourceVersion
		}
		rbs, err := c.RbacV1().RoleBindings(n).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range rbs.Items {
			out["RoleBinding/"+n+"/"+o.Name] = o.ResourceVersion
		}
	}
	crs, err := c.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range crs.Items {
		out["ClusterRole/"+o.Name] = o.ResourceVersion
	}
	return out
}

// TestExportRoundTrip installs two syncs with flags beyond the spec (image,
// target namespace, extra rule, cluster RBAC), exports them, and checks
// that: the Sync documents match the golden file; --manifests prints
// exactly what install --export printed; and installing the exported
// documents again with the flags their comments give changes no object.
func TestExportRoundTrip(t *testing.T) {
	ctx := t.Context()
	ns, target := env.NewNamespace(t), env.NewNamespace(t)
	kc := env.KubeconfigPath()
	webFlags := []string{"web", "-n", ns, "--url", "https://git.example.com/web.git", "--branch", "main",
		"--path", "deploy", "--schedule", "*/7 * * * *", "--image", testImage, "--target-namespace", target,
		"--rbac-extra-rule", "servicemonitors.monitoring.coreos.com", "--rbac-extra-rule", "pods:get,list", "--secret", "web-auth"}
	apiFlags := []string{"api", "-n", ns, "--url", "https://git.example.com/api.git", "--tag", "v1.2.3",
		"--rbac", "cluster", "--image", "registry.example.com/sync-job:dev", "--wait", "--prune=false"}
	for _, f := range [][]string{webFlags, apiFlags} {
		if out, err := runCLI(ctx, "", append(append([]string{"install"}, f...), "--kubeconfig", kc)...); err != nil {
			t.Fatalf("install: %v\n%s", err, out)
		}
	}
	installExport, err := runCLI(ctx, "", append(append([]string{"install"}, webFlags...), "--export", "--kubeconfig", kc)...)
	if err != nil {
		t.Fatal(err)
	}

	docs, err := runCLI(ctx, "", "export", "api", "web", "-n", ns, "--kubeconfig", kc)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, docs)
	}
	normalized := strings.ReplaceAll(strings.ReplaceAll(docs, target, "TARGET"), ns, "NS")
	golden(t, "testdata/export/syncs.yaml", normalized)

	all, err := runCLI(ctx, "", "export", "--all", "-n", ns, "--kubeconfig", kc)
	if err != nil || all != docs {
		t.Errorf("export --all: %v\n%s", err, cmp.Diff(docs, all))
	}

	manifests, err := runCLI(ctx, "", "export", "web", "-n", ns, "--manifests", "--kubeconfig", kc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(installExport, manifests); diff != "" {
		t.Errorf("export --manifests differs from install --export (-install +export):\n%s", diff)
	}

	before := objectVersions(ctx, t, ns, target)
	if len(before) < 9 {
		t.Fatalf("found only %v", before)
	}
	for _, doc := range strings.Split(docs, "---\n") {
		args := []string{"install", "-f", "-", "--kubeconfig", kc}
		for _, line := range strings.Split(doc, "\n") {
			if flags, ok := strings.CutPrefix(line, "# install flags: "); ok {
				args = append(args, strings.Fields(flags)...)
			}
		}
		if out, err := runCLI(ctx, doc, args...); err != nil {
			t.Fatalf("install -f of the export: %v\n%s\n%s", err, out, doc)
		}
	}
	after := objectVersions(ctx, t, ns, target)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("installing the export changed objects (-before +after resourceVersion):\n%s", diff)
	}
	// The check can fail: installing without the comment's flags changes the CronJob.
	if out, err := runCLI(ctx, strings.Split(docs, "---\n")[0], "install", "-f", "-", "--kubeconfig", kc); err != nil {
		t.Fatal(err, out)
	}
	if changed := objectVersions(ctx, t, ns, target); changed["CronJob/gitsync-api"] == before["CronJob/gitsync-api"] ||
		changed["ClusterRole/gitsync:"+ns+":api"] != "" {
		t.Errorf("installing without the flags should change CronJob gitsync-api and drop its ClusterRole: %v", changed)
	}
}

func TestExportErrors(t *testing.T) {
	ns := env.NewNamespace(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"export"}, "NAME: required, or --all"},
		{[]string{"export", "web", "--all"}, "--all: cannot be combined with NAME"},
		{[]string{"export", "missing"}, "sync not found"},
		{[]string{"export", "--all"}, "no syncs in namespace " + ns},
	} {
		out, err := runCLI(t.Context(), "", append(tt.args, "-n", ns, "--kubeconfig", env.KubeconfigPath())...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q\n%s", tt.args, err, tt.want, out)
		}
	}
}
