package health

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func object(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	// As client-go decodes it: integers are int64.
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const (
	issuing = "status.conditions.exists(e, e.type == 'Issuing' && e.status == 'True')"
	notRdy  = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')"
	ready   = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
)

// TestEvaluate follows Flux's RFC 0009: observedGeneration first, then
// inProgress, failed, current in that order, else InProgress.
func TestEvaluate(t *testing.T) {
	cert := func(status string) string {
		return "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c, generation: 2}\nstatus:\n" + status
	}
	tests := []struct {
		name       string
		inProgress string
		failed     string
		obj        string
		want       status.Status
		wantMsg    string
		wantErr    string
	}{
		{name: "current", inProgress: issuing, failed: notRdy, obj: cert("  conditions: [{type: Ready, status: 'True'}]"),
			want: status.CurrentStatus, wantMsg: "healthCheckExprs current is true: " + ready},
		{name: "failed", inProgress: issuing, failed: notRdy, obj: cert("  conditions: [{type: Ready, status: 'False'}]"),
			want: status.FailedStatus, wantMsg: "healthCheckExprs failed is true: " + notRdy},
		{name: "inProgress wins over failed and current", inProgress: issuing, failed: notRdy,
			obj:  cert("  conditions: [{type: Issuing, status: 'True'}, {type: Ready, status: 'False'}]"),
			want: status.InProgressStatus, wantMsg: "healthCheckExprs inProgress is true: " + issuing},
		{name: "failed wins over current", failed: "status.conditions.exists(e, e.type == 'Degraded')",
			obj:  cert("  conditions: [{type: Degraded, status: 'True'}, {type: Ready, status: 'True'}]"),
			want: status.FailedStatus},
		{name: "none true is in progress", obj: cert("  conditions: [{type: Ready, status: 'Unknown'}]"),
			want: status.InProgressStatus, wantMsg: "healthCheckExprs current is false: " + ready},
		{name: "an older observedGeneration is in progress before any expression", failed: notRdy,
			obj:  cert("  observedGeneration: 1\n  conditions: [{type: Ready, status: 'False'}]"),
			want: status.InProgressStatus, wantMsg: "status.observedGeneration 1 is not metadata.generation 2"},
		{name: "the observed generation lets the expressions decide", obj: cert("  observedGeneration: 2\n  conditions: [{type: Ready, status: 'True'}]"),
			want: status.CurrentStatus},
		{name: "a missing field is an error", obj: "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\n",
			wantErr: "healthCheckExprs current \"" + ready + "\": no such attribute(s): status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCheck(ready, tt.inProgress, tt.failed)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Evaluate(t.Context(), object(t, tt.obj))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.want || (tt.wantMsg != "" && res.Message != tt.wantMsg) {
				t.Errorf("got %s %q, want %s %q", res.Status, res.Message, tt.want, tt.wantMsg)
			}
		})
	}
}

// TestJudge: a check covers its group and kind in every version; other
// kinds are left to kstatus.
func TestJudge(t *testing.T) {
	c, err := NewCheck("data.ready == 'yes'", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cs := Checks{schema.GroupKind{Group: "example.com", Kind: "Widget"}: c, schema.GroupKind{Kind: "Secret"}: c}
	for _, tt := range []struct {
		doc    string
		ok     bool
		status status.Status
	}{
		{"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\ndata: {ready: 'yes'}\n", true, status.CurrentStatus},
		{"apiVersion: example.com/v2beta1\nkind: Widget\nmetadata: {name: w}\ndata: {ready: 'no'}\n", true, status.InProgressStatus},
		{"apiVersion: other.com/v1\nkind: Widget\nmetadata: {name: w}\n", false, ""},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w}\n", false, ""},
		// Even with an entry (the spec refuses one), a Secret stays with kstatus.
		{"apiVersion: v1\nkind: Secret\nmetadata: {name: w}\ndata: {ready: eWVz}\n", false, ""},
	} {
		res, ok, err := cs.Judge(t.Context(), object(t, tt.doc))
		if err != nil || ok != tt.ok || (ok && res.Status != tt.status) {
			t.Errorf("%s: %v %v %v, want %v %s", strings.Split(tt.doc, "\n")[0], res, ok, err, tt.ok, tt.status)
		}
	}
}

func TestCompile(t *testing.T) {
	for src, wantErr := range map[string]string{
		ready: "",
		"has(status.phase) && status.phase == 'Running'":              "",
		"status.?phase.orValue('') == 'Running'":                      "",
		"base64.decode(data.key) == b'x'":                             "",
		"sets.contains([1, 2], [1])":                                  "",
		"status.conditions.exists(c, c.type.lowerAscii() == 'ready')": "",
		"":                                 "empty expression",
		"status.phase ==":                  "ERROR: <input>:1:16: Syntax error",
		"status.phase":                     "", // dyn: only evaluation can tell
		"'a' + 'b'":                        "the result is string, not a bool",
		"status.conditions.exist(c, true)": "ERROR: <input>:1:24: undeclared reference to 'exist' (in container '')",
		"nosuchfn(status)":                 "ERROR: <input>:1:9: undeclared reference to 'nosuchfn'",
	} {
		_, err := Compile(src)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%q: %v", src, err)
		case wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), wantErr)):
			t.Errorf("%q: error %v, want %q", src, err, wantErr)
		}
	}
	// A result that is not a bool at evaluation is an error, not false.
	e, err := Compile("status.phase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Eval(t.Context(), map[string]any{"status": map[string]any{"phase": "Running"}}); err == nil ||
		err.Error() != "the result is string, not a bool" {
		t.Errorf("string result: %v", err)
	}
	// Compiled once: the same text gives the same program.
	if again, _ := Compile("status.phase"); again != e {
		t.Error("an expression was compiled twice")
	}
}
