package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/lockdown"
	"github.com/gitsync/gitsync/pkg/names"
)

// TestLockdownCommand: `lockdown` writes the policy onto the Namespace and
// says when nothing changed or the default ServiceAccount is missing;
// install in a locked-down namespace refuses cluster mode and writes the
// default ServiceAccount into the spec, with the delegated RBAC
// (impersonate it, no applier Role); a ServiceAccount given explicitly is
// kept; --off lifts the lockdown.
func TestLockdownCommand(t *testing.T) {
	ctx := t.Context()
	ns := env.NewNamespace(t)
	kc := []string{"-n", ns, "--kubeconfig", env.KubeconfigPath()}
	run := func(args ...string) (string, string, error) {
		t.Helper()
		return runCLISplit(ctx, append(args, kc...)...)
	}
	annotations := func() map[string]string {
		t.Helper()
		got, err := env.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Annotations
	}

	out, _, err := run("lockdown", "--show", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var shown action.LockdownResult
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if shown.After.Active() {
		t.Fatalf("a new namespace shows a lockdown: %+v", shown.After)
	}

	out, errOut, err := run("lockdown", "--default-service-account", "deployer")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Namespace/" + ns + ": cross-namespace references refused; default ServiceAccount deployer (changed)"; !strings.Contains(out, want) {
		t.Errorf("lockdown printed %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "ServiceAccount/"+ns+"/deployer does not exist") {
		t.Errorf("no warning about the missing ServiceAccount: %q", errOut)
	}
	if a := annotations(); a[lockdown.AnnotationNoCrossNamespaceRefs] != "true" || a[lockdown.AnnotationDefaultServiceAccount] != "deployer" {
		t.Errorf("Namespace annotations %v", a)
	}
	if out, _, err := run("lockdown"); err != nil || !strings.Contains(out, "(unchanged)") {
		t.Errorf("lockdown again: %v %q; want unchanged, the default ServiceAccount kept", err, out)
	}

	url := "https://git.example.com/team/web.git"
	if _, _, err := run("install", "web", "--url", url, "--rbac", "cluster"); err == nil || !strings.Contains(err.Error(), "locked down") {
		t.Errorf("cluster-mode install in a locked-down namespace: %v; want it refused", err)
	}
	_, errOut, err = run("install", "web", "--url", url)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "spec.serviceAccountName set to deployer") {
		t.Errorf("install did not say it applied the default ServiceAccount: %q", errOut)
	}
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, names.Spec("web"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["sync.yaml"], "serviceAccountName: deployer") {
		t.Errorf("spec:\n%s\nwant serviceAccountName: deployer", cm.Data["sync.yaml"])
	}
	roles, err := env.Client().RbacV1().Roles("").List(ctx, metav1.ListOptions{LabelSelector: names.LabelSync + "=web," + names.LabelSyncNamespace + "=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	var impersonates []string
	for _, r := range roles.Items {
		if r.Namespace != ns || r.Name != names.OwnRole("web") {
			t.Errorf("install wrote Role %s/%s; want only %s (delegated RBAC)", r.Namespace, r.Name, names.OwnRole("web"))
		}
		for _, rule := range r.Rules {
			if slices.Contains(rule.Verbs, "impersonate") {
				impersonates = append(impersonates, rule.ResourceNames...)
			}
		}
	}
	if !slices.Equal(impersonates, []string{"deployer"}) {
		t.Errorf("the job may impersonate %v, want [deployer]", impersonates)
	}

	if _, errOut, err := run("install", "api", "--url", url, "--service-account", "api-deployer"); err != nil || strings.Contains(errOut, "set to deployer") {
		t.Errorf("install --service-account api-deployer: %v %q; want it kept", err, errOut)
	}

	if _, _, err := run("lockdown", "--off", "--default-service-account", "x"); err == nil {
		t.Error("--off with --default-service-account accepted")
	}
	if _, _, err := run("lockdown", "--off"); err != nil {
		t.Fatal(err)
	}
	if a := annotations(); a[lockdown.AnnotationNoCrossNamespaceRefs] != "" || a[lockdown.AnnotationDefaultServiceAccount] != "" {
		t.Errorf("--off left annotations %v", a)
	}
}
