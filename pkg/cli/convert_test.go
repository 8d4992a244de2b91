package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/spec"
)

// convertImage keeps the golden files independent of the version built.
const convertImage = "example.com/gitsync/sync-job:v0.0.0"

func TestConvertGolden(t *testing.T) {
	ctx := t.Context()
	dir := "testdata/convert/flux"
	tests := []struct {
		name, golden string
		args         []string
		stdin        string
	}{
		{"directory", "testdata/convert/flux.yaml", []string{"convert", "-f", dir + "/"}, ""},
		{"files, cluster RBAC", "testdata/convert/files-cluster.yaml", []string{"convert", "-f", dir + "/clusters/staging/infrastructure.yaml",
			"-f", dir + "/clusters/staging/flux-system.yaml", "--rbac", "cluster"}, ""},
	}
	stdin, err := os.ReadFile(filepath.Join(dir, "apps/podinfo.yaml"))
	must(t, err)
	tests = append(tests, struct {
		name, golden string
		args         []string
		stdin        string
	}{"stdin", "testdata/convert/stdin.yaml", []string{"convert", "-f", "-"}, string(stdin)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := cliWithInput(ctx, tt.stdin, append(tt.args, "--image", convertImage)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tt.golden, out)
			checkConvertedSpecs(t, out)
		})
	}

	t.Run("each unconvertible field is named", func(t *testing.T) {
		out, _, err := cliWithInput(ctx, "", "convert", "-f", dir, "--image", convertImage)
		must(t, err)
		for _, want := range []string{
			"# Sync flux-system/infra-configs from Kustomization/flux-system/infra-configs",
			"  decryption:\n",
			"  dependsOn:\n      - name: infra-controllers\n",
			"  serviceAccountName: ",
			"#   not converted: spec.deletionPolicy: unknown field in v1beta2",
			"#   no effect in gitsync: spec.retryInterval: ",
			"#   no effect in gitsync: spec.install.remediation.retries: ",
			"# left out: " + dir + "/apps/podinfo.yaml#3 Namespace//podinfo: not a Flux object",
			"its source HelmRepository/podinfo/missing is not among the input",
			"GitRepository/flux-system/unused: read by no Kustomization or HelmRelease",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})

	t.Run("flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"convert"},
			{"convert", "-f", dir, "--from-cluster"},
			{"convert", "-f", dir, "-A"},
			{"convert", "-f", dir, "--rbac", "none"},
			{"convert", "-f", filepath.Join(dir, "nope.yaml")},
		} {
			_, _, err := cliWithInput(ctx, "", args...)
			wantExit(t, err, ExitError, "")
		}
	})
}

// checkConvertedSpecs parses every Sync document the output's spec
// ConfigMaps hold, as sync-job will.
func checkConvertedSpecs(t *testing.T, out string) {
	t.Helper()
	n := 0
	for _, doc := range strings.Split(out, "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("output document does not parse: %v\n%s", err, doc)
		}
		if u.GetKind() != "ConfigMap" {
			continue
		}
		data, _, _ := unstructured.NestedString(u.Object, "data", spec.ConfigMapKey)
		if _, err := spec.Parse([]byte(data)); err != nil {
			t.Errorf("ConfigMap %s: %v", u.GetName(), err)
		}
		n++
	}
	if n == 0 {
		t.Errorf("no spec ConfigMap in the output")
	}
}

// cliWithInput is gitsyncCLI with stdin.
func cliWithInput(ctx context.Context, stdin string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// crdResource is the resource of CustomResourceDefinitions.
var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// fluxCRD is a CustomResourceDefinition of a Flux kind that keeps every
// field, enough for the dynamic client to list objects.
func fluxCRD(group, kind, plural string, versions ...string) *unstructured.Unstructured {
	var vs []any
	for i, v := range versions {
		vs = append(vs, map[string]any{"name": v, "served": true, "storage": i == 0,
			"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + "." + group},
		"spec": map[string]any{"group": group, "scope": "Namespaced", "versions": vs,
			"names": map[string]any{"kind": kind, "plural": plural, "listKind": kind + "List", "singular": strings.ToLower(kind)}},
	}}
}

// TestConvertFromCluster installs Flux's CRDs in the test control plane,
// creates the fixture's Flux objects there, and converts them back with
// --from-cluster: the syncs must be those converted from the files.
func TestConvertFromCluster(t *testing.T) {
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(env.Config())
	must(t, err)
	ext := dyn.Resource(crdResource)
	crds := []*unstructured.Unstructured{
		fluxCRD("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories", "v1"),
		fluxCRD("source.toolkit.fluxcd.io", "HelmRepository", "helmrepositories", "v1"),
		fluxCRD("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations", "v1", "v1beta2"),
		fluxCRD("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases", "v2"),
	}
	for _, crd := range crds {
		_, err := ext.Create(ctx, crd, metav1.CreateOptions{})
		must(t, err)
		t.Cleanup(func() {
			_ = ext.Delete(context.WithoutCancel(ctx), crd.GetName(), metav1.DeleteOptions{})
		})
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100e6, 30e9, true, func(ctx context.Context) (bool, error) {
			got, err := ext.Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		must(t, err)
	}

	// The fixture's Flux objects, moved into a namespace of this test,
	// with a fixed name: the schedules derive from namespace/name.
	ns := "flux-convert"
	ensureNamespace(t, ns)
	in, err := readConvertInputs("testdata/convert/flux/clusters/staging", nil)
	must(t, err)
	var created int
	for _, i := range in {
		u := i.Object
		if u.GetName() == "unused" {
			continue
		}
		u.SetNamespace(ns)
		gvk := u.GroupVersionKind()
		plural := map[string]string{"GitRepository": "gitrepositories", "Kustomization": "kustomizations"}[gvk.Kind]
		_, err := dyn.Resource(schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: plural}).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
		must(t, err)
		created++
	}
	if created != 4 {
		t.Fatalf("created %d objects, want 4", created)
	}

	var out, errOut string
	// Discovery may lag behind the new CRDs for a moment.
	err = wait.PollUntilContextTimeout(ctx, 500e6, 30e9, true, func(ctx context.Context) (bool, error) {
		out, errOut, err = cliWithInput(ctx, "", "convert", "--from-cluster", "--image", convertImage, "--kubeconfig", env.KubeconfigPath(), "-n", ns, "--cache-dir", t.TempDir())
		return err == nil && strings.Count(out, "\n# Sync ") == 3, nil
	})
	if err != nil {
		t.Fatalf("convert --from-cluster: %v\n%s\n%s", err, out, errOut)
	}
	golden(t, "testdata/convert/from-cluster.yaml", out)
	checkConvertedSpecs(t, out)
	if !strings.Contains(out, "  decryption:\n") {
		t.Errorf("the refused field of the cluster's object is not named:\n%s", out)
	}

	t.Run("a cluster without Flux", func(t *testing.T) {
		for _, crd := range crds {
			must(t, ext.Delete(ctx, crd.GetName(), metav1.DeleteOptions{}))
		}
		err := wait.PollUntilContextTimeout(ctx, 500e6, 30e9, true, func(ctx context.Context) (bool, error) {
			_, _, err := cliWithInput(ctx, "", "convert", "--from-cluster", "--kubeconfig", env.KubeconfigPath(), "-n", ns, "--cache-dir", t.TempDir())
			return err != nil && strings.Contains(err.Error(), "is Flux installed?"), nil
		})
		must(t, err)
	})
}
