package health

import (
	"testing"
)

// BenchmarkEvaluate: one Certificate judged by Flux's cheatsheet
// expressions (all three evaluated: none is true before current).
func BenchmarkEvaluate(b *testing.B) {
	c, err := NewCheck(
		"status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'True')",
		"status.conditions.filter(e, e.type == 'Issuing').exists(e, e.observedGeneration == metadata.generation && e.status == 'True')",
		"status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'False')")
	if err != nil {
		b.Fatal(err)
	}
	u := object(b, `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: c, generation: 3}
status:
  observedGeneration: 3
  conditions:
  - {type: Issuing, status: 'False', observedGeneration: 3}
  - {type: Ready, status: 'True', observedGeneration: 3}
`)
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Evaluate(b.Context(), u)
		if err != nil || res.Status != "Current" {
			b.Fatal(res, err)
		}
	}
}
