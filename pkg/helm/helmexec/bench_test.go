package helmexec_test

import (
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/helm/sdk"
)

// BenchmarkRenderChart measures what the child process costs per chart:
// the chart stage of a chart of 40 ConfigMaps (the bench's Flux workload's
// chart) in process and in sync-job-helm.
//
//	go test -run '^$' -bench RenderChart -benchtime 20x ./pkg/helm/helmexec/
func BenchmarkRenderChart(b *testing.B) {
	chart := writeChartIn(b, b.TempDir(), map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: bulk\nversion: 1.0.0\n",
		"values.yaml": "count: 1\n",
		"templates/cms.yaml": `{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-{{ printf "%03d" $i }}
data:
  index: {{ $i | quote }}
{{- end }}
`,
	})
	req := &chartrender.Request{ChartPath: chart, ReleaseName: "bulk", Namespace: "default", Revision: 1, KubeVersion: "v1.37.2",
		Values: map[string]any{"count": 40}}
	for _, r := range []struct {
		name string
		r    chartrender.Renderer
	}{{"in-process", sdk.Renderer{}}, {"child", helmexec.Renderer{Path: child}}} {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				res, err := r.r.RenderChart(b.Context(), req)
				if err != nil {
					b.Fatal(err)
				}
				if n := strings.Count(res.Files[0].Data, "kind: ConfigMap"); n != 40 {
					b.Fatalf("%d ConfigMaps", n)
				}
			}
		})
	}
}
