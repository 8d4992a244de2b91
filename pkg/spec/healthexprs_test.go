package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHealthCheckExprs(t *testing.T) {
	s, err := Parse([]byte(syncDoc(okSource + `healthCheckExprs:
- apiVersion: example.com/v1
  kind: Widget
  inProgress: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'Unknown')"
  failed: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')"
  current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
- {apiVersion: v1, kind: ConfigMap, current: "data.?ready.orValue('') == 'yes'"}`)))
	if err != nil {
		t.Fatal(err)
	}
	want := []CustomHealthCheck{{
		APIVersion: "example.com/v1", Kind: "Widget",
		InProgress: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'Unknown')",
		Failed:     "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')",
		Current:    "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
	}, {APIVersion: "v1", Kind: "ConfigMap", Current: "data.?ready.orValue('') == 'yes'"}}
	if diff := cmp.Diff(want, s.Spec.HealthCheckExprs); diff != "" {
		t.Errorf("healthCheckExprs (-want +got):\n%s", diff)
	}
	// The spec ConfigMap's canonical form keeps them (testdata/health-exprs.yaml
	// also seeds FuzzParse).
	s, err = Parse(readFile(t, "health-exprs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Spec.HealthCheckExprs) != 1 || back.Digest() != s.Digest() {
		t.Errorf("canonical form lost healthCheckExprs:\n%s", out)
	}
}

func TestHealthCheckExprsErrors(t *testing.T) {
	const ok = `status.phase == "Ready"`
	for name, tc := range map[string]struct{ body, want string }{
		"syntax": {"healthCheckExprs: [{apiVersion: a.io/v1, kind: W, current: \"status.phase ==\"}]",
			`spec.healthCheckExprs[0].current: Invalid value: "status.phase ==": ERROR: <input>:1:16: Syntax error`},
		"unknown function": {"healthCheckExprs: [{apiVersion: a.io/v1, kind: W, current: '" + ok + "'}, " +
			"{apiVersion: b.io/v1, kind: W, current: '" + ok + "', failed: \"status.conditions.exist(c, c.status == 'False')\"}]",
			"spec.healthCheckExprs[1].failed: Invalid value: \"status.conditions.exist(c, c.status == 'False')\": " +
				"ERROR: <input>:1:24: undeclared reference to 'exist'"},
		"not a bool": {"healthCheckExprs: [{apiVersion: a.io/v1, kind: W, current: '" + ok + "', inProgress: 'size(status.conditions) + 1'}]",
			"spec.healthCheckExprs[0].inProgress: Invalid value: \"size(status.conditions) + 1\": the result is int, not a bool"},
		"no current": {"healthCheckExprs: [{apiVersion: a.io/v1, kind: W, failed: '" + ok + "'}]",
			"spec.healthCheckExprs[0].current: Required value"},
		"no kind": {"healthCheckExprs: [{apiVersion: a.io/v1, current: '" + ok + "'}]",
			"spec.healthCheckExprs[0].kind: Required value"},
		"no apiVersion": {"healthCheckExprs: [{kind: W, current: '" + ok + "'}]",
			"spec.healthCheckExprs[0].apiVersion: Required value"},
		"bad apiVersion": {"healthCheckExprs: [{apiVersion: a/b/c, kind: W, current: '" + ok + "'}]",
			`spec.healthCheckExprs[0].apiVersion: Invalid value: "a/b/c"`},
		"same kind twice": {"healthCheckExprs: [{apiVersion: a.io/v1, kind: W, current: '" + ok + "'}, {apiVersion: a.io/v2, kind: W, current: 'true'}]",
			"spec.healthCheckExprs[1]: Duplicate value"},
		"Secrets": {"healthCheckExprs: [{apiVersion: v1, kind: Secret, current: 'has(data.token)'}]",
			"spec.healthCheckExprs[0].kind: Forbidden: Secrets are not judged by expressions"},
		"misspelt field": {"healthCheckExprs: [{apiVersion: a.io/v1, kind: W, current: '" + ok + "', Failed: 'true'}]",
			"spec.healthCheckExprs[0].Failed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(syncDoc(okSource + tc.body)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
