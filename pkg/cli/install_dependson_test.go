package cli

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// TestInstallDependsOn installs a ← b ← c with --depends-on, checks what
// install wrote (spec.dependsOn, the label a run of the dependency lists,
// the trigger Role), refuses a → c, which would close a cycle, naming it,
// and shows what status says of a dependent.
func TestInstallDependsOn(t *testing.T) {
	ctx := t.Context()
	ns, other := env.NewNamespace(t), env.NewNamespace(t)
	install := func(name string, extra ...string) (string, error) {
		args := append([]string{"install", name, "-n", ns, "--kubeconfig", env.KubeconfigPath(),
			"--url", "https://git.example.com/web.git", "--image", testImage}, extra...)
		return runCLI(ctx, "", args...)
	}
	var out string
	for _, step := range [][]string{{"a"}, {"b", "--depends-on", "a"}, {"c", "--depends-on", "b", "--depends-on", other + "/x"}} {
		var err error
		if out, err = install(step[0], step[1:]...); err != nil {
			t.Fatalf("install %v: %v\n%s", step, err, out)
		}
	}
	// x is not installed: install says c waits for it.
	if want := "note: sync " + other + "/x (spec.dependsOn) is not installed"; !strings.Contains(out, want) {
		t.Errorf("install c says nothing of x:\n%s", out)
	}
	if strings.Contains(out, "note: sync "+ns+"/b") {
		t.Errorf("install c calls the installed b missing:\n%s", out)
	}
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, names.Spec("c"), metav1.GetOptions{})
	must(t, err)
	s, err := spec.FromConfigMap(cm)
	must(t, err)
	want := []string{ns + "/b", other + "/x"}
	var got []string
	for _, d := range s.DependenciesIn(ns) {
		got = append(got, d.String())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("spec.dependsOn of c: %v, want %v", got, want)
	}
	if v := cm.Labels[names.DependsOnLabel(ns, "b")]; v != "b" {
		t.Errorf("label %s on c's spec: %q, want b", names.DependsOnLabel(ns, "b"), v)
	}
	rb, err := env.Client().RbacV1().RoleBindings(ns).Get(ctx, names.Trigger("c"), metav1.GetOptions{})
	must(t, err)
	wantSubjects := []rbacv1.Subject{
		{Kind: "ServiceAccount", Name: "gitsync-b", Namespace: ns},
		{Kind: "ServiceAccount", Name: "gitsync-x", Namespace: other},
	}
	if len(rb.Subjects) != 2 || !slices.Contains(rb.Subjects, wantSubjects[0]) || !slices.Contains(rb.Subjects, wantSubjects[1]) {
		t.Errorf("trigger RoleBinding subjects: %+v, want %+v", rb.Subjects, wantSubjects)
	}
	// c reads x's state in the other namespace, by name.
	role, err := env.Client().RbacV1().Roles(other).Get(ctx, names.DependencyReader(ns, "c"), metav1.GetOptions{})
	must(t, err)
	if r := role.Rules; len(r) != 1 || strings.Join(r[0].ResourceNames, ",") != "gitsync-x,gitsync-x-inventory" || strings.Join(r[0].Verbs, ",") != "get" {
		t.Errorf("reader Role in %s: %+v", other, r)
	}

	// a → c closes a → c → b → a.
	out, err = install("a", "--depends-on", "c")
	wantErr := "dependsOn: cycle: " + ns + "/a → " + ns + "/c → " + ns + "/b → " + ns + "/a"
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("install of a cycle: %v\n%s\nwant an error with %q", err, out, wantErr)
	}
	cm, err = env.Client().CoreV1().ConfigMaps(ns).Get(ctx, names.Spec("a"), metav1.GetOptions{})
	must(t, err)
	if strings.Contains(cm.Data[spec.ConfigMapKey], "dependsOn") {
		t.Errorf("the refused install wrote a's spec:\n%s", cm.Data[spec.ConfigMapKey])
	}
	// Depending on itself is a spec error, named by its flag.
	if out, err := install("a", "--depends-on", "a"); err == nil || !strings.Contains(err.Error(), "--depends-on") || !strings.Contains(err.Error(), "cannot depend on itself") {
		t.Errorf("install a --depends-on a: %v\n%s", err, out)
	}

	// Uninstall removes the reader Role of the other namespace too.
	if out, err := runCLI(ctx, "", "uninstall", "c", "-n", ns, "--kubeconfig", env.KubeconfigPath()); err != nil {
		t.Fatalf("uninstall c: %v\n%s", err, out)
	}
	if _, err := env.Client().RbacV1().Roles(other).Get(ctx, names.DependencyReader(ns, "c"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("reader Role after uninstall: %v, want NotFound", err)
	}
}
