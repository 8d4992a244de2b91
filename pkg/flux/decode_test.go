package flux

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/spec"
)

// obj parses one YAML document as render would hand it over.
func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestDecode(t *testing.T) {
	meta := func(kind, apiVersion, ns, name string) Meta {
		return Meta{ID: ID{Kind: kind, Namespace: ns, Name: name}, APIVersion: apiVersion}
	}
	tests := []struct {
		name string
		doc  string
		opts DecodeOptions
		want Object
	}{
		{
			name: "GitRepository v1 as flux bootstrap writes it",
			doc: `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ssh://git@github.com/org/fleet
`,
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1", "flux-system", "flux-system"),
				URL: "ssh://git@github.com/org/fleet", Ref: spec.GitRef{Branch: "main"}, SecretRef: "flux-system",
				Timeout: DefaultSourceTimeout},
		},
		{
			name: "GitRepository without ref checks out master, as Flux",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: GitRepository\nmetadata: {name: a, namespace: ns1}\nspec: {interval: 5m, url: 'https://h/r', timeout: 20s}\n",
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1beta2", "ns1", "a"),
				URL: "https://h/r", Ref: spec.GitRef{Branch: "master"}, Timeout: 20 * time.Second},
		},
		{
			name: "GitRepository ref: commit wins and keeps its branch",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: ns1}\nspec: {interval: 5m, url: 'https://h/r', ref: {branch: b, tag: t, commit: c0ffee}}\n",
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1", "ns1", "a"),
				URL: "https://h/r", Ref: spec.GitRef{Branch: "b", Commit: "c0ffee"}, Timeout: DefaultSourceTimeout},
		},
		{
			name: "GitRepository ref: tag before semver, as Flux's checkout",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: ns1}\nspec: {interval: 5m, url: 'https://h/r', ref: {branch: b, tag: v1, semver: '>=1'}}\n",
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1", "ns1", "a"),
				URL: "https://h/r", Ref: spec.GitRef{Tag: "v1"}, Timeout: DefaultSourceTimeout},
		},
		{
			name: "GitRepository ref: name before tag",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, namespace: ns1}\nspec: {interval: 5m, url: 'https://h/r', ref: {tag: v1, name: refs/pull/1/head}}\n",
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1", "ns1", "a"),
				URL: "https://h/r", Ref: spec.GitRef{Name: "refs/pull/1/head"}, Timeout: DefaultSourceTimeout},
		},
		{
			name: "GitRepository verify, ignore, sparseCheckout, submodules and include",
			doc: `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: a, namespace: ns1}
spec:
  interval: 5m
  url: https://h/r
  ref: {tag: v1}
  verify: {mode: TagAndHEAD, secretRef: {name: keys}}
  ignore: ""
  sparseCheckout: [apps, infra]
  recurseSubmodules: true
  include:
  - repository: {name: shared}
  - repository: {name: other}
    fromPath: deploy
    toPath: vendor/other
`,
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1", "ns1", "a"),
				URL: "https://h/r", Ref: spec.GitRef{Tag: "v1"}, Timeout: DefaultSourceTimeout,
				Verify: &GitVerify{Mode: "TagAndHEAD", SecretRef: "keys"}, Ignore: new(""),
				SparseCheckout: []string{"apps", "infra"}, RecurseSubmodules: true,
				Include: []GitInclude{
					{Repository: ID{KindGitRepository, "ns1", "shared"}, ToPath: "shared"},
					{Repository: ID{KindGitRepository, "ns1", "other"}, FromPath: "deploy", ToPath: "vendor/other"},
				}},
		},
		{
			name: "GitRepository verify defaults to HEAD",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: GitRepository\nmetadata: {name: a, namespace: ns1}\nspec: {interval: 5m, url: 'https://h/r', verify: {secretRef: {name: k}}}\n",
			want: &GitRepository{Meta: meta(KindGitRepository, "source.toolkit.fluxcd.io/v1beta2", "ns1", "a"),
				URL: "https://h/r", Ref: spec.GitRef{Branch: "master"}, Timeout: DefaultSourceTimeout,
				Verify: &GitVerify{Mode: "HEAD", SecretRef: "k"}},
		},
		{
			name: "OCIRepository verify and ignore",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: o, namespace: ns1}\nspec: {interval: 5m, url: 'oci://h/r', verify: {secretRef: {name: cosign}}, ignore: '*.md'}\n",
			want: &OCIRepository{Meta: meta(KindOCIRepository, "source.toolkit.fluxcd.io/v1", "ns1", "o"),
				URL: "oci://h/r", Ref: OCIRef{Tag: "latest"}, Timeout: DefaultSourceTimeout,
				Verify: &OCIVerify{Provider: "cosign", SecretRef: "cosign"}, Ignore: new("*.md")},
		},
		{
			name: "OCIRepository keyless verify",
			doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: o, namespace: ns1}\nspec: {interval: 5m, url: 'oci://h/r', " +
				"verify: {provider: cosign, trustedRootSecretRef: {name: root}, matchOIDCIdentity: [{issuer: '^https://i$', subject: '^https://s/'}]}}\n",
			want: &OCIRepository{Meta: meta(KindOCIRepository, "source.toolkit.fluxcd.io/v1", "ns1", "o"),
				URL: "oci://h/r", Ref: OCIRef{Tag: "latest"}, Timeout: DefaultSourceTimeout,
				Verify: &OCIVerify{Provider: "cosign", TrustedRootSecretRef: "root",
					MatchOIDCIdentity: []OIDCIdentityMatch{{Issuer: "^https://i$", Subject: "^https://s/"}}}},
		},
		{
			name: "object without namespace takes the default",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: a, labels: {team: x}}\nspec: {interval: 5m, url: 'https://h/r', provider: generic, suspend: true}\n",
			opts: DecodeOptions{DefaultNamespace: "apps"},
			want: &GitRepository{Meta: Meta{ID: ID{KindGitRepository, "apps", "a"}, APIVersion: "source.toolkit.fluxcd.io/v1", Labels: map[string]string{"team": "x"}},
				URL: "https://h/r", Ref: spec.GitRef{Branch: "master"}, Timeout: DefaultSourceTimeout, Suspend: true},
		},
		{
			name: "OCIRepository defaults to the latest tag",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: {name: o, namespace: ns1}\nspec: {interval: 5m, url: 'oci://ghcr.io/org/manifests', layerSelector: {mediaType: x}}\n",
			want: &OCIRepository{Meta: meta(KindOCIRepository, "source.toolkit.fluxcd.io/v1beta2", "ns1", "o"),
				URL: "oci://ghcr.io/org/manifests", Ref: OCIRef{Tag: "latest"}, Timeout: DefaultSourceTimeout,
				LayerSelector: &OCILayerSelector{MediaType: "x", Operation: OCILayerExtract}},
		},
		{
			name: "HelmRepository OCI",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: h, namespace: ns1}\nspec: {type: oci, url: 'oci://ghcr.io/org/charts', certSecretRef: {name: tls}, insecure: true}\n",
			want: &HelmRepository{Meta: meta(KindHelmRepository, "source.toolkit.fluxcd.io/v1", "ns1", "h"),
				URL: "oci://ghcr.io/org/charts", Type: HelmRepositoryOCI, CertSecretRef: "tls", Insecure: true, Timeout: DefaultSourceTimeout},
		},
		{
			name: "HelmRepository v1beta1",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1beta1\nkind: HelmRepository\nmetadata: {name: h, namespace: ns1}\nspec: {interval: 10m, url: 'https://charts.example.com', secretRef: {name: s}, passCredentials: true, timeout: 1m30s}\n",
			want: &HelmRepository{Meta: meta(KindHelmRepository, "source.toolkit.fluxcd.io/v1beta1", "ns1", "h"),
				URL: "https://charts.example.com", Type: HelmRepositoryDefault, SecretRef: "s", PassCredentials: true, Timeout: 90 * time.Second},
		},
		{
			name: "HelmChart v1beta2 valuesFile goes first",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: HelmChart\nmetadata: {name: c, namespace: ns1}\nspec: {interval: 5m, chart: ./charts/app, sourceRef: {kind: GitRepository, name: repo}, valuesFile: base.yaml, valuesFiles: [prod.yaml]}\n",
			want: &HelmChart{Meta: meta(KindHelmChart, "source.toolkit.fluxcd.io/v1beta2", "ns1", "c"),
				Chart: "./charts/app", Version: "*", SourceRef: ID{KindGitRepository, "ns1", "repo"},
				ReconcileStrategy: ReconcileStrategyChartVersion, ValuesFiles: []string{"base.yaml", "prod.yaml"}},
		},
		{
			name: "Bucket",
			doc:  "apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\nmetadata: {name: b, namespace: ns1}\nspec: {interval: 5m, provider: generic, bucketName: cfg, endpoint: 'minio:9000', insecure: true, prefix: apps/, secretRef: {name: keys}}\n",
			want: &Bucket{Meta: meta(KindBucket, "source.toolkit.fluxcd.io/v1", "ns1", "b"),
				Endpoint: "minio:9000", BucketName: "cfg", Prefix: "apps/", Insecure: true, SecretRef: "keys", Timeout: DefaultSourceTimeout},
		},
		{
			name: "Kustomization v1: defaults and timeout from interval",
			doc: `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  retryInterval: 1m
  path: ./apps/staging
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
  dependsOn: [{name: infra-configs}, {name: other, namespace: team}]
`,
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1", "flux-system", "apps"),
				Source: ID{KindGitRepository, "flux-system", "flux-system"}, Path: "./apps/staging", Prune: true,
				DeletionPolicy: DeletionPolicyMirrorPrune, Timeout: 9*time.Minute + 30*time.Second,
				DependsOn: []ID{{KindKustomization, "flux-system", "infra-configs"}, {KindKustomization, "team", "other"}}},
		},
		{
			name: "Kustomization: a short interval still gives 30s",
			doc:  "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: ns1}\nspec: {interval: 40s, prune: false, sourceRef: {kind: OCIRepository, name: o, namespace: src}}\n",
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1", "ns1", "k"),
				Source: ID{KindOCIRepository, "src", "o"}, Path: "./", DeletionPolicy: DeletionPolicyMirrorPrune, Timeout: 30 * time.Second},
		},
		{
			name: "Kustomization: decryption without secretRef, for the sync's keys",
			doc:  "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: ns1}\nspec: {interval: 10m, prune: true, sourceRef: {kind: GitRepository, name: repo}, decryption: {provider: sops}}\n",
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1", "ns1", "k"),
				Source: ID{KindGitRepository, "ns1", "repo"}, Path: "./", Prune: true, DeletionPolicy: DeletionPolicyMirrorPrune,
				Timeout: 9*time.Minute + 30*time.Second, Decryption: &spec.Decryption{Provider: "sops"}},
		},
		{
			name: "Kustomization: healthCheckExprs, as Flux's RFC 0009 example",
			doc: "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: ns1}\n" +
				"spec:\n  interval: 1h\n  prune: true\n  sourceRef: {kind: Bucket, name: b}\n  wait: true\n  healthCheckExprs:\n" +
				"  - apiVersion: cert-manager.io/v1\n    kind: Certificate\n" +
				"    inProgress: \"status.conditions.filter(e, e.type == 'Issuing').all(e, e.observedGeneration == metadata.generation && e.status == 'True')\"\n" +
				"    failed: \"status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'False')\"\n" +
				"    current: \"status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'True')\"\n",
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1", "ns1", "k"),
				Source: ID{KindBucket, "ns1", "b"}, Path: "./", Prune: true, Wait: true, DeletionPolicy: DeletionPolicyMirrorPrune,
				Timeout: time.Hour - 30*time.Second,
				HealthCheckExprs: []spec.CustomHealthCheck{{APIVersion: "cert-manager.io/v1", Kind: "Certificate",
					InProgress: "status.conditions.filter(e, e.type == 'Issuing').all(e, e.observedGeneration == metadata.generation && e.status == 'True')",
					Failed:     "status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'False')",
					Current:    "status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'True')"}}},
		},
		{
			name: "Kustomization: an explicit timeout below 30s is raised, as Flux",
			doc:  "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: ns1}\nspec: {interval: 1h, timeout: 10s, prune: true, sourceRef: {kind: Bucket, name: b}}\n",
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1", "ns1", "k"),
				Source: ID{KindBucket, "ns1", "b"}, Path: "./", Prune: true, DeletionPolicy: DeletionPolicyMirrorPrune, Timeout: 30 * time.Second},
		},
		{
			name: "Kustomization v1: every mapped field",
			doc: `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  timeout: 3m
  path: apps
  prune: true
  deletionPolicy: Orphan
  wait: true
  force: true
  suspend: true
  sourceRef: {apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: repo}
  targetNamespace: apps
  namePrefix: p-
  nameSuffix: -s
  commonMetadata: {labels: {team: a}, annotations: {note: x}}
  patches:
  - patch: |
      - op: replace
        path: /spec/replicas
        value: 2
    target: {kind: Deployment, name: web, labelSelector: app=web}
  images: [{name: nginx, newTag: "1.27"}]
  components: [../components/monitoring]
  ignoreMissingComponents: true
  healthChecks: [{apiVersion: apps/v1, kind: Deployment, name: web, namespace: apps}]
  postBuild:
    substituteStrategy: Always
    substitute: {cluster: staging}
    substituteFrom: [{kind: ConfigMap, name: vars}, {kind: Secret, name: secrets, optional: true}]
  decryption: {provider: sops, secretRef: {name: sops-age}}
  ignore:
  - paths: [/spec/replicas]
    target: {group: apps, version: v1, kind: Deployment, name: web-.*, namespace: apps, labelSelector: app=web, annotationSelector: hpa=on}
  - paths: ["/metadata/annotations/example.com~1hash"]
`,
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1", "flux-system", "apps"),
				Source: ID{KindGitRepository, "flux-system", "repo"}, Path: "apps", Prune: true, DeletionPolicy: DeletionPolicyOrphan,
				Timeout: 3 * time.Minute, TargetNamespace: "apps", NamePrefix: "p-", NameSuffix: "-s",
				CommonMetadata: &spec.CommonMetadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"note": "x"}},
				Patches: []spec.Patch{{Patch: "- op: replace\n  path: /spec/replicas\n  value: 2\n",
					Target: &spec.Selector{Kind: "Deployment", Name: "web", LabelSelector: "app=web"}}},
				Images:     []spec.Image{{Name: "nginx", NewTag: "1.27"}},
				Components: []string{"../components/monitoring"}, IgnoreMissingComponents: true,
				HealthChecks: []spec.HealthCheck{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "apps"}},
				PostBuild: &PostBuild{Strategy: SubstituteAlways, Substitute: map[string]string{"cluster": "staging"},
					SubstituteFrom: []spec.SubstituteReference{{Kind: "ConfigMap", Name: "vars"}, {Kind: "Secret", Name: "secrets", Optional: true}}},
				Decryption: &spec.Decryption{Provider: "sops", SecretRef: &spec.LocalObjectReference{Name: "sops-age"}},
				Ignore: []apply.IgnoreRule{
					{Paths: []string{"/spec/replicas"}, Target: &apply.IgnoreTarget{Group: "apps", Version: "v1", Kind: "Deployment",
						Name: "web-.*", Namespace: "apps", LabelSelector: "app=web", AnnotationSelector: "hpa=on"}},
					{Paths: []string{"/metadata/annotations/example.com~1hash"}},
				},
				Force: true, Wait: true, Suspend: true},
		},
		{
			name: "Kustomization v1beta2: deprecated patches become patches, validation is ignored",
			doc: `
apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 5m
  prune: true
  validation: client
  sourceRef: {kind: GitRepository, name: repo}
  patches:
  - patch: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"
  patchesStrategicMerge:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec: {replicas: 3}
  patchesJson6902:
  - target: {group: apps, version: v1, kind: Deployment, name: worker}
    patch:
    - {op: replace, path: /spec/replicas, value: 1}
    - {op: remove, path: /spec/paused}
  postBuild:
    substitute: {a: b}
`,
			want: &Kustomization{Meta: meta(KindKustomization, "kustomize.toolkit.fluxcd.io/v1beta2", "flux-system", "apps"),
				Source: ID{KindGitRepository, "flux-system", "repo"}, Path: "./", Prune: true, DeletionPolicy: DeletionPolicyMirrorPrune,
				Timeout: 4*time.Minute + 30*time.Second,
				Patches: []spec.Patch{
					{Patch: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"},
					{Patch: `[{"op":"replace","path":"/spec/replicas","value":1},{"op":"remove","path":"/spec/paused"}]`,
						Target: &spec.Selector{Group: "apps", Version: "v1", Kind: "Deployment", Name: "worker"}},
					{Patch: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}`},
				},
				PostBuild: &PostBuild{Strategy: SubstituteWithVariables, Substitute: map[string]string{"a": "b"}}},
		},
		{
			name: "HelmRelease v2: defaults as helm-controller",
			doc: `
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: podinfo}
spec:
  interval: 50m
  chart:
    spec:
      chart: podinfo
      version: "6.x"
      sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}
      interval: 12h
  values:
    replicaCount: 2
    ingress: {enabled: true}
  valuesFrom:
  - {kind: ConfigMap, name: podinfo-values}
`,
			want: &HelmRelease{Meta: meta(KindHelmRelease, "helm.toolkit.fluxcd.io/v2", "podinfo", "podinfo"),
				Chart: &ChartTemplate{Chart: "podinfo", Version: "6.x", SourceRef: ID{KindHelmRepository, "flux-system", "podinfo"},
					ReconcileStrategy: ReconcileStrategyChartVersion},
				ReleaseName: "podinfo", ReleaseNamespace: "podinfo", StorageNamespace: "podinfo", Timeout: 5 * time.Minute,
				Install:            HelmAction{Timeout: 5 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true},
				Upgrade:            HelmAction{Timeout: 5 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true},
				Values:             map[string]any{"replicaCount": float64(2), "ingress": map[string]any{"enabled": true}},
				ValuesFrom:         []spec.ValuesReference{{Kind: "ConfigMap", Name: "podinfo-values", ValuesKey: "values.yaml"}},
				PostRenderStrategy: spec.PostRenderCombined},
		},
		{
			name: "HelmRelease v2: chartRef, targetNamespace, actions and post-renderers",
			doc: `
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: flux-system}
spec:
  interval: 10m
  timeout: 2m
  chartRef: {kind: OCIRepository, name: app-chart}
  targetNamespace: apps
  storageNamespace: storage
  dependsOn: [{name: cert-manager, namespace: infra}]
  install:
    crds: CreateReplace
    createNamespace: true
    remediation: {retries: 3}
  upgrade:
    timeout: 7m
    crds: Skip
    disableWait: true
    disableHooks: true
    remediation: {retries: -1, strategy: rollback}
    cleanupOnFail: true
  driftDetection:
    mode: warn
    ignore:
    - paths: [/metadata/annotations/prometheus-operator-validated]
      target: {kind: PrometheusRule}
  commonMetadata: {labels: {team: a}}
  postRenderStrategy: separate
  postRenderers:
  - kustomize:
      images: [{name: app, newName: mirror/app}]
      patches: [{patch: "- {op: add, path: /metadata/labels/x, value: y}", target: {kind: Service}}]
  - {}
`,
			want: &HelmRelease{Meta: meta(KindHelmRelease, "helm.toolkit.fluxcd.io/v2", "flux-system", "app"),
				ChartRef:    ID{KindOCIRepository, "flux-system", "app-chart"},
				ReleaseName: "apps-app", ReleaseNamespace: "apps", StorageNamespace: "storage", Timeout: 2 * time.Minute,
				DependsOn:      []ID{{KindHelmRelease, "infra", "cert-manager"}},
				Install:        HelmAction{Timeout: 2 * time.Minute, CRDs: spec.CRDsCreateReplace, Wait: true, WaitForJobs: true, CreateNamespace: true},
				Upgrade:        HelmAction{Timeout: 7 * time.Minute, CRDs: spec.CRDsSkip, WaitForJobs: true, DisableHooks: true},
				CommonMetadata: &spec.CommonMetadata{Labels: map[string]string{"team": "a"}},
				PostRenderers: []spec.PostRenderer{{Kustomize: &spec.KustomizePostRenderer{
					Patches: []spec.Patch{{Patch: "- {op: add, path: /metadata/labels/x, value: y}", Target: &spec.Selector{Kind: "Service"}}},
					Images:  []spec.Image{{Name: "app", NewName: "mirror/app"}},
				}}},
				PostRenderStrategy: spec.PostRenderSeparate,
				DriftMode:          DriftWarn,
				DriftIgnore: []apply.IgnoreRule{{Paths: []string{"/metadata/annotations/prometheus-operator-validated"},
					Target: &apply.IgnoreTarget{Kind: "PrometheusRule"}}}},
		},
		{
			name: "HelmRelease v2beta1: valuesFile and deprecated post-renderer patches",
			doc: `
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: app, namespace: apps}
spec:
  interval: 10m
  releaseName: custom
  chart:
    spec:
      chart: ./charts/app
      sourceRef: {kind: GitRepository, name: repo}
      valuesFile: values-base.yaml
      valuesFiles: [values-prod.yaml]
      reconcileStrategy: Revision
  install: {crds: Skip, skipCRDs: true, disableWait: true, disableWaitForJobs: true}
  postRenderers:
  - kustomize:
      patchesStrategicMerge:
      - {apiVersion: v1, kind: Service, metadata: {name: app}, spec: {type: NodePort}}
      patchesJson6902:
      - target: {kind: Deployment, name: app}
        patch: [{op: add, path: /spec/paused, value: false}]
`,
			want: &HelmRelease{Meta: meta(KindHelmRelease, "helm.toolkit.fluxcd.io/v2beta1", "apps", "app"),
				Chart: &ChartTemplate{Chart: "./charts/app", Version: "*", SourceRef: ID{KindGitRepository, "apps", "repo"},
					ReconcileStrategy: ReconcileStrategyRevision, ValuesFiles: []string{"values-base.yaml", "values-prod.yaml"}},
				ReleaseName: "custom", ReleaseNamespace: "apps", StorageNamespace: "apps", Timeout: 5 * time.Minute,
				Install: HelmAction{Timeout: 5 * time.Minute, CRDs: spec.CRDsSkip},
				Upgrade: HelmAction{Timeout: 5 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true},
				PostRenderers: []spec.PostRenderer{{Kustomize: &spec.KustomizePostRenderer{Patches: []spec.Patch{
					{Patch: `[{"op":"add","path":"/spec/paused","value":false}]`, Target: &spec.Selector{Kind: "Deployment", Name: "app"}},
					{Patch: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"app"},"spec":{"type":"NodePort"}}`},
				}}}},
				PostRenderStrategy: spec.PostRenderCombined},
		},
		{
			name: "HelmRelease: tests, their filters and whether an action ignores their failures",
			doc: "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app, namespace: apps}\n" +
				"spec:\n  interval: 1m\n  timeout: 2m\n  chartRef: {kind: OCIRepository, name: o}\n" +
				"  test: {enable: true, ignoreFailures: true, filters: [{name: smoke}, {name: slow, exclude: true}]}\n" +
				"  upgrade: {remediation: {ignoreTestFailures: false, retries: 3}}\n",
			want: &HelmRelease{Meta: meta(KindHelmRelease, "helm.toolkit.fluxcd.io/v2", "apps", "app"),
				ChartRef:    ID{KindOCIRepository, "apps", "o"},
				ReleaseName: "app", ReleaseNamespace: "apps", StorageNamespace: "apps", Timeout: 2 * time.Minute,
				Install: HelmAction{Timeout: 2 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true},
				Upgrade: HelmAction{Timeout: 2 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true, IgnoreTestFailures: new(false)},
				Test: HelmTest{Enable: true, Timeout: 2 * time.Minute, IgnoreFailures: true,
					Filters: spec.HelmTestFilters{{Name: "smoke"}, {Name: "slow", Exclude: true}}},
				PostRenderStrategy: spec.PostRenderCombined},
		},
		{
			name: "HelmRelease: a long default release name is shortened as helm-controller does",
			doc:  "apiVersion: helm.toolkit.fluxcd.io/v2beta2\nkind: HelmRelease\nmetadata: {name: release-name-with-very-long-name-which-is, namespace: ns1}\nspec: {interval: 1m, targetNamespace: longer-than-53-characters, chartRef: {kind: HelmChart, name: c}}\n",
			want: &HelmRelease{Meta: meta(KindHelmRelease, "helm.toolkit.fluxcd.io/v2beta2", "ns1", "release-name-with-very-long-name-which-is"),
				ChartRef:         ID{KindHelmChart, "ns1", "c"},
				ReleaseName:      ReleaseName("longer-than-53-characters", "release-name-with-very-long-name-which-is"),
				ReleaseNamespace: "longer-than-53-characters", StorageNamespace: "ns1", Timeout: 5 * time.Minute,
				Install:            HelmAction{Timeout: 5 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true},
				Upgrade:            HelmAction{Timeout: 5 * time.Minute, CRDs: spec.CRDsCreate, Wait: true, WaitForJobs: true},
				PostRenderStrategy: spec.PostRenderCombined},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(obj(t, tc.doc), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const ks = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\n"
	const ksSpec = "spec:\n  interval: 10m\n  prune: true\n  sourceRef: {kind: GitRepository, name: repo}\n"
	const hr = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app, namespace: apps}\n"
	const hrSpec = "spec:\n  interval: 10m\n  chart: {spec: {chart: app, sourceRef: {kind: HelmRepository, name: charts}}}\n"
	tests := []struct {
		name string
		doc  string
		is   error
		want []string // each must be one line of the error
	}{
		{name: "decryption through a cloud key service is refused", doc: ks + ksSpec + "  decryption: {provider: sops, serviceAccountName: kms}\n",
			is: ErrUnsupported, want: []string{"Kustomization/flux-system/apps: spec.decryption.serviceAccountName: not supported (cloud workload identity; use `secretRef`)"}},
		{name: "kubeConfig without secretRef, and configMapRef", doc: ks + ksSpec + "  kubeConfig: {configMapRef: {name: kc}}\n",
			is: ErrInvalid, want: []string{
				"Kustomization/flux-system/apps: spec.kubeConfig.configMapRef: not supported (cloud provider identity for the remote cluster)",
				"Kustomization/flux-system/apps: spec.kubeConfig.secretRef: required"}},
		{name: "empty refused field is unset", doc: ks + ksSpec + "  serviceAccountName: \"\"\n  decryption: null\n"},
		{name: "readyExpr is compiled at decode", doc: ks + ksSpec + "  dependsOn: [{name: a, readyExpr: 'true'}, {name: b, readyExpr: 'dep.status.conditions.exists(c, '}]\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.dependsOn[1].readyExpr: ERROR: <input>:1:33: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"}},
		{name: "readyExpr is v1 only", doc: strings.Replace(ks, "/v1\n", "/v1beta2\n", 1) + ksSpec + "  dependsOn: [{name: a, readyExpr: 'true'}]\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.dependsOn[0].readyExpr: unknown field in v1beta2 (it exists in v1)"}},
		{name: "unknown field", doc: ks + ksSpec + "  intervall: 5m\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.intervall: unknown field"}},
		{name: "wrong case gets a hint", doc: ks + ksSpec + "  targetnamespace: x\n",
			is: ErrInvalid, want: []string{`Kustomization/flux-system/apps: spec.targetnamespace: unknown field (did you mean "targetNamespace"?)`}},
		{name: "field of another version", doc: ks + ksSpec + "  patchesStrategicMerge: []\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.patchesStrategicMerge: unknown field in v1 (it exists in v1beta2, v1beta1)"}},
		{name: "unknown top-level field", doc: ks + ksSpec + "extra: 1\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: extra: unknown field"}},
		{name: "status is ignored", doc: ks + ksSpec + "status: {conditions: []}\n"},
		{name: "prune is required", doc: ks + "spec: {interval: 1m, sourceRef: {kind: GitRepository, name: r}}\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.prune: required"}},
		{name: "no spec", doc: ks, is: ErrInvalid, want: []string{
			"Kustomization/flux-system/apps: spec.interval: required",
			"Kustomization/flux-system/apps: spec.prune: required",
			"Kustomization/flux-system/apps: spec.sourceRef: required"}},
		{name: "wrong types", doc: ks + ksSpec + "  wait: \"yes\"\n  images: [{name: nginx, newTag: 1.10}]\n  timeout: 300\n", is: ErrInvalid, want: []string{
			`Kustomization/flux-system/apps: spec.images[0].newTag: must be a string, not the number 1.1 (quote it in YAML)`,
			`Kustomization/flux-system/apps: spec.timeout: must be a string, not the number 300 (quote it in YAML)`,
			`Kustomization/flux-system/apps: spec.wait: must be true or false, not a string`}},
		{name: "bad duration", doc: ks + "spec: {interval: 1d, prune: true, sourceRef: {kind: GitRepository, name: r}}\n",
			is: ErrInvalid, want: []string{`Kustomization/flux-system/apps: spec.interval: "1d" is not a duration such as 30s, 5m or 1h30m`}},
		{name: "enum", doc: ks + ksSpec + "  deletionPolicy: Keep\n", is: ErrInvalid,
			want: []string{`Kustomization/flux-system/apps: spec.deletionPolicy: "Keep" is not one of MirrorPrune, Delete, WaitForTermination, Orphan`}},
		{name: "chartRef kind", doc: hr + "spec: {interval: 1m, chartRef: {kind: GitRepository, name: r}}\n", is: ErrInvalid,
			want: []string{`HelmRelease/apps/app: spec.chartRef.kind: "GitRepository" is not one of OCIRepository, HelmChart, ExternalArtifact`}},
		{name: "ArtifactGenerator: pathPattern, Extract, a HelmChart source, unknown aliases", doc: `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: gen, namespace: apps}
spec:
  pathPattern: "@repo/apps/{app}"
  sources:
  - {alias: repo, kind: GitRepository, name: repo}
  - {alias: chart, kind: HelmChart, name: c}
  artifacts:
  - name: a
    revision: "@nope"
    copy:
    - {from: "@repo/x.tgz", to: "@artifact/", strategy: Extract}
    - {from: "@other/x", to: "@artifact/"}
`, is: ErrUnsupported, want: []string{
			"ArtifactGenerator/apps/gen: spec.artifacts[0].copy[0].strategy: \"Extract\" is not supported: unpacking tarballs is not supported yet",
			"ArtifactGenerator/apps/gen: spec.pathPattern: not supported (one artifact per directory matching a pattern)",
			"ArtifactGenerator/apps/gen: spec.sources[1].kind: \"HelmChart\" is not supported: gitsync copies only from a source's tree of files",
		}},
		{name: "ArtifactGenerator: aliases must name sources", doc: `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: gen, namespace: apps}
spec:
  sources:
  - {alias: repo, kind: GitRepository, name: repo}
  - {alias: repo, kind: GitRepository, name: other}
  artifacts:
  - name: a
    revision: "@nope"
    copy:
    - {from: "@other/x", to: "@artifact/"}
`, is: ErrInvalid, want: []string{
			`ArtifactGenerator/apps/gen: spec.sources[1].alias: alias "repo" is used twice`,
			"ArtifactGenerator/apps/gen: spec.artifacts[0].revision: @nope names no alias of spec.sources",
			"ArtifactGenerator/apps/gen: spec.artifacts[0].copy[0].from: @other names no alias of spec.sources",
		}},
		{name: "healthCheckExprs: kind required", doc: ks + ksSpec + "  healthCheckExprs: [{apiVersion: v1, current: 'true'}]\n", is: ErrInvalid,
			want: []string{"Kustomization/flux-system/apps: spec.healthCheckExprs[0].kind: required"}},
		{name: "healthCheckExprs: a wrong expression is refused with its path", is: ErrInvalid,
			doc: ks + ksSpec + "  healthCheckExprs:\n  - {apiVersion: a.io/v1, kind: W, current: 'true'}\n" +
				"  - {apiVersion: b.io/v1, kind: W, current: \"status.conditions.exist(c, c.status == 'True')\", failed: 'status.phase ='}\n" +
				"  - {apiVersion: a.io/v2, kind: W, current: '1 + 1'}\n",
			want: []string{
				"Kustomization/flux-system/apps: spec.healthCheckExprs[1].current: ERROR: <input>:1:24: undeclared reference to 'exist' (in container '')",
				"Kustomization/flux-system/apps: spec.healthCheckExprs[1].failed: ERROR: <input>:1:14: Syntax error: token recognition error at: '='",
				"Kustomization/flux-system/apps: spec.healthCheckExprs[2]: a second entry for a.io/v2 W (the version does not matter)",
				"Kustomization/flux-system/apps: spec.healthCheckExprs[2].current: the result is int, not a bool"}},
		{name: "healthCheckExprs is v1 only", doc: strings.Replace(ks, "/v1\n", "/v1beta2\n", 1) + ksSpec + "  healthCheckExprs: [{apiVersion: v1, kind: ConfigMap, current: 'true'}]\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.healthCheckExprs: unknown field in v1beta2 (it exists in v1)"}},
		{name: "ignore rules: paths, expressions and fields are checked with their path", is: ErrInvalid,
			doc: ks + ksSpec + "  ignore:\n  - paths: [/spec/replicas, spec/replicas]\n    target: {kind: 'Deploy(', labelSelector: 'a in (b'}\n" +
				"  - paths: [/metadata/annotations/a~2]\n    target: {kinds: Deployment}\n  - target: {kind: Deployment}\n",
			want: []string{
				"Kustomization/flux-system/apps: spec.ignore[1].target.kinds: unknown field",
				"Kustomization/flux-system/apps: spec.ignore[2].paths: required",
			}},
		{name: "ignore rules: values are checked once the fields are", is: ErrInvalid,
			doc: hr + hrSpec + "  driftDetection:\n    mode: warn\n    ignore:\n    - paths: [/spec/replicas, spec/replicas]\n      target: {kind: 'Deploy(', labelSelector: 'a in (b'}\n    - paths: ['']\n",
			want: []string{
				`HelmRelease/apps/app: spec.driftDetection.ignore[0].paths[1]: "spec/replicas" is not a JSON pointer: it must start with /`,
				"HelmRelease/apps/app: spec.driftDetection.ignore[0].target.kind: not a regular expression: error parsing regexp: missing closing ): `^(?:Deploy()$`",
				"HelmRelease/apps/app: spec.driftDetection.ignore[0].target.labelSelector: unable to parse requirement: found '', expected: ',' or ')'",
				`HelmRelease/apps/app: spec.driftDetection.ignore[1].paths[0]: "": the empty pointer names the whole object`,
			}},
		{name: "Kustomization ignore is v1 only", doc: strings.Replace(ks, "/v1\n", "/v1beta2\n", 1) + ksSpec + "  ignore: [{paths: [/spec/replicas]}]\n",
			is: ErrInvalid, want: []string{"Kustomization/flux-system/apps: spec.ignore: unknown field in v1beta2 (it exists in v1)"}},
		{name: "HelmRelease needs chart or chartRef", doc: hr + "spec: {interval: 1m}\n", is: ErrInvalid,
			want: []string{"HelmRelease/apps/app: spec: exactly one of chart and chartRef must be set"}},
		{name: "HelmRelease healthCheckExprs are compiled at decode", doc: hr + hrSpec + "  healthCheckExprs: [{apiVersion: a.io/v1, kind: W, current: \"status.phase == 'Ready'\", inProgress: 'status.phase.size()'}]\n",
			is: ErrInvalid, want: []string{"HelmRelease/apps/app: spec.healthCheckExprs[0].inProgress: the result is int, not a bool"}},
		{name: "healthCheckExprs: Secrets are refused", doc: ks + ksSpec + "  healthCheckExprs: [{apiVersion: v1, kind: Secret, current: \"int(data.n) > 0\"}]\n",
			is: ErrUnsupported, want: []string{"Kustomization/flux-system/apps: spec.healthCheckExprs[0].kind: Secrets are not judged by expressions: an evaluation error could quote their data"}},
		{name: "HelmRelease with both", doc: hr + hrSpec + "  chartRef: {kind: OCIRepository, name: o}\n", is: ErrInvalid,
			want: []string{"HelmRelease/apps/app: spec: exactly one of chart and chartRef must be set"}},
		{name: "HelmRelease refusals", doc: hr + hrSpec + "  upgrade: {preserveValues: true, serverSideApply: disabled}\n  install: {serverSideApply: false}\n",
			is: ErrUnsupported, want: []string{
				"HelmRelease/apps/app: spec.install.serverSideApply: gitsync always applies server-side",
				"HelmRelease/apps/app: spec.upgrade.preserveValues: not supported (re-using the last release's values is not declarative)",
				`HelmRelease/apps/app: spec.upgrade.serverSideApply: "disabled" is not supported: gitsync always applies server-side`}},
		{name: "ignored fields are still checked", doc: hr + hrSpec + "  install: {remediation: {retires: 3}}\n", is: ErrInvalid,
			want: []string{"HelmRelease/apps/app: spec.install.remediation.retires: unknown field"}},
		{name: "skipCRDs alone is refused", doc: hr + hrSpec + "  install: {skipCRDs: true}\n", is: ErrUnsupported,
			want: []string{"HelmRelease/apps/app: spec.install.skipCRDs: deprecated, and helm-controller no longer reads it (it creates the CRDs): write crds: Skip, or crds: Create for what Flux does"}},
		{name: "release name too long", doc: hr + hrSpec + "  releaseName: " + strings.Repeat("a", 54) + "\n", is: ErrInvalid,
			want: []string{"HelmRelease/apps/app: spec.releaseName: at most 53 characters"}},
		{name: "GitRepository provider and submodules", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: ns1}\nspec: {interval: 1m, url: 'https://h/r', provider: azure, recurseSubmodules: true, ignore: ''}\n",
			is: ErrUnsupported, want: []string{
				`GitRepository/ns1/r: spec.provider: "azure" is not supported: cloud workload identity is not supported; credentials come from secretRef (or a GitHub App, provider github)`}},
		{name: "OCIRepository notation verification", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: r, namespace: ns1}\n" +
			"spec: {interval: 1m, url: 'oci://h/r', verify: {provider: notation, secretRef: {name: k}}}\n",
			is: ErrUnsupported, want: []string{
				`OCIRepository/ns1/r: spec.verify.provider: "notation" is not supported: only cosign signatures are verified`}},
		{name: "OCIRepository keyless identity without issuer", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: r, namespace: ns1}\n" +
			"spec: {interval: 1m, url: 'oci://h/r', verify: {provider: cosign, trustedRootSecretRef: {name: root}, matchOIDCIdentity: [{subject: s}]}}\n",
			is: ErrInvalid, want: []string{
				"OCIRepository/ns1/r: spec.verify.matchOIDCIdentity[0].issuer: required"}},
		{name: "GitRepository verify mode", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: ns1}\n" +
			"spec: {interval: 1m, url: 'https://h/r', verify: {mode: Commit, secretRef: {name: keys}}, include: [{fromPath: x}]}\n",
			is: ErrInvalid, want: []string{
				"GitRepository/ns1/r: spec.include[0].repository: required",
				`GitRepository/ns1/r: spec.verify.mode: "Commit" is not one of HEAD, head, Tag, TagAndHEAD`}},
		{name: "GitRepository URL scheme", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: ns1}\nspec: {interval: 1m, url: 'git@h:r.git'}\n",
			is: ErrInvalid, want: []string{"GitRepository/ns1/r: spec.url: must be an http://, https:// or ssh:// URL"}},
		{name: "a URL is not quoted: it may hold credentials", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: h, namespace: ns1}\nspec: {url: 'ftp://user:s3cret@host/charts'}\n",
			is: ErrInvalid, want: []string{"HelmRepository/ns1/h: spec.url: must be an http://, https:// or oci:// URL"}},
		{name: "HelmRepository type and URL disagree", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: h, namespace: ns1}\nspec: {url: 'oci://r/c'}\n",
			is: ErrInvalid, want: []string{`HelmRepository/ns1/h: spec.type: must be "oci" for an oci:// URL`}},
		{name: "unsupported API version", doc: "apiVersion: source.toolkit.fluxcd.io/v1alpha1\nkind: GitRepository\nmetadata: {name: r, namespace: ns1}\n",
			is: ErrUnsupported, want: []string{"GitRepository/ns1/r: apiVersion source.toolkit.fluxcd.io/v1alpha1 is not supported: gitsync reads source.toolkit.fluxcd.io/v1, v1beta2, v1beta1"}},
		{name: "OCIRepository v1beta1 does not exist", doc: "apiVersion: source.toolkit.fluxcd.io/v1beta1\nkind: OCIRepository\nmetadata: {name: r, namespace: ns1}\n",
			is: ErrUnsupported, want: []string{"OCIRepository/ns1/r: apiVersion source.toolkit.fluxcd.io/v1beta1 is not supported: gitsync reads source.toolkit.fluxcd.io/v1, v1beta2"}},
		{name: "image automation v1beta1", doc: "apiVersion: image.toolkit.fluxcd.io/v1beta1\nkind: ImageUpdateAutomation\nmetadata: {name: a, namespace: ns1}\n",
			is: ErrUnsupported, want: []string{"ImageUpdateAutomation/ns1/a: apiVersion image.toolkit.fluxcd.io/v1beta1 is not supported: gitsync reads image.toolkit.fluxcd.io/v1, v1beta2"}},
		{name: "ImageRepository with a cloud provider", doc: "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: r, namespace: ns1}\nspec: {image: ghcr.io/a/b, interval: 1m, provider: aws, serviceAccountName: sa}\n",
			is: ErrUnsupported, want: []string{"ImageRepository/ns1/r: spec.provider: provider \"aws\" is not supported: only generic, with credentials from secretRef", "ImageRepository/ns1/r: spec.serviceAccountName: not supported (the image pull secrets of a ServiceAccount; put the credentials in `secretRef`)"}},
		{name: "ImagePolicy with a bad range", doc: "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata: {name: p, namespace: ns1}\nspec: {imageRepositoryRef: {name: r}, policy: {semver: {range: '>= 1 <<'}}}\n",
			is: ErrInvalid, want: []string{"ImagePolicy/ns1/p: spec.policy.semver.range: invalid semver range \">= 1 <<\": improper constraint: \">= 1 <<\""}},
		{name: "ImageUpdateAutomation checking out a tag", doc: "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {name: a, namespace: ns1}\nspec: {interval: 1m, sourceRef: {kind: GitRepository, name: g}, git: {checkout: {ref: {tag: v1}}, commit: {author: {name: bot, email: e@x}}, push: {options: {ci.skip: ''}}}}\n",
			is: ErrUnsupported, want: []string{"ImageUpdateAutomation/ns1/a: spec.git.checkout.ref.tag: not supported (the update is committed on a branch: name it in `branch`)", "ImageUpdateAutomation/ns1/a: spec.git.push.options: not supported (Git push options)"}},
		{name: "ExternalArtifact", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: ExternalArtifact\nmetadata: {name: a, namespace: ns1}\n",
			is: ErrUnsupported, want: []string{"ExternalArtifact/ns1/a: kind ExternalArtifact.source.toolkit.fluxcd.io is not supported (a controller outside Flux produces it and stores its artifact, which a run cannot fetch; an ArtifactGenerator's artifacts are read by gitsync itself)"}},
		{name: "no namespace and no default", doc: "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r}\n",
			is: ErrInvalid, want: []string{"GitRepository//r: metadata: name and namespace are required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(obj(t, tc.doc), DecodeOptions{})
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("Decode error %v; want one matching %v", err, tc.is)
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

// sample returns a valid value for f: what the schema accepts and does not
// refuse.
func sample(t *testing.T, kind string, f *field, version string) any {
	t.Helper()
	var v any
	switch f.typ {
	case tString:
		v = "x"
		if f.enum != nil {
			for _, e := range f.enum {
				if f.refuseValue == nil || f.refuseValue(e) == "" {
					v = e
					break
				}
			}
		}
		if f.pattern != nil {
			switch {
			case f.pattern.MatchString("https://example.com/r"):
				v = "https://example.com/r"
			case f.pattern.MatchString("oci://example.com/r"):
				v = "oci://example.com/r"
			case f.pattern.MatchString("x"): // an ArtifactGenerator's alias, then its references
				v = "x"
			case f.pattern.MatchString("@x"):
				v = "@x"
			case f.pattern.MatchString("@x/a"):
				v = "@x/a"
			case f.pattern.MatchString("@artifact/a"):
				v = "@artifact/a"
			default:
				t.Fatalf("%s: no sample for pattern %s", f.name, f.pattern)
			}
		}
	case tDuration:
		v = "1m"
	case tBool:
		v = true
		if f.refuseValue != nil && f.refuseValue(true) != "" {
			v = false
		}
	case tInt:
		v = int64(1)
	case tStringMap:
		v = map[string]any{"k": "v"}
	case tStrings:
		v = []any{"a"}
	case tObject:
		v = sampleObject(t, kind, f.fields, version)
	case tObjects:
		v = []any{sampleObject(t, kind, f.fields, version)}
	case tFree:
		v = map[string]any{"k": "v"}
	case tFreeList:
		v = []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}}
	case tAny:
		v = "v"
	}
	return v
}

// sampleObject sets every field of version that is not refused.
func sampleObject(t *testing.T, kind string, fields []field, version string) map[string]any {
	m := map[string]any{}
	for i := range fields {
		f := &fields[i]
		if f.how == refused || !f.inVersion(version) {
			continue
		}
		m[f.name] = sample(t, kind, f, version)
	}
	return m
}

// everyField returns an object of s in version with every field that is
// not refused set (for a HelmRelease, without chart or without chartRef).
func everyField(t *testing.T, s *kindSchema, version, drop string) *unstructured.Unstructured {
	specMap := sampleObject(t, s.kind, s.spec, version)
	delete(specMap, drop)
	// Values the builders check beyond the schema.
	switch s.kind {
	case KindImageRepository:
		specMap["image"] = "ghcr.io/org/app"
	case KindImagePolicy:
		pol := specMap["policy"].(map[string]any)
		delete(pol, "alphabetical")
		delete(pol, "numerical")
	case KindImageUpdateAutomation:
		specMap["git"].(map[string]any)["push"].(map[string]any)["refspec"] = "refs/heads/a:refs/heads/b"
	case KindKustomization:
		if rules, ok := specMap["ignore"].([]any); ok {
			rules[0].(map[string]any)["paths"] = []any{"/spec/replicas"}
		}
	case KindHelmRelease:
		if dd, ok := specMap["driftDetection"].(map[string]any); ok {
			dd["ignore"].([]any)[0].(map[string]any)["paths"] = []any{"/spec/replicas"}
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": s.group + "/" + version,
		"kind":       s.kind,
		"metadata":   map[string]any{"name": "every", "namespace": "ns"},
		"spec":       specMap,
	}}
}

// TestEveryField decodes, for every kind and version, an object that sets
// every accepted field (Decode fails if one is accepted but not read into
// the result), then each refused field alone and each field in a version
// that does not have it.
func TestEveryField(t *testing.T) {
	for _, s := range schemas() {
		for _, v := range s.versions {
			drops := []string{""}
			if s.kind == KindHelmRelease {
				drops = []string{"chart", "chartRef"}
			}
			for _, drop := range drops {
				t.Run(fmt.Sprintf("%s/%s/without %s", s.kind, v, drop), func(t *testing.T) {
					if _, err := Decode(everyField(t, s, v, drop), DecodeOptions{}); err != nil {
						t.Fatal(err)
					}
				})
			}
			forEachField(s.spec, "spec", func(path string, f *field, parents []*field) {
				for _, p := range append(parents, f) {
					if !p.inVersion(v) {
						return
					}
				}
				if f.how != refused {
					return
				}
				t.Run(fmt.Sprintf("%s/%s/%s refused", s.kind, v, path), func(t *testing.T) {
					o := everyField(t, s, v, "chartRef")
					setPath(o.Object, parents, f.name, map[string]any{"x": "y"})
					_, err := Decode(o, DecodeOptions{})
					want := fmt.Sprintf("%s/ns/every: %s: not supported", s.kind, path)
					if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), want) {
						t.Errorf("Decode error %v; want %q", err, want)
					}
				})
			})
			for i := range s.spec {
				f := &s.spec[i]
				if f.inVersion(v) {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/spec.%s not in version", s.kind, v, f.name), func(t *testing.T) {
					o := everyField(t, s, v, "chartRef")
					o.Object["spec"].(map[string]any)[f.name] = "x"
					_, err := Decode(o, DecodeOptions{})
					want := fmt.Sprintf("spec.%s: unknown field in %s (it exists in %s)", f.name, v, strings.Join(f.versions, ", "))
					if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
						t.Errorf("Decode error %v; want %q", err, want)
					}
				})
			}
		}
	}
}

// forEachField calls fn for every field below fields, with its path and
// its parents.
func forEachField(fields []field, path string, fn func(path string, f *field, parents []*field)) {
	var walk func(fields []field, path string, parents []*field)
	walk = func(fields []field, path string, parents []*field) {
		for i := range fields {
			f := &fields[i]
			p := path + "." + f.name
			if f.typ == tObjects {
				p += "[0]"
			}
			fn(path+"."+f.name, f, parents)
			walk(f.fields, p, append(clone(parents), f))
		}
	}
	walk(fields, path, nil)
}

func clone(p []*field) []*field { return append([]*field(nil), p...) }

// setPath sets name to v inside the object that parents lead to from
// spec, creating objects (and one-element lists) on the way.
func setPath(o map[string]any, parents []*field, name string, v any) {
	m := o["spec"].(map[string]any)
	for _, p := range parents {
		switch p.typ {
		case tObjects:
			l, _ := m[p.name].([]any)
			if len(l) == 0 {
				l = []any{map[string]any{}}
				m[p.name] = l
			}
			m = l[0].(map[string]any)
		default:
			next, _ := m[p.name].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[p.name] = next
			}
			m = next
		}
	}
	m[name] = v
}

func TestIsFluxAndSplit(t *testing.T) {
	objs := []*unstructured.Unstructured{
		obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
		obj(t, "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k}\n"),
		obj(t, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata: {name: not-flux}\n"),
		obj(t, "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {name: al}\n"),
		obj(t, "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata: {name: g}\n"),
		obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"),
	}
	flux, rest := Split(objs)
	names := func(l []*unstructured.Unstructured) []string {
		var out []string
		for _, o := range l {
			out = append(out, o.GetName())
		}
		return out
	}
	if diff := cmp.Diff([]string{"k", "al", "g"}, names(flux)); diff != "" {
		t.Errorf("flux (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "not-flux", "d"}, names(rest)); diff != "" {
		t.Errorf("rest (-want +got):\n%s", diff)
	}
}

func TestDecodeAllJoinsErrors(t *testing.T) {
	objs := []*unstructured.Unstructured{
		obj(t, "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: good, namespace: ns1}\nspec: {interval: 1m, url: 'https://h/r'}\n"),
		obj(t, "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: bad, namespace: ns1}\nspec: {interval: 1m, url: 'https://h/r', verify: {mode: HEAD}}\n"),
		obj(t, "apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\nmetadata: {name: b, namespace: ns1}\nspec: {interval: 1m}\n"),
	}
	got, err := DecodeAll(objs, DecodeOptions{})
	if len(got) != 1 || got[0].Metadata().ID.Name != "good" {
		t.Errorf("decoded %v; want only good", got)
	}
	want := []string{
		"GitRepository/ns1/bad: spec.verify.secretRef: required",
		"Bucket/ns1/b: spec.bucketName: required",
		"Bucket/ns1/b: spec.endpoint: required",
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
