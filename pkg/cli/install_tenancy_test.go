package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// install --service-account: the job's Role reads its spec and the named
// Secrets, writes its state, and may impersonate exactly the tenant's
// ServiceAccount; nothing grants the job rights on the objects, and the
// tenant's ServiceAccount is not created.
func TestInstallServiceAccountGolden(t *testing.T) {
	out, err := runCLI(t.Context(), "", "install", "web", "-n", "team-a", "--url", "https://git.example.com/team-a/web.git",
		"--secret", "git-creds", "--target-namespace", "apps", "--service-account", "tenant", "--image", testImage,
		"--export", "--kubeconfig", offline)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/install/service-account.yaml", out)

	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var roles []rbacv1.Role
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc["kind"] {
		case "ServiceAccount":
			if md := doc["metadata"].(map[string]any); md["name"] == "tenant" {
				t.Errorf("install created the tenant's ServiceAccount")
			}
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("install wrote a %s", doc["kind"])
		case "ConfigMap":
			if !strings.Contains(doc["data"].(map[string]any)["sync.yaml"].(string), "serviceAccountName: tenant") {
				t.Errorf("spec lacks serviceAccountName: %v", doc["data"])
			}
		case "Role":
			var r rbacv1.Role
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			roles = append(roles, r)
		}
	}
	if len(roles) != 1 || roles[0].Namespace != "team-a" {
		t.Fatalf("want one Role, in team-a; got %d: %v", len(roles), roles)
	}
	var impersonate []rbacv1.PolicyRule
	for _, r := range roles[0].Rules {
		if slices.Contains(r.Verbs, "impersonate") {
			impersonate = append(impersonate, r)
		}
		for _, res := range r.Resources {
			if res == "deployments" || res == "*" {
				t.Errorf("the job's Role grants %v on %s", r.Verbs, res)
			}
		}
		if slices.Contains(r.Resources, "secrets") && !slices.Equal(r.ResourceNames, []string{"git-creds"}) &&
			!slices.Equal(r.ResourceNames, []string{names.Render("web")}) {
			t.Errorf("Secrets rule not limited to the named Secret and the stored render: %v", r)
		}
	}
	if len(impersonate) != 1 || !slices.Equal(impersonate[0].ResourceNames, []string{"tenant"}) ||
		!slices.Equal(impersonate[0].Resources, []string{"serviceaccounts"}) || !slices.Equal(impersonate[0].Verbs, []string{"impersonate"}) {
		t.Errorf("impersonation rules = %v, want impersonate on serviceaccounts [tenant] only", impersonate)
	}
}

func TestInstallServiceAccountErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--service-account", "Bad_Name"}, `--service-account "Bad_Name"`},
		{[]string{"--service-account", "tenant", "--rbac-extra-rule", "pods"}, "grant rights to that identity instead"},
	} {
		args := append([]string{"install", "web", "-n", "team-a", "--url", "https://git.example.com/w.git", "--image", testImage,
			"--export", "--kubeconfig", offline}, tc.args...)
		_, err := runCLI(t.Context(), "", args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// status shows where and as whom the last run applied.
func TestStatusShowsTarget(t *testing.T) {
	var out strings.Builder
	st := action.SyncStatus{Name: "web", Namespace: "team-a", LastRun: &inventory.Run{
		Result: inventory.ResultSucceeded, Target: "https://10.0.0.1:6443", ServiceAccount: "system:serviceaccount:team-a:tenant",
	}}
	if err := writeStatusDetail(&out, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Target:", "https://10.0.0.1:6443", "As:", "system:serviceaccount:team-a:tenant"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
