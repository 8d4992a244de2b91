package render

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeWorkload writes n small objects of mixed kinds into dir, several
// documents per file and some in subdirectories, and, when withKust is set,
// a kustomization.yaml listing every file.
func writeWorkload(tb testing.TB, dir string, n int, withKust bool) {
	tb.Helper()
	var files []string
	var cur strings.Builder
	flush := func(i int) {
		if cur.Len() == 0 {
			return
		}
		name := fmt.Sprintf("group-%02d/objects-%04d.yaml", i%7, i)
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(cur.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		files = append(files, name)
		cur.Reset()
	}
	for i := range n {
		cur.WriteString("---\n")
		switch i % 5 {
		case 0:
			fmt.Fprintf(&cur, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  namespace: ns-%d\n  labels:\n    app: app-%d\ndata:\n  key: value-%d\n  other: \"42\"\n", i, i%10, i%50, i)
		case 1:
			fmt.Fprintf(&cur, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d-%d\n  namespace: ns-%d\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: d-%d}\n  template:\n    metadata:\n      labels: {app: d-%d}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.%d\n        ports:\n        - containerPort: 80\n", i, i%10, i, i, i%30)
		case 2:
			fmt.Fprintf(&cur, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s-%d\n  namespace: ns-%d\nspec:\n  selector: {app: d-%d}\n  ports:\n  - port: 80\n    targetPort: 8080\n", i, i%10, i)
		case 3:
			fmt.Fprintf(&cur, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr-%d\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n", i)
		case 4:
			fmt.Fprintf(&cur, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec-%d\n  namespace: ns-%d\ntype: Opaque\nstringData:\n  password: p%d\n", i, i%10, i)
		}
		if i%4 == 3 {
			flush(i)
		}
	}
	flush(n)
	if withKust {
		var k strings.Builder
		k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
		for _, f := range files {
			fmt.Fprintf(&k, "- %s\n", f)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkRender4000 renders 4,000 small objects from a plain directory
// and from a kustomization listing the same files.
func BenchmarkRender4000(b *testing.B) {
	for _, tc := range []struct {
		name     string
		withKust bool
		opts     Options
	}{
		{name: "plain-dir"},
		{name: "kustomization", withKust: true},
		{name: "plain-dir-substitute-commonMetadata", opts: Options{
			Substitute:     map[string]string{"env": "prod"},
			CommonMetadata: &CommonMetadata{Labels: map[string]string{"team": "a"}},
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			writeWorkload(b, dir, 4000, tc.withKust)
			opts := tc.opts
			opts.Root = dir
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := Render(b.Context(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Objects) != 4000 {
					b.Fatalf("got %d objects, want 4000", len(res.Objects))
				}
			}
			b.ReportMetric(4000, "docs/op")
		})
	}
}

// writeSyncWorkload writes n objects (n a multiple of 8) of the kinds a
// typical application tree holds, eight to an application and one
// application to a file, in ten subdirectories of dir: a ConfigMap, a
// Secret, a ServiceAccount, a Deployment using all three (envFrom, env
// valueFrom, volumes, serviceAccountName) with an nginx image, a Service
// selecting it, a Role, a RoleBinding of the Role to the ServiceAccount,
// and a HorizontalPodAutoscaler scaling the Deployment. Every reference
// must follow a name prefix.
func writeSyncWorkload(tb testing.TB, dir string, n int) {
	tb.Helper()
	for app := range n / 8 {
		var b strings.Builder
		name := fmt.Sprintf("app-%d", app)
		fmt.Fprintf(&b, `apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s-config
  namespace: apps
  labels: {app: %[1]s}
data:
  LOG_LEVEL: info
  URL: http://%[1]s.apps.svc:8080
---
apiVersion: v1
kind: Secret
metadata:
  name: %[1]s-secret
  namespace: apps
type: Opaque
stringData:
  password: p%[2]d
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[1]s
  namespace: apps
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: apps
  labels: {app: %[1]s, tier: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      serviceAccountName: %[1]s
      containers:
      - name: web
        image: nginx:1.%[3]d
        envFrom:
        - configMapRef: {name: %[1]s-config}
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef: {name: %[1]s-secret, key: password}
        ports:
        - containerPort: 8080
        volumeMounts:
        - {name: config, mountPath: /etc/app}
      volumes:
      - name: config
        configMap: {name: %[1]s-config}
      - name: secret
        secret: {secretName: %[1]s-secret}
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: apps
spec:
  selector: {app: %[1]s}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: %[1]s
  namespace: apps
rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [%[1]s-config]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: %[1]s
  namespace: apps
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: %[1]s
subjects:
- kind: ServiceAccount
  name: %[1]s
  namespace: apps
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: %[1]s
  namespace: apps
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: 1
  maxReplicas: 3
`, name, app, app%30)
		file := filepath.Join(dir, fmt.Sprintf("team-%02d", app%10), name+".yaml")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// syncWorkloadOptions are the options of the render-at-scale target:
// targetNamespace, namePrefix, commonMetadata, an image override and two
// patches (a strategic merge patch on every Deployment, a JSON 6902 patch
// on every Service).
func syncWorkloadOptions(root string) Options {
	return Options{
		Root:            root,
		TargetNamespace: "team-a",
		NamePrefix:      "prod-",
		CommonMetadata: &CommonMetadata{
			Labels:      map[string]string{"owner": "team-a"},
			Annotations: map[string]string{"gitsync.io/sync": "apps"},
		},
		Images: []Image{{Name: "nginx", NewName: "registry.example.com/nginx", NewTag: "1.28"}},
		Patches: []Patch{
			{
				Patch:  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        resources:\n          limits: {memory: 128Mi}\n",
				Target: &Selector{Kind: "Deployment", LabelSelector: "tier=web"},
			},
			{
				Patch:  "- op: add\n  path: /metadata/annotations/gitsync.io~1patched\n  value: \"true\"\n",
				Target: &Selector{Version: "v1", Kind: "Service", Name: "app-.*"},
			},
		},
	}
}

// BenchmarkRenderAtScale prints the render time of the render-at-scale
// workload (writeSyncWorkload with syncWorkloadOptions) at 1,000, 2,000,
// 5,000 and 10,000 objects, on the linear path and, for comparison, with
// kustomize's own build. kustomize's build is quadratic (on this workload
// about 17 s of CPU at 1,000 objects, 64 s at 2,000, half an hour at
// 10,000), so it runs only up to GITSYNC_BENCH_KUSTOMIZE_MAX objects,
// 2,000 unless set.
func BenchmarkRenderAtScale(b *testing.B) {
	kustomizeMax := 2000
	if v := os.Getenv("GITSYNC_BENCH_KUSTOMIZE_MAX"); v != "" {
		var err error
		if kustomizeMax, err = strconv.Atoi(v); err != nil {
			b.Fatalf("GITSYNC_BENCH_KUSTOMIZE_MAX: %v", err)
		}
	}
	for _, path := range []buildPath{pathLinear, pathKustomize} {
		for _, n := range []int{1000, 2000, 5000, 10000} {
			b.Run(fmt.Sprintf("%s/objects=%d", path, n), func(b *testing.B) {
				if path == pathKustomize && n > kustomizeMax {
					b.Skipf("kustomize's build is quadratic; GITSYNC_BENCH_KUSTOMIZE_MAX=%d", kustomizeMax)
				}
				dir := b.TempDir()
				writeSyncWorkload(b, dir, n)
				opts := syncWorkloadOptions(dir)
				b.ReportAllocs()
				for b.Loop() {
					res, got, err := render(b.Context(), opts, path)
					if err != nil {
						b.Fatal(err)
					}
					if got != path || len(res.Objects) != n {
						b.Fatalf("built %d objects on the %s path, want %d on the %s path", len(res.Objects), got, n, path)
					}
				}
				b.ReportMetric(float64(n), "objects/op")
			})
		}
	}
}
