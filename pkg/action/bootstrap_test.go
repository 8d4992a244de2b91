package action

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

// TestBootstrapManifests checks the files bootstrap writes: where they go,
// that the same options give the same bytes (so a re-run commits nothing),
// that the spec stored in them manages gitsync and applies the path, and
// that a namespace-mode root sync writes nothing cluster-scoped.
func TestBootstrapManifests(t *testing.T) {
	opts := BootstrapOptions{URL: "ssh://git@git.example.com/fleet.git", Path: "./clusters/prod/", SecretName: "auth",
		Install: install.Options{Image: "registry.example.com/sync-job:v1"}}
	_, files, err := BootstrapManifests(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := BootstrapManifests(opts)
	if err != nil {
		t.Fatal(err)
	}
	main := files["clusters/prod/gitsync-system/gitsync.yaml"]
	if len(files) != 2 || len(main) == 0 || string(main) != string(again["clusters/prod/gitsync-system/gitsync.yaml"]) {
		t.Fatalf("files %v, or not the same bytes twice", keys(files))
	}
	if k := string(files["clusters/prod/gitsync-system/kustomization.yaml"]); !strings.Contains(k, "- gitsync.yaml") {
		t.Errorf("kustomization.yaml:\n%s", k)
	}
	docs := strings.Split(string(main), "\n---\n")
	var kinds []string
	var stored string
	for _, d := range docs {
		var obj struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, obj.Kind)
		if obj.Kind == "ConfigMap" {
			stored = obj.Data[spec.ConfigMapKey]
		}
	}
	if want := "Namespace,ServiceAccount,ClusterRole,ClusterRoleBinding,ConfigMap,CronJob"; strings.Join(kinds, ",") != want {
		t.Errorf("kinds %v, want %s", kinds, want)
	}
	s, err := spec.Parse([]byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Spec.ManageGitsync || s.Spec.Path != "./clusters/prod" || s.Spec.Source.Git.Ref.Branch != "main" ||
		s.Spec.Source.Git.SecretRef.Name != "auth" || s.Name != BootstrapName || s.Namespace != BootstrapName {
		t.Errorf("stored spec: %+v", s)
	}
	if !strings.Contains(string(main), "registry.example.com/sync-job:v1") {
		t.Error("the image is not in the CronJob")
	}

	opts.Install.RBAC = install.RBACNamespace
	_, files, err = BootstrapManifests(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"kind: Namespace", "kind: ClusterRole"} {
		if strings.Contains(string(files["clusters/prod/gitsync-system/gitsync.yaml"]), kind) {
			t.Errorf("namespace mode wrote %s", kind)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
