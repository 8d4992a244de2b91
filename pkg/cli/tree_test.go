package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/object"
)

func TestTreeGolden(t *testing.T) {
	ns, stable := seedGolden(t)
	ctx := t.Context()
	tests := []struct {
		name, golden string
		args         []string
	}{
		{"objects in several namespaces", "testdata/tree/web.txt", []string{"tree", "web"}},
		{"objects in the sync's namespace", "testdata/tree/api.txt", []string{"tree", "api"}},
		{"never ran", "testdata/tree/new.txt", []string{"tree", "new"}},
		{"json", "testdata/tree/web.json", []string{"tree", "web", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := gitsyncCLI(ctx, append(tt.args, "--kubeconfig", env.KubeconfigPath(), "-n", ns)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tt.golden, stable(out))
		})
	}
}

func TestBuildTree(t *testing.T) {
	ids := []object.ID{
		{Kind: "ConfigMap", Namespace: "b", Name: "z"},
		{Group: "apps", Kind: "Deployment", Namespace: "b", Name: "web"},
		{Kind: "ConfigMap", Namespace: "b", Name: "a"},
		{Kind: "Namespace", Name: "b"},
		{Kind: "ConfigMap", Namespace: "a", Name: "x"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "r"},
	}
	want := []TreeNamespace{
		{Name: "", Kinds: []TreeKind{
			{Kind: "ClusterRole.rbac.authorization.k8s.io", Names: []string{"r"}},
			{Kind: "Namespace", Names: []string{"b"}},
		}},
		{Name: "a", Kinds: []TreeKind{{Kind: "ConfigMap", Names: []string{"x"}}}},
		{Name: "b", Kinds: []TreeKind{
			{Kind: "ConfigMap", Names: []string{"a", "z"}},
			{Kind: "Deployment.apps", Names: []string{"web"}},
		}},
	}
	if diff := cmp.Diff(want, BuildTree(ids)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}
