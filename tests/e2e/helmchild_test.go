package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// TestHelmRendersInTheJob runs a Helm sync in a Job of the real sync-job
// image on the node: sync-job does not link the Helm SDK, so the chart can
// only render through sync-job-helm, the child program next to the
// entrypoint in the image (cmd/sync-job-helm).
func TestHelmRendersInTheJob(t *testing.T) {
	ctx := t.Context()
	syncJobImageBuilt(t)
	git, repo := gitserver.StartTestRepo(t, gitserver.Options{ListenIP: env.HostIP()}, "chart")
	if _, err := repo.Commit(ctx, "chart", map[string]string{
		"chart/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/values.yaml": "value: from-chart\nreplicas: 1\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n" +
			"data:\n  value: {{ .Values.value | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
	}); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	doc := fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata: {name: chart, namespace: %s}
spec:
  source:
    git: {url: %s, insecure: true, ref: {branch: main}}
  path: ./chart
  helm:
    releaseName: rel
    values: {value: from-spec}
`, ns, git.HTTPURL("chart"))
	mustGitsync(t, ns, "install", "-f", writeFile(t, doc), "--image", syncJobImage)
	out := mustGitsync(t, ns, "run", "chart")
	if !strings.Contains(out, "Succeeded") {
		t.Fatalf("run output:\n%s", out)
	}
	v, err := configMapValue(ctx, ns, "rel-config")
	if err != nil || v != "from-spec" {
		t.Fatalf("rel-config value %q, %v; want the spec's value, rendered in the Job", v, err)
	}
}
