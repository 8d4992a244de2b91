package flux

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/spec"
)

// serviceAccountName and kubeConfig of Kustomizations and HelmReleases are
// mapped, and the kubeconfig Secret is one the run reads.
func TestDecodeTenancyFields(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		sa       string
		kc       *spec.KubeConfigReference
		wantUses []SecretUse
	}{
		{
			name: "Kustomization with both",
			doc: "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: team}\n" +
				"spec:\n  interval: 10m\n  prune: true\n  sourceRef: {kind: GitRepository, name: repo}\n" +
				"  serviceAccountName: tenant\n  kubeConfig: {secretRef: {name: prod, key: config}}\n",
			sa: "tenant", kc: &spec.KubeConfigReference{SecretRef: &spec.SecretKeyReference{Name: "prod", Key: "config"}},
			wantUses: []SecretUse{{Namespace: "team", Name: "prod", Field: "spec.kubeConfig.secretRef"}},
		},
		{
			name: "HelmRelease with a ServiceAccount only",
			doc: "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app, namespace: apps}\n" +
				"spec:\n  interval: 10m\n  chart: {spec: {chart: app, sourceRef: {kind: HelmRepository, name: charts}}}\n" +
				"  serviceAccountName: deployer\n",
			sa: "deployer",
		},
		{
			name: "HelmRelease with kubeConfig, default key",
			doc: "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app, namespace: apps}\n" +
				"spec:\n  interval: 10m\n  chart: {spec: {chart: app, sourceRef: {kind: HelmRepository, name: charts}}}\n" +
				"  kubeConfig: {secretRef: {name: remote}}\n",
			kc:       &spec.KubeConfigReference{SecretRef: &spec.SecretKeyReference{Name: "remote"}},
			wantUses: []SecretUse{{Namespace: "apps", Name: "remote", Field: "spec.kubeConfig.secretRef"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(obj(t, tc.doc), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var sa string
			var kc *spec.KubeConfigReference
			switch o := got.(type) {
			case *Kustomization:
				sa, kc = o.ServiceAccountName, o.KubeConfig
			case *HelmRelease:
				sa, kc = o.ServiceAccountName, o.KubeConfig
			}
			if sa != tc.sa {
				t.Errorf("ServiceAccountName = %q, want %q", sa, tc.sa)
			}
			if diff := cmp.Diff(tc.kc, kc); diff != "" {
				t.Errorf("KubeConfig (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantUses, Secrets(got)); diff != "" {
				t.Errorf("Secrets (-want +got):\n%s", diff)
			}
		})
	}
}
