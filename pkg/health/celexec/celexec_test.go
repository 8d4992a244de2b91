package celexec_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitsync/gitsync/pkg/health/celeval"
	"github.com/gitsync/gitsync/pkg/health/celexec"
	"github.com/gitsync/gitsync/pkg/helm/helmexec"
)

// TestSameAsInProcess compiles and evaluates expressions in the child
// program (cmd/sync-job-helm cel) and in process, and wants the same
// results and the same error texts, also for integers, which travel as
// JSON; then the child is killed and the next call starts another.
func TestSameAsInProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), helmexec.Program)
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", helmexec.Program, err, out)
	}
	child := celexec.New(bin)
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&struct {
		Status map[string]any `json:"status"`
		Spec   map[string]any `json:"spec"`
	}{
		Status: map[string]any{"replicas": int64(3), "ratio": 0.5, "phase": "Ready", "conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
		Spec:   map[string]any{"replicas": int64(3), "name": "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"status.replicas == spec.replicas",
		"status.replicas == 3",
		"string(status.replicas) == '3'",
		"type(status.replicas) == int",
		"status.ratio < 1.0",
		"status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
		"status.phase == 'Failed'",
		"status.missing == 1",   // no such key: an evaluation error
		"status.phase +",        // a syntax error
		"1 + 1",                 // not a bool
		"size(status.phase, 2)", // no such overload
	} {
		want, wantErr := celeval.Engine{}.Compile(src)
		got, gotErr := child.Compile(src)
		if errText(wantErr) != errText(gotErr) {
			t.Errorf("Compile(%q): child error %q, in process %q", src, errText(gotErr), errText(wantErr))
			continue
		}
		if wantErr != nil {
			continue
		}
		w, wErr := want(t.Context(), obj)
		g, gErr := got(t.Context(), obj)
		if w != g || errText(wErr) != errText(gErr) {
			t.Errorf("%q: child %v, %q; in process %v, %q", src, g, errText(gErr), w, errText(wErr))
		}
	}

	eval, err := child.Compile("status.phase == 'Ready'")
	if err != nil {
		t.Fatal(err)
	}
	// A cancelled evaluation stops the child; the next one starts another.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := eval(ctx, obj); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled evaluation: %v, want context canceled", err)
	}
	if ok, err := eval(t.Context(), obj); !ok || err != nil {
		t.Errorf("after a restart: %v, %v; want true", ok, err)
	}

	// A child that crashes or answers garbage is an error naming it.
	for _, tc := range []struct{ name, script, want string }{
		{"crash", "read line; echo 'panic: boom' >&2; exit 2", "stderr: panic: boom"},
		{"garbage", "read line; echo not-json; sleep 5", "invalid output"},
		{"missing", "", "no such program"},
	} {
		p := filepath.Join(t.TempDir(), helmexec.Program)
		if tc.script != "" {
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_, err := celexec.New(p).Compile("true")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v; want an error naming %s and %q", tc.name, err, p, tc.want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BenchmarkChild measures sync-job's cost of CEL in the child: the first
// compile (the child's start, CEL's environment) and each evaluation of an
// expression on a Certificate-like object (JSON both ways).
func BenchmarkChild(b *testing.B) {
	bin := filepath.Join(b.TempDir(), helmexec.Program)
	if out, err := exec.CommandContext(b.Context(), "go", "build", "-o", bin, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		b.Fatalf("building %s: %v\n%s", helmexec.Program, err, out)
	}
	obj := map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "c", "namespace": "ns", "generation": int64(2)},
		"status": map[string]any{"observedGeneration": int64(2), "conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "message": "ok"}}}}
	const src = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
	b.Run("start+compile", func(b *testing.B) {
		for b.Loop() {
			if _, err := celexec.New(bin).Compile(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eval", func(b *testing.B) {
		eval, err := celexec.New(bin).Compile(src)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if ok, err := eval(b.Context(), obj); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
