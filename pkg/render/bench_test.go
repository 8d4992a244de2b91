package render

import (
	"fmt"
	"os"
	"path/filepath"
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
