package flux

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A trimmed copy of what flux bootstrap writes: every object of
// gotk-components.yaml carries flux install's labels.
const gotkComponents = `
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux, app.kubernetes.io/version: v2.7.0}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kustomizations.kustomize.toolkit.fluxcd.io
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux}
spec: {group: kustomize.toolkit.fluxcd.io}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller
  namespace: flux-system
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux, control-plane: controller}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-reconciler-flux-system
  labels: {app.kubernetes.io/instance: flux-system, app.kubernetes.io/part-of: flux}
`

const gotkSync = `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m0s, ref: {branch: main}, secretRef: {name: flux-system}, url: 'ssh://git@github.com/org/fleet'}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 10m0s, path: ./clusters/staging, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
`

const userTree = `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 10m, path: ./apps/staging, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: flux-system}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: flux-dashboards
  namespace: monitoring
  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/component: monitoring}
`

func docs(t *testing.T, yamls ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, y := range yamls {
		for d := range strings.SplitSeq(y, "\n---\n") {
			if strings.TrimSpace(d) != "" {
				out = append(out, obj(t, d))
			}
		}
	}
	return out
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s/%s/%s", o.GetKind(), o.GetNamespace(), o.GetName()))
	}
	return out
}

func TestFindInstallation(t *testing.T) {
	tests := []struct {
		name           string
		objs           []*unstructured.Unstructured
		sources        []string
		wantComponents []string
		wantSync       []string
		wantRest       []string
		wantSummary    string
	}{
		{
			name: "flux bootstrap's files in the tree",
			objs: docs(t, gotkComponents, gotkSync, userTree),
			wantComponents: []string{"Namespace//flux-system", "CustomResourceDefinition//kustomizations.kustomize.toolkit.fluxcd.io",
				"Deployment/flux-system/kustomize-controller", "ClusterRoleBinding//cluster-reconciler-flux-system"},
			wantSync: []string{"GitRepository/flux-system/flux-system", "Kustomization/flux-system/flux-system"},
			wantRest: []string{"Kustomization/flux-system/apps", "ConfigMap/flux-system/settings", "CustomResourceDefinition//widgets.example.com", "ConfigMap/monitoring/flux-dashboards"},
			wantSummary: "Flux's own installation is not applied: 4 objects of gotk-components.yaml (namespace flux-system) and " +
				"gotk-sync.yaml's GitRepository/flux-system/flux-system, Kustomization/flux-system/flux-system",
		},
		{
			name:     "only the sync pair, recognised without its file name",
			objs:     docs(t, gotkSync, userTree),
			wantSync: []string{"GitRepository/flux-system/flux-system", "Kustomization/flux-system/flux-system"},
			wantRest: []string{"Kustomization/flux-system/apps", "ConfigMap/flux-system/settings", "CustomResourceDefinition//widgets.example.com", "ConfigMap/monitoring/flux-dashboards"},
			wantSummary: "Flux's own installation is not applied: gotk-sync.yaml's GitRepository/flux-system/flux-system, " +
				"Kustomization/flux-system/flux-system",
		},
		{
			name: "Flux installed into another namespace",
			objs: docs(t, strings.ReplaceAll(gotkComponents, "flux-system", "flux"), strings.ReplaceAll(gotkSync, "flux-system", "flux")),
			wantComponents: []string{"Namespace//flux", "CustomResourceDefinition//kustomizations.kustomize.toolkit.fluxcd.io",
				"Deployment/flux/kustomize-controller", "ClusterRoleBinding//cluster-reconciler-flux"},
			wantSync: []string{"GitRepository/flux/flux", "Kustomization/flux/flux"},
			wantSummary: "Flux's own installation is not applied: 4 objects of gotk-components.yaml (namespace flux) and " +
				"gotk-sync.yaml's GitRepository/flux/flux, Kustomization/flux/flux",
		},
		{
			name: "by file name, without labels",
			objs: docs(t, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: helm-controller, namespace: flux-system}\n",
				"apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: fleet, namespace: flux-system}\nspec: {interval: 1m, url: 'https://h/r'}\n",
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gotk-like, namespace: flux-system}\n"),
			sources:        []string{"clusters/prod/flux-system/gotk-components.yaml", "clusters/prod/flux-system/gotk-sync.yaml", "clusters/prod/gotk-sync.yaml"},
			wantComponents: []string{"ServiceAccount/flux-system/helm-controller"},
			wantSync:       []string{"GitRepository/flux-system/fleet"},
			wantRest:       []string{"ConfigMap/flux-system/gotk-like"},
			wantSummary: "Flux's own installation is not applied: 1 object of gotk-components.yaml (namespace flux-system) and " +
				"gotk-sync.yaml's GitRepository/flux-system/fleet",
		},
		{
			name:           "a Flux CRD without labels",
			objs:           docs(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: helmreleases.helm.toolkit.fluxcd.io}\nspec: {group: helm.toolkit.fluxcd.io}\n"),
			wantComponents: []string{"CustomResourceDefinition//helmreleases.helm.toolkit.fluxcd.io"},
			wantSummary:    "Flux's own installation is not applied: 1 object of gotk-components.yaml",
		},
		{
			name:     "a pair named otherwise is the user's",
			objs:     docs(t, strings.ReplaceAll(gotkSync, "name: flux-system", "name: fleet")),
			wantRest: []string{"GitRepository/flux-system/fleet", "Kustomization/flux-system/fleet"},
		},
		{
			name:     "nothing of Flux",
			objs:     docs(t, userTree),
			wantRest: []string{"Kustomization/flux-system/apps", "ConfigMap/flux-system/settings", "CustomResourceDefinition//widgets.example.com", "ConfigMap/monitoring/flux-dashboards"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, rest := FindInstallation(tc.objs, tc.sources)
			if diff := cmp.Diff(tc.wantComponents, names(in.Components)); diff != "" {
				t.Errorf("components (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantSync, names(in.Sync)); diff != "" {
				t.Errorf("sync (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRest, names(rest)); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
			if got := in.Summary(); got != tc.wantSummary {
				t.Errorf("Summary() = %q; want %q", got, tc.wantSummary)
			}
			if in.Empty() != (tc.wantSummary == "") {
				t.Errorf("Empty() = %t", in.Empty())
			}
		})
	}
}
