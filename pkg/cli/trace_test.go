package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/inventory"
)

func TestTrace(t *testing.T) {
	ctx, c := t.Context(), env.Client()
	ns, target := env.NewNamespace(t), env.NewNamespace(t)
	labels := appliedLabels(ns, "web")
	reader := "trace-reader-" + ns[len(ns)-6:]
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Labels: labels}},
		{ObjectMeta: metav1.ObjectMeta{Name: "dropped", Labels: labels}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: appliedLabels(ns, "gone")}},
	} {
		_, err := c.CoreV1().ConfigMaps(target).Create(ctx, cm, metav1.CreateOptions{})
		must(t, err)
	}
	_, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: reader, Labels: labels}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = c.RbacV1().ClusterRoles().Delete(t.Context(), reader, metav1.DeleteOptions{}) })

	rec := &inventory.Record{}
	rec.Succeed(inventory.Run{Revision: revWeb, Start: goldenNow.Add(-6 * 60e9), End: goldenNow.Add(-5 * 60e9), Message: "applied 2 objects"})
	seedSync(t, ns, syncFixture{
		name: "web", url: "https://git.example.com/web.git", path: "./deploy", schedule: "0 4 * * *", suspend: true,
		target: target, record: rec,
		entries: []inventory.Entry{
			entry("", "v1", "ConfigMap", "configmaps", target, "web-config"),
			entry("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "", reader),
		},
	})
	base := []string{"--kubeconfig", env.KubeconfigPath(), "--cache-dir", t.TempDir()}

	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
		errText  string
	}{
		{name: "applied and listed", args: []string{"trace", "configmap/web-config", "-n", target}, contains: []string{
			"Object:         ConfigMap/" + target + "/web-config\n",
			"Sync:           " + ns + "/web\n",
			"Source:         https://git.example.com/web.git (default branch main)\n",
			"Path:           ./deploy\n",
			"Revision:       " + revWeb + "\n",
			"Last Run:       Succeeded 5m ago: applied 2 objects\n",
			"In Inventory:   true\n",
		}},
		{name: "short name, two arguments", args: []string{"trace", "cm", "web-config", "-n", target}, contains: []string{"Sync:           " + ns + "/web\n"}},
		{name: "cluster-scoped, namespace ignored", args: []string{"trace", "clusterroles.rbac.authorization.k8s.io/" + reader, "-n", target},
			contains: []string{"Object:         ClusterRole.rbac.authorization.k8s.io/" + reader + "\n", "In Inventory:   true\n"}},
		{name: "the sync's own CronJob", args: []string{"trace", "cronjob", "gitsync-web", "-n", ns},
			contains: []string{"Sync:        " + ns + "/web (part of the sync itself, written by kubectl gitsync install)\n"}},
		{name: "not managed", args: []string{"trace", "configmap/plain", "-n", target}, code: ExitFailed,
			errText: "ConfigMap/" + target + "/plain is not managed by gitsync: it has no gitsync.io/sync label"},
		{name: "no longer in the inventory", args: []string{"trace", "configmap/dropped", "-n", target}, code: ExitFailed,
			contains: []string{"In Inventory:   false\n", "Problems:\n  the sync's inventory does not list it"},
			errText:  "the sync's inventory does not list it"},
		{name: "sync gone", args: []string{"trace", "configmap/orphan", "-n", target}, code: ExitFailed,
			errText: "sync " + ns + "/gone does not exist"},
		{name: "object missing", args: []string{"trace", "configmap/nope", "-n", target}, code: ExitError, errText: "not found"},
		{name: "unknown kind", args: []string{"trace", "frobnicator/x"}, code: ExitError, errText: `KIND "frobnicator"`},
		{name: "bad argument", args: []string{"trace", "web-config"}, code: ExitError, errText: "want KIND/NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := gitsyncCLI(ctx, append(tt.args, base...)...)
			wantExit(t, err, tt.code, tt.errText)
			for _, want := range tt.contains {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, _, err := gitsyncCLI(ctx, append([]string{"trace", "configmap/plain", "-n", target, "-o", "json"}, base...)...)
		wantExit(t, err, ExitFailed, "not managed")
		var res action.TraceResult
		must(t, json.Unmarshal([]byte(out), &res))
		if res.Managed || res.Object != "ConfigMap/"+target+"/plain" {
			t.Errorf("%+v", res)
		}
		out, _, err = gitsyncCLI(ctx, append([]string{"trace", "configmap/web-config", "-n", target, "-o", "json"}, base...)...)
		must(t, err)
		res = action.TraceResult{}
		must(t, json.Unmarshal([]byte(out), &res))
		want := action.TraceResult{Object: "ConfigMap/" + target + "/web-config", Managed: true, Role: action.TraceApplied, Sync: "web",
			SyncNamespace: ns, ApplySet: labels[inventory.LabelApplySetPartOf], InInventory: true,
			Source: action.SourceStatus{Kind: "git", URL: "https://git.example.com/web.git", Ref: "default branch main", Digest: "sha1:3f2a1b2c4d5e6f708192a3b4c5d6e7f801234567"}, Path: "./deploy",
			Revision: revWeb, Suspended: true}
		got := res
		got.LastRun = nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("trace (-want +got):\n%s", diff)
		}
		if res.LastRun == nil || res.LastRun.Result != inventory.ResultSucceeded {
			t.Errorf("lastRun %+v", res.LastRun)
		}
	})
}
