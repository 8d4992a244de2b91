package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/restmapper"

	"github.com/gitsync/gitsync/pkg/action"
)

// TestOfflineDiscoveryMatchesTheCluster: what an offline render takes to be
// namespaced, and each kind's resource, is what the test cluster's API
// server says, for every kind it serves.
func TestOfflineDiscoveryMatchesTheCluster(t *testing.T) {
	offline, err := discovery.NewDiscoveryClientForConfig(action.OfflineConfig())
	must(t, err)
	groups, err := restmapper.GetAPIGroupResources(offline)
	must(t, err)
	mapper := restmapper.NewDiscoveryRESTMapper(groups)

	_, lists, err := env.Client().Discovery().ServerGroupsAndResources()
	must(t, err)
	checked := 0
	for _, l := range lists {
		for _, r := range l.APIResources {
			gv := l.GroupVersion
			group, version, ok := strings.Cut(gv, "/")
			if !ok {
				group, version = "", gv
			}
			if strings.Contains(r.Name, "/") || group != "" && !strings.HasSuffix(group, "k8s.io") {
				continue // subresources; the CRDs of other tests
			}
			m, err := mapper.RESTMapping(schema.GroupKind{Group: group, Kind: r.Kind}, version)
			if err != nil {
				t.Errorf("%s %s: offline: %v", gv, r.Kind, err)
				continue
			}
			if m.Resource.Resource != r.Name || (m.Scope.Name() == "namespace") != r.Namespaced {
				t.Errorf("%s %s: offline %s namespaced=%v, the cluster %s namespaced=%v", gv, r.Kind, m.Resource.Resource, m.Scope.Name() == "namespace", r.Name, r.Namespaced)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("only %d kinds compared", checked)
	}
}

// offlineRender is a render with namespaced and cluster-scoped built-in
// kinds, objects without a namespace, and a custom resource whose CRD is in
// the render.
var offlineRender = map[string]string{
	"ns.yaml":   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: offline-apps\n",
	"role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: offline-reader\nrules: []\n",
	"pc.yaml":   "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: offline-high\nvalue: 1000\n",
	"ic.yaml":   "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: offline-nginx\nspec:\n  controller: example.com/nginx\n",
	"cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n",
	"svc.yaml":  "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
	"np.yaml":   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny\nspec:\n  podSelector: {}\n",
	"crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.offline.example.org
spec:
  group: offline.example.org
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
	"widget.yaml": "apiVersion: offline.example.org/v1\nkind: Widget\nmetadata:\n  name: gear\nspec:\n  size: 3\n",
}

// TestBuildAndDiffOffline: build -f --offline renders exactly what build -f
// renders with the cluster's discovery, without contacting a cluster; diff
// --offline compares the local directory with the source's render.
func TestBuildAndDiffOffline(t *testing.T) {
	f := newPipelineFixture(t)
	files := map[string]string{}
	for name, content := range offlineRender {
		files["deploy/"+name] = content
	}
	f.commit(files)
	doc := filepath.Join(t.TempDir(), "sync.yaml")
	must(t, os.WriteFile(doc, []byte(f.specDoc("")), 0o644))
	dir := t.TempDir()
	for name, content := range offlineRender {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	// An unreachable server: any request to a cluster would fail.
	nowhere := []string{"--server", "https://127.0.0.1:1", "--kubeconfig", filepath.Join(t.TempDir(), "none")}

	online, _, err := f.cli(t.Context(), "build", "-f", doc, "--path", dir)
	wantExit(t, err, ExitOK, "")
	offline, _, err := f.cli(t.Context(), append([]string{"build", "-f", doc, "--path", dir, "--offline", "-n", f.ns}, nowhere...)...)
	wantExit(t, err, ExitOK, "")
	if diff := cmp.Diff(online, offline); diff != "" {
		t.Errorf("offline build differs from the cluster's (-online +offline):\n%s", diff)
	}
	for _, want := range []string{"name: settings\n  namespace: " + f.ns, "name: gear\n  namespace: " + f.ns, "kind: ClusterRole\nmetadata:\n  labels:"} {
		if !strings.Contains(offline, want) {
			t.Errorf("build output lacks %q:\n%s", want, offline)
		}
	}
	// The source at its ref renders the same, offline too.
	source, _, err := f.cli(t.Context(), append([]string{"build", "-f", doc, "--offline", "-n", f.ns}, nowhere...)...)
	wantExit(t, err, ExitOK, "")
	if source != offline {
		t.Errorf("build of the source differs from build of the same files in --path:\n%s", source)
	}

	t.Run("diff", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), append([]string{"diff", "-f", doc, "--path", dir, "--offline", "-n", f.ns}, nowhere...)...)
		wantExit(t, err, ExitOK, "")
		if out != "" {
			t.Errorf("no change, but:\n%s", out)
		}
		changed := t.TempDir()
		for name, content := range offlineRender {
			if name == "np.yaml" {
				continue
			}
			content = strings.Replace(content, "k: v", "k: changed", 1)
			must(t, os.WriteFile(filepath.Join(changed, name), []byte(content), 0o644))
		}
		must(t, os.WriteFile(filepath.Join(changed, "extra.yaml"), []byte(configMapYAML("extra", "1")), 0o644))
		out, _, err = f.cli(t.Context(), append([]string{"diff", "-f", doc, "--path", changed, "--offline", "-n", f.ns}, nowhere...)...)
		wantExit(t, err, ExitFailed, "3 objects would change (1 created, 1 changed, 1 pruned)")
		for _, want := range []string{
			"--- source/ConfigMap/" + f.ns + "/settings\n+++ local/ConfigMap/" + f.ns + "/settings\n",
			"-  k: v\n+  k: changed\n",
			"+++ local/ConfigMap/" + f.ns + "/extra\n",
			"--- source/NetworkPolicy.networking.k8s.io/" + f.ns + "/deny\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("offline diff lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("diff -f against the cluster: what installing it would do", func(t *testing.T) {
		out, _, err := f.cli(t.Context(), "diff", "-f", doc)
		wantExit(t, err, ExitFailed, "9 objects would change (9 created)")
		if !strings.Contains(out, "+++ merged/Widget.offline.example.org/"+f.ns+"/gear\n") {
			t.Errorf("diff -f:\n%s", out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := f.cli(t.Context(), "build", "app", "--offline")
		wantExit(t, err, ExitError, "--offline: needs the Sync document")
		_, _, err = f.cli(t.Context(), "diff", "-f", doc, "--offline")
		wantExit(t, err, ExitError, "--offline: needs --path")
		_, _, err = f.cli(t.Context(), "build", "other", "-f", doc, "--offline")
		wantExit(t, err, ExitError, `NAME: "other", but`)
		withSecret := filepath.Join(t.TempDir(), "secret.yaml")
		must(t, os.WriteFile(withSecret, []byte(strings.Replace(f.specDoc(""), "insecure: true", "insecure: true\n      secretRef: {name: git-credentials}", 1)), 0o644))
		_, _, err = f.cli(t.Context(), append([]string{"build", "-f", withSecret, "--offline", "-n", f.ns}, nowhere...)...)
		wantExit(t, err, ExitError, "offline: nothing is read from a cluster")
	})
}
