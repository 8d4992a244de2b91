package flux

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSecrets decodes objects that name Secrets in every field that can,
// and checks the list RBAC is generated from.
func TestSecrets(t *testing.T) {
	docs := []string{
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: g, namespace: ns1}\n" +
			"spec: {interval: 1m, url: 'https://h/r', secretRef: {name: git}, verify: {secretRef: {name: pgp}}, include: [{repository: {name: other}}]}\n",
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: o, namespace: ns2}\n" +
			"spec: {interval: 1m, url: 'oci://h/r', secretRef: {name: reg}, certSecretRef: {name: tls}, verify: {secretRef: {name: cosign}}}\n",
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\nmetadata: {name: b, namespace: ns1}\n" +
			"spec: {interval: 1m, endpoint: 'h:9000', bucketName: cfg, secretRef: {name: s3}, certSecretRef: {name: s3-tls}}\n",
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: h, namespace: ns1}\n" +
			"spec: {url: 'https://charts', secretRef: {name: helm}}\n",
		"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: ns3}\n" +
			"spec: {interval: 1m, prune: true, sourceRef: {kind: GitRepository, name: g}, decryption: {provider: sops, secretRef: {name: sops}}, " +
			"postBuild: {substituteFrom: [{kind: ConfigMap, name: vars}, {kind: Secret, name: vars}]}}\n",
		// The sync's keys: no Secret of the Kustomization's namespace.
		"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k2, namespace: ns3}\n" +
			"spec: {interval: 1m, prune: true, sourceRef: {kind: GitRepository, name: g}, decryption: {provider: sops}}\n",
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r, namespace: ns3}\n" +
			"spec: {interval: 1m, chartRef: {kind: OCIRepository, name: o}, valuesFrom: [{kind: Secret, name: values}]}\n",
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: anonymous, namespace: ns1}\nspec: {interval: 1m, url: 'https://h/r'}\n",
		// A verified chart: its keys are read in the source's namespace.
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: v, namespace: ns3}\n" +
			"spec: {interval: 1m, chart: {spec: {chart: app, sourceRef: {kind: HelmRepository, name: h, namespace: ns1}, verify: {secretRef: {name: chart-keys}}}}}\n",
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmChart\nmetadata: {name: c, namespace: ns1}\n" +
			"spec: {interval: 1m, chart: app, sourceRef: {kind: HelmRepository, name: h}, verify: {trustedRootSecretRef: {name: root}}}\n",
	}
	var got []SecretUse
	for _, d := range docs {
		o, err := Decode(obj(t, d), DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, Secrets(o)...)
	}
	want := []SecretUse{
		{"ns1", "git", "spec.secretRef"}, {"ns1", "pgp", "spec.verify.secretRef"},
		{"ns2", "reg", "spec.secretRef"}, {"ns2", "tls", "spec.certSecretRef"}, {"ns2", "cosign", "spec.verify.secretRef"},
		{"ns1", "s3", "spec.secretRef"}, {"ns1", "s3-tls", "spec.certSecretRef"},
		{"ns1", "helm", "spec.secretRef"},
		{"ns3", "sops", "spec.decryption.secretRef"}, {"ns3", "vars", "spec.postBuild.substituteFrom[1]"},
		{"ns3", "values", "spec.valuesFrom[0]"},
		{"ns1", "chart-keys", "spec.chart.spec.verify.secretRef"},
		{"ns1", "root", "spec.verify.trustedRootSecretRef"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}
}
