package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync/gitsync/pkg/render/internal/kustdefaults"
)

// resultBytes is a Result as bytes: each object's JSON (sorted keys) and
// source, then the digest, so that two paths can be compared byte for byte
// with a readable diff.
func resultBytes(t *testing.T, res *Result) string {
	t.Helper()
	var b bytes.Buffer
	for i, o := range res.Objects {
		j, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s\n  source: %s\n", j, res.Sources[i])
	}
	fmt.Fprintf(&b, "digest: %s\n", res.Digest)
	return b.String()
}

// sameAsKustomize renders opts on the path render chooses and with
// kustomize's build, and fails unless the chosen path is want and the two
// results are the same bytes (or both fail with the same error).
func sameAsKustomize(t *testing.T, opts Options, want buildPath, wantErr bool) {
	t.Helper()
	got, path, err := render(t.Context(), opts, pathAuto)
	ref, _, refErr := render(t.Context(), opts, pathKustomize)
	if wantErr {
		if err == nil || refErr == nil {
			t.Fatalf("want errors from both paths, got %v and from kustomize %v", err, refErr)
		}
		if err.Error() != refErr.Error() {
			t.Errorf("errors differ:\n  got       %v\n  kustomize %v", err, refErr)
		}
		return
	}
	if refErr != nil {
		t.Fatalf("kustomize: %v", refErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if path != want {
		t.Errorf("built on the %s path, want %s", path, want)
	}
	if diff := cmp.Diff(resultBytes(t, ref), resultBytes(t, got)); diff != "" {
		t.Errorf("%s path differs from kustomize (-kustomize +%s):\n%s", path, path, diff)
	}
	// The objects themselves, with their Go types.
	if diff := cmp.Diff(ref, got); diff != "" {
		t.Errorf("%s path differs from kustomize in value types (-kustomize +%s):\n%s", path, path, diff)
	}
}

// TestLinearMatchesKustomize holds the linear path to kustomize's output on
// a corpus: every transformer the linear path reproduces, alone and
// combined, on a tree with every kind of name reference kustomize fixes;
// and the cases it leaves to kustomize, decided before rendering.
func TestLinearMatchesKustomize(t *testing.T) {
	const refs = "testdata/linear/refs"
	sm := func(s string, target *Selector) Patch { return Patch{Patch: s, Target: target} }
	tests := []struct {
		name    string
		opts    Options
		files   map[string]string // a tree in a temporary directory instead of opts.Root
		want    buildPath
		wantErr bool
	}{
		{name: "targetNamespace", opts: Options{Root: refs, TargetNamespace: "team-a"}},
		{name: "targetNamespace default", opts: Options{Root: refs, TargetNamespace: "default"}},
		{name: "namePrefix", opts: Options{Root: refs, NamePrefix: "pre-"}},
		{name: "nameSuffix", opts: Options{Root: refs, NameSuffix: "-suf"}},
		{name: "prefix and suffix", opts: Options{Root: refs, NamePrefix: "pre-", NameSuffix: "-suf"}},
		{name: "prefix, suffix and namespace", opts: Options{Root: refs, TargetNamespace: "team-a", NamePrefix: "pre-", NameSuffix: "-suf"}},
		{name: "prefix that reads as a number", opts: Options{Root: refs, NamePrefix: "1"}},
		{name: "images newName", opts: Options{Root: refs, Images: []Image{{Name: "nginx", NewName: "mirror.local/nginx"}}}},
		{name: "images newTag", opts: Options{Root: refs, Images: []Image{{Name: "nginx", NewTag: "1.28"}}}},
		{name: "images digest", opts: Options{Root: refs, Images: []Image{{Name: "nginx", Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"}}}},
		{name: "images newTag and digest", opts: Options{Root: refs, Images: []Image{{Name: "busybox", NewTag: "1.36", Digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}}}},
		{name: "images with registries and digests", opts: Options{Root: refs, Images: []Image{
			{Name: "docker.io/library/redis", NewTag: "8"},
			{Name: "registry.local:5000/nginx", NewName: "mirror.local/nginx"},
			{Name: "quay.io/app/agent", NewName: "mirror.local/agent"},
			{Name: "postgres", NewName: "mirror.local/postgres", NewTag: "17"},
		}}},
		{name: "images matching nothing", opts: Options{Root: refs, Images: []Image{{Name: "nothing", NewTag: "1"}}}},
		{name: "patch by kind", opts: Options{Root: refs, Patches: []Patch{sm(
			"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 4\n  template:\n    spec:\n      containers:\n      - name: web\n        resources:\n          limits: {memory: 1Gi}\n",
			&Selector{Kind: "Deployment"})}}},
		{name: "patch by name regex", opts: Options{Root: refs, Patches: []Patch{sm(
			"- op: add\n  path: /spec/publishNotReadyAddresses\n  value: true\n",
			&Selector{Kind: "Service", Name: "w.*|db"})}}},
		{name: "patch by namespace", opts: Options{Root: refs, Patches: []Patch{sm(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {in: apps}\n",
			&Selector{Kind: "ConfigMap", Namespace: "apps"})}}},
		{name: "patch by group and version", opts: Options{Root: refs, Patches: []Patch{sm(
			"- op: replace\n  path: /metadata/annotations\n  value: {rbac: \"true\"}\n",
			&Selector{Group: "rbac.authorization.k8s.io", Version: "v1"})}}},
		{name: "patch by labelSelector", opts: Options{Root: refs, Patches: []Patch{sm(
			"- op: add\n  path: /metadata/annotations/web\n  value: labelled\n",
			&Selector{LabelSelector: "app=web,tier!=frontend"})}}},
		{name: "patch by annotationSelector", opts: Options{Root: refs, Patches: []Patch{sm(
			"- op: add\n  path: /metadata/labels/owned\n  value: \"true\"\n",
			&Selector{AnnotationSelector: "owner=team-a"})}}},
		{name: "patch without target", opts: Options{Root: refs, Patches: []Patch{sm(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: apps\ndata:\n  x: \"2\"\n  z: added\n", nil)}}},
		{name: "json6902 add, replace, remove", opts: Options{Root: refs, Patches: []Patch{sm(
			"[{\"op\": \"replace\", \"path\": \"/spec/replicas\", \"value\": 2}, {\"op\": \"remove\", \"path\": \"/spec/template/spec/priorityClassName\"}, {\"op\": \"add\", \"path\": \"/spec/minReadySeconds\", \"value\": 5}]",
			&Selector{Kind: "Deployment", Name: "web"})}}},
		{name: "json6902 renames, references follow", opts: Options{Root: refs, NamePrefix: "pre-", TargetNamespace: "team-a", Patches: []Patch{sm(
			"- op: replace\n  path: /metadata/name\n  value: settings\n",
			&Selector{Kind: "ConfigMap", Name: "app-config"})}}},
		{name: "json6902 drops annotations and origin", opts: Options{Root: refs, NamePrefix: "pre-", Patches: []Patch{sm(
			"- op: remove\n  path: /metadata/annotations\n",
			&Selector{Kind: "Ingress"})}}},
		{name: "patch deletes an object", opts: Options{Root: refs, NamePrefix: "pre-", Patches: []Patch{sm(
			"$patch: delete\napiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\n  namespace: apps\n", nil)}}},
		{name: "patch adds list elements", opts: Options{Root: refs, Patches: []Patch{sm(
			"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  template:\n    spec:\n      volumes:\n      - name: extra\n        configMap: {name: shared}\n      containers:\n      - name: extra\n        image: nginx:1.0\n", nil)}}},
		{name: "two patches on one object", opts: Options{Root: refs, NamePrefix: "p-", Patches: []Patch{
			sm("- op: add\n  path: /metadata/labels/step\n  value: one\n", &Selector{Kind: "Deployment"}),
			sm("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  labels: {more: two}\n", &Selector{LabelSelector: "step=one"}),
		}}},
		{name: "everything", opts: Options{Root: refs, TargetNamespace: "team-a", NamePrefix: "pre-", NameSuffix: "-suf",
			Images: []Image{{Name: "nginx", NewName: "mirror.local/nginx", NewTag: "1.28"}, {Name: "busybox", Digest: "sha256:3333333333333333333333333333333333333333333333333333333333333333"}},
			Patches: []Patch{
				sm("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 2\n", &Selector{Kind: "Deployment", LabelSelector: "app=web"}),
				sm("- op: add\n  path: /metadata/annotations/patched\n  value: json\n", &Selector{Version: "v1", Kind: "Service", Name: "web"}),
				sm("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: apps\ndata: {x: \"3\"}\n", nil),
			},
			CommonMetadata: &CommonMetadata{Labels: map[string]string{"owner": "team-a"}, Annotations: map[string]string{"note": "common"}},
			Substitute:     map[string]string{"unused": "x"},
		}},
		{name: "kustomization with transformers of its own", opts: Options{Root: "testdata/linear/kust"}},
		{name: "kustomization merged with options", opts: Options{Root: "testdata/linear/kust", TargetNamespace: "team-b",
			NameSuffix: "-b", Images: []Image{{Name: "nginx", NewName: "mirror.local/nginx"}},
			Patches: []Patch{sm("- op: add\n  path: /automountServiceAccountToken\n  value: false\n", &Selector{Kind: "ServiceAccount"})}}},
		{name: "golden fixture with every option", opts: Options{Root: "testdata/plain", TargetNamespace: "team-a", NamePrefix: "pre-",
			Images: []Image{{Name: "nginx", NewTag: "1.28"}}}},

		// Left to kustomize, decided before rendering.
		{name: "components", want: pathKustomize, opts: Options{Root: "testdata/kust", Path: "overlays/prod",
			Components: []string{"../../components/monitoring"}}},
		{name: "generated ConfigMaps and Secrets with hash suffixes", want: pathKustomize, opts: Options{NamePrefix: "p-", TargetNamespace: "t"},
			files: map[string]string{
				"kustomization.yaml": "resources: [deploy.yaml]\nconfigMapGenerator:\n- name: settings\n  literals: [a=1]\nsecretGenerator:\n- name: creds\n  literals: [p=2]\n",
				"deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        envFrom:\n        - configMapRef: {name: settings}\n        - secretRef: {name: creds}\n      volumes:\n      - name: v\n        secret: {secretName: creds}\n",
			}},
		{name: "patch options", want: pathKustomize, opts: Options{NamePrefix: "p-"}, files: map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- patch: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: renamed\n  target: {kind: ConfigMap}\n  options: {allowNameChange: true}\n",
			"cm.yaml":            cmA,
		}},
		{name: "JSON patch testing annotations", want: pathKustomize, opts: Options{Root: refs, Patches: []Patch{sm(
			"- op: test\n  path: /metadata/annotations/owner\n  value: team-a\n", &Selector{Kind: "Deployment"})}}},
		{name: "base with a transformer", want: pathKustomize, opts: Options{TargetNamespace: "t"}, files: map[string]string{
			"kustomization.yaml":      "resources: [base]\n",
			"base/kustomization.yaml": "namePrefix: b-\nresources: [cm.yaml]\n",
			"base/cm.yaml":            cmA,
		}},
		// kustomize reads the annotation as its own and fails.
		{name: "annotation kustomize uses while building", wantErr: true, opts: Options{NamePrefix: "p-"}, files: map[string]string{
			"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    internal.config.kubernetes.io/previousNames: x\n",
		}},
		// kustomize keeps the quotes of the name it prefixes.
		{name: "prefix that makes a quoted name read as a number", want: pathKustomize, opts: Options{NamePrefix: "1"}, files: map[string]string{
			"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"23\"\n",
		}},
		{name: "name reference that is not a string", want: pathKustomize, opts: Options{NamePrefix: "p-"}, files: map[string]string{
			"all.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"123\"\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: x\n    envFrom:\n    - configMapRef: {name: 123}\n",
		}},

		// Errors read as kustomize's.
		{name: "namespace conflict", wantErr: true, opts: Options{TargetNamespace: "t"}, files: map[string]string{
			"a.yaml": cmA, "b.yaml": strings.ReplaceAll(cmA, "namespace: x", "namespace: y"),
		}},
		{name: "prefix that makes a plain name read as a number", wantErr: true, opts: Options{NamePrefix: "1"}, files: map[string]string{
			"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e5\n",
		}},
		{name: "patch without target matching nothing", wantErr: true, opts: Options{Root: refs, Patches: []Patch{sm(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: missing\n", nil)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if tc.files != nil {
				opts.Root = t.TempDir()
				writeFiles(t, opts.Root, tc.files)
			}
			want := tc.want
			if want == "" {
				want = pathLinear
			}
			sameAsKustomize(t, opts, want, tc.wantErr)
		})
	}
}

// TestLinearRandomTrees compares the linear path with kustomize on random
// trees: objects of many kinds in a few namespaces, with references to each
// other by name (some to objects that are not in the tree), some names
// shared across kinds and namespaces, and random options.
func TestLinearRandomTrees(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			root := t.TempDir()
			ids := writeRandomTree(t, root, rng)
			opts := Options{Root: root}
			if rng.IntN(3) > 0 {
				opts.TargetNamespace = pick(rng, "team", "default", "ns-1")
			}
			if rng.IntN(2) == 0 {
				opts.NamePrefix = pick(rng, "p-", "pre-", "x")
			}
			if rng.IntN(3) == 0 {
				opts.NameSuffix = pick(rng, "-s", "-suf")
			}
			if rng.IntN(2) == 0 {
				opts.Images = []Image{{Name: "nginx", NewName: "mirror/nginx", NewTag: fmt.Sprint(rng.IntN(9))}}
			}
			if rng.IntN(3) == 0 {
				opts.Patches = append(opts.Patches, Patch{
					Patch:  "apiVersion: v1\nkind: Any\nmetadata:\n  name: any\n  labels: {patched: \"yes\"}\n",
					Target: &Selector{Kind: pick(rng, "ConfigMap", "Deployment", "Service"), Name: pick(rng, "", "n-1.*", "n-[0-4]")},
				})
			}
			if rng.IntN(3) == 0 {
				opts.Patches = append(opts.Patches, Patch{
					Patch:  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  replicas: 3\n",
					Target: &Selector{Kind: "Deployment", Namespace: pick(rng, "ns-1", "ns-2", "")},
				})
			}
			if rng.IntN(4) == 0 {
				// Renames whatever it selects: references follow, or two
				// objects collide and both paths fail.
				opts.Patches = append(opts.Patches, Patch{
					Patch:  "- op: replace\n  path: /metadata/name\n  value: renamed\n",
					Target: &Selector{Kind: pick(rng, "ConfigMap", "Secret", "ServiceAccount"), Name: pick(rng, "n-1", "web", "n-1.*")},
				})
			}
			if cms := ids["ConfigMap"]; len(cms) > 0 && rng.IntN(4) == 0 {
				// Without target: applies to the one object it names.
				id := pick(rng, cms...)
				opts.Patches = append(opts.Patches, Patch{
					Patch: fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata: {patched: \"yes\"}\n", id[1], id[0]),
				})
			}
			if opts.TargetNamespace == "" && opts.NamePrefix == "" && opts.NameSuffix == "" && len(opts.Images) == 0 && len(opts.Patches) == 0 {
				opts.NamePrefix = "only-"
			}
			got, path, err := render(t.Context(), opts, pathAuto)
			ref, _, refErr := render(t.Context(), opts, pathKustomize)
			if (err != nil) != (refErr != nil) {
				t.Fatalf("auto path %s: %v; kustomize: %v", path, err, refErr)
			}
			if err != nil {
				// The linear path leaves failing builds to kustomize,
				// whose name-reference fixer visits objects in map
				// order and so may report another ambiguous reference
				// on each run: only the failure is compared.
				if !strings.Contains(err.Error(), "kustomize build") {
					t.Errorf("error not from kustomize: %v", err)
				}
				return
			}
			if path != pathLinear {
				t.Errorf("built on the %s path, want linear", path)
			}
			if diff := cmp.Diff(resultBytes(t, ref), resultBytes(t, got)); diff != "" {
				t.Errorf("options %+v: linear path differs from kustomize (-kustomize +linear):\n%s", opts, diff)
			}
		})
	}
}

func pick[T any](rng *rand.Rand, options ...T) T { return options[rng.IntN(len(options))] }

// writeRandomTree writes 20 to 60 objects with references among them and
// returns the namespace and name of each object by kind.
func writeRandomTree(t *testing.T, root string, rng *rand.Rand) map[string][][2]string {
	t.Helper()
	names := []string{"n-1", "n-2", "n-3", "n-10", "n-11", "default", "web"}
	namespaces := []string{"ns-1", "ns-2", ""}
	type key struct{ kind, name string }
	used := map[key]bool{}
	ids := map[string][][2]string{}
	var docs []string
	for len(docs) < 20+rng.IntN(40) {
		name, ns := pick(rng, names...), pick(rng, namespaces...)
		kind := pick(rng, "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Service", "Role",
			"RoleBinding", "ClusterRole", "ClusterRoleBinding", "PersistentVolumeClaim", "HorizontalPodAutoscaler")
		cluster := kind == "ClusterRole" || kind == "ClusterRoleBinding"
		if cluster {
			ns = ""
		}
		// One object of a kind and name, whatever the namespace, so
		// that targetNamespace does not make most trees collide.
		if used[key{kind: kind, name: name}] {
			continue
		}
		used[key{kind: kind, name: name}] = true
		ids[kind] = append(ids[kind], [2]string{ns, name})
		meta := fmt.Sprintf("metadata:\n  name: %s\n", name)
		if ns != "" {
			meta += fmt.Sprintf("  namespace: %s\n", ns)
		}
		switch rng.IntN(6) {
		case 0:
			meta += "  labels: {app: web}\n"
		case 1:
			meta += "  annotations: {}\n"
		case 2:
			meta += "  annotations: {config.kubernetes.io/local-config: \"true\"}\n"
		}
		ref := func() string { return pick(rng, names...) }
		var d string
		switch kind {
		case "ConfigMap":
			d = "apiVersion: v1\nkind: ConfigMap\n" + meta + fmt.Sprintf("data: {ref: %s}\n", ref())
		case "Secret":
			d = "apiVersion: v1\nkind: Secret\n" + meta + "stringData: {k: v}\n"
		case "ServiceAccount":
			d = "apiVersion: v1\nkind: ServiceAccount\n" + meta + fmt.Sprintf("imagePullSecrets:\n- name: %s\n", ref())
		case "Deployment":
			d = "apiVersion: apps/v1\nkind: Deployment\n" + meta + fmt.Sprintf(
				"spec:\n  selector:\n    matchLabels: {app: %[1]s}\n  template:\n    metadata:\n      labels: {app: %[1]s}\n    spec:\n"+
					"      serviceAccountName: %[2]s\n      containers:\n      - name: c\n        image: %[6]s\n        envFrom:\n"+
					"        - configMapRef: {name: %[3]s}\n        - secretRef: {name: %[4]s}\n      volumes:\n"+
					"      - name: v\n        persistentVolumeClaim: {claimName: %[5]s}\n      - name: w\n        configMap: {name: %[3]s}\n",
				name, ref(), ref(), ref(), ref(), pick(rng, "nginx", "nginx:1.2", "busybox", "docker.io/nginx:1"))
		case "Service":
			d = "apiVersion: v1\nkind: Service\n" + meta + fmt.Sprintf("spec:\n  selector: {app: %s}\n", ref())
		case "Role", "ClusterRole":
			d = "apiVersion: rbac.authorization.k8s.io/v1\nkind: " + kind + "\n" + meta +
				fmt.Sprintf("rules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  resourceNames: [%s]\n  verbs: [get]\n", ref())
		case "RoleBinding", "ClusterRoleBinding":
			role := pick(rng, "Role", "ClusterRole")
			if kind == "ClusterRoleBinding" {
				role = "ClusterRole"
			}
			d = "apiVersion: rbac.authorization.k8s.io/v1\nkind: " + kind + "\n" + meta + fmt.Sprintf(
				"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: %s\n  name: %s\nsubjects:\n"+
					"- kind: ServiceAccount\n  name: %s\n  namespace: %s\n- kind: ServiceAccount\n  name: %s\n"+
					"- kind: User\n  name: %s\n  apiGroup: rbac.authorization.k8s.io\n",
				role, ref(), ref(), pick(rng, "ns-1", "ns-2"), ref(), ref())
		case "PersistentVolumeClaim":
			d = "apiVersion: v1\nkind: PersistentVolumeClaim\n" + meta + "spec:\n  accessModes: [ReadWriteOnce]\n"
		case "HorizontalPodAutoscaler":
			d = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n" + meta +
				fmt.Sprintf("spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}\n  maxReplicas: 2\n", ref())
		}
		docs = append(docs, d)
	}
	for i := 0; i < len(docs); i += 3 {
		end := min(i+3, len(docs))
		dir := filepath.Join(root, fmt.Sprintf("d%d", i%4))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := strings.Join(docs[i:end], "---\n")
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.yaml", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestKustomizeDefaultsCurrent fails when kustomize_defaults.yaml is not
// what the kustomize version in go.mod defines (run go generate).
func TestKustomizeDefaultsCurrent(t *testing.T) {
	dir, err := kustdefaults.ModuleDir()
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("no go command to find kustomize's source")
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := kustdefaults.Extract(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(kustomizeDefaults)); diff != "" {
		t.Errorf("kustomize_defaults.yaml is stale, run go generate ./pkg/render (-want +got):\n%s", diff)
	}
	cfg, err := defaultTransformerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.NameReference) == 0 || len(cfg.NameSpace) == 0 || len(cfg.NamePrefix) == 0 || len(cfg.Images) == 0 {
		t.Errorf("default configuration lacks field specs: %+v", cfg)
	}
}
