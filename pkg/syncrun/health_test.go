package syncrun

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// A Widget whose readiness is a Synced condition, which kstatus does not
// know: kstatus calls a Widget Current whatever its Synced condition says,
// so each case below fails when the run judges by kstatus.
const (
	syncedTrue    = "status.conditions.exists(c, c.type == 'Synced' && c.status == 'True')"
	syncedFalse   = "status.conditions.exists(c, c.type == 'Synced' && c.status == 'False')"
	syncedUnknown = "status.conditions.exists(c, c.type == 'Synced' && c.status == 'Unknown')"
)

// healthCRD creates a Widget CRD with a status subresource, in a group of
// its own, and returns the group.
func healthCRD(t *testing.T) string {
	t.Helper()
	group := fmt.Sprintf("health%d.example.com", time.Now().UnixNano()%1e9)
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, group)
	if err := env.ApplyYAML(t.Context(), "", crd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Dynamic().Resource(crdGVR).Delete(context.WithoutCancel(t.Context()), "widgets."+group, metav1.DeleteOptions{})
	})
	return group
}

func widget(group, name string) string {
	return fmt.Sprintf("apiVersion: %s/v1\nkind: Widget\nmetadata:\n  name: %s\nspec:\n  size: 3\n", group, name)
}

// setSynced creates the Widget as the repository has it (when missing) and
// sets its Synced condition through the status subresource.
func setSynced(t *testing.T, group, ns, name, status, message string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	if err := env.ApplyYAML(ctx, ns, widget(group, name)); err != nil {
		t.Error(err)
		return
	}
	res := env.Dynamic().Resource(widgetGVR(group)).Namespace(ns)
	w, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	w.Object["status"] = map[string]any{"conditions": []any{map[string]any{
		"type": "Synced", "status": status, "reason": "Test", "message": message,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}}}
	if _, err := res.UpdateStatus(ctx, w, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

func healthSpec(group, timeout, inProgress string) string {
	s := fmt.Sprintf("  wait: true\n  timeout: %s\n  healthCheckExprs:\n  - apiVersion: %s/v1\n    kind: Widget\n    current: %q\n    failed: %q\n",
		timeout, group, syncedTrue, syncedFalse)
	if inProgress != "" {
		s += fmt.Sprintf("    inProgress: %q\n", inProgress)
	}
	return s
}

// TestHealthCheckExprs: with wait, a Widget is judged by the sync's
// healthCheckExprs instead of kstatus, on the real API server; other kinds
// (a ConfigMap) keep kstatus.
func TestHealthCheckExprs(t *testing.T) {
	group := healthCRD(t)

	t.Run("current: the run waits until the expression is true", func(t *testing.T) {
		f := newFixture(t, gitserver.Options{})
		f.commit(map[string]string{"deploy/w.yaml": widget(group, "w1"), "deploy/cm.yaml": cm("plain", "1")})
		f.install(f.git.HTTPURL("app"), "", healthSpec(group, "1m", ""))
		// The Widget exists without status when the run starts; its
		// controller (this goroutine) reports Synced a little later.
		setAt := make(chan time.Time, 1)
		go func() {
			ctx := t.Context()
			_ = env.WaitFor(ctx, func(ctx context.Context) (bool, error) {
				_, err := env.Dynamic().Resource(widgetGVR(group)).Namespace(f.ns).Get(ctx, "w1", metav1.GetOptions{})
				return err == nil, nil
			})
			time.Sleep(1500 * time.Millisecond)
			setSynced(t, group, f.ns, "w1", "True", "in sync")
			setAt <- time.Now()
		}()
		res := f.run()
		done := time.Now()
		f.mustSucceed(res)
		select {
		case at := <-setAt:
			if done.Before(at) {
				t.Errorf("the run ended %v before the Widget was Synced: it did not wait for the expression", at.Sub(done))
			}
		default:
			t.Error("the run ended before the Widget was Synced: it did not wait for the expression")
		}
	})

	t.Run("failed: the run fails at once naming the object and the expression", func(t *testing.T) {
		f := newFixture(t, gitserver.Options{})
		f.commit(map[string]string{"deploy/w.yaml": widget(group, "w2")})
		setSynced(t, group, f.ns, "w2", "False", "cannot sync")
		f.install(f.git.HTTPURL("app"), "", healthSpec(group, "1m", ""))
		start := time.Now()
		res := f.run()
		if res.Outcome != Failed {
			t.Fatalf("outcome %s (%v), want Failed", res.Outcome, res.Err)
		}
		want := fmt.Sprintf("Widget.%s/%s/w2: Failed: healthCheckExprs failed is true: %s", group, f.ns, syncedFalse)
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error %q\nwant it to contain %q", res.Err, want)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the run took %v: a failed expression must end the wait at once, not at the timeout", d)
		}
	})

	t.Run("inProgress and evaluation errors: not Current at the timeout", func(t *testing.T) {
		f := newFixture(t, gitserver.Options{})
		f.commit(map[string]string{"deploy/w.yaml": widget(group, "w3") + "---\n" + widget(group, "w4")})
		setSynced(t, group, f.ns, "w3", "Unknown", "syncing")
		// w4 has no status at all: status.conditions cannot be read.
		f.install(f.git.HTTPURL("app"), "", healthSpec(group, "4s", syncedUnknown))
		res := f.run()
		if res.Outcome != Failed {
			t.Fatalf("outcome %s (%v), want Failed", res.Outcome, res.Err)
		}
		for _, want := range []string{
			fmt.Sprintf("Widget.%s/%s/w3: not Current after 4s: InProgress: healthCheckExprs inProgress is true: %s", group, f.ns, syncedUnknown),
			fmt.Sprintf("Widget.%s/%s/w4: not Current: healthCheckExprs inProgress %q: no such attribute(s): status", group, f.ns, syncedUnknown),
		} {
			if !strings.Contains(res.Err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", res.Err, want)
			}
		}
	})
}

// TestFluxHealthCheckExprs: a Flux Kustomization's healthCheckExprs in a
// synced repository judge its Widgets: the unit whose Widget is Synced
// succeeds, the one whose Widget is not fails naming the Widget and the
// expression; the ConfigMaps of both stay with kstatus.
func TestFluxHealthCheckExprs(t *testing.T) {
	group := healthCRD(t)
	exprs := fmt.Sprintf("  wait: true\n  healthCheckExprs:\n  - apiVersion: %s/v1\n    kind: Widget\n    current: %q\n    failed: %q\n",
		group, syncedTrue, syncedFalse)
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 kustomization("ready", "./ready", exprs) + kustomization("stuck", "./stuck", exprs),
		"ready/w.yaml":                             widget(group, "w-ready"),
		"ready/cm.yaml":                            cm("ready", "1"),
		"stuck/w.yaml":                             widget(group, "w-stuck"),
		"stuck/cm.yaml":                            cm("stuck", "1"),
		// A HelmRelease (v2, where Flux has the field) whose chart holds a
		// Widget that is not Synced.
		"clusters/test/release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: chart, namespace: NS}
spec:
  interval: 5m
  chart:
    spec:
      chart: ./charts/w
      sourceRef: {kind: GitRepository, name: NS}
` + exprs[len("  wait: true\n"):],
		"charts/w/Chart.yaml":       "apiVersion: v2\nname: w\nversion: 0.1.0\n",
		"charts/w/templates/w.yaml": strings.Replace(widget(group, "w-chart"), "w-chart", "{{ .Release.Name }}-w", 1),
	})
	setSynced(t, group, f.ns, "w-ready", "True", "in sync")
	setSynced(t, group, f.ns, "w-stuck", "False", "cannot sync")
	setSynced(t, group, f.ns, "chart-w", "False", "cannot sync")
	res := f.run()
	if res.Outcome != Failed {
		t.Fatalf("run %s (%v), want Failed", res.Outcome, res.Err)
	}
	got := units(res)
	ks := func(name string) string { return "Kustomization/" + f.ns + "/" + name }
	if u := got[ks("ready")]; u.Outcome != Succeeded {
		t.Errorf("ready: %s (%s), want Succeeded", u.Outcome, u.Message)
	}
	want := fmt.Sprintf("Widget.%s/%s/w-stuck: Failed: healthCheckExprs failed is true: %s", group, f.ns, syncedFalse)
	if u := got[ks("stuck")]; u.Outcome != Failed || !strings.Contains(u.Message, want) {
		t.Errorf("stuck: %s (%s), want Failed with %q", u.Outcome, u.Message, want)
	}
	want = fmt.Sprintf("Widget.%s/%s/chart-w: Failed: healthCheckExprs failed is true: %s", group, f.ns, syncedFalse)
	if u := got["HelmRelease/"+f.ns+"/chart"]; u.Outcome != Failed || !strings.Contains(u.Message, want) {
		t.Errorf("HelmRelease: %s (%s), want Failed with %q", u.Outcome, u.Message, want)
	}
	f.mustHave("ready", "stuck")
}
