package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// Revisions the unit fixtures record.
const (
	revFleet   = "main@sha1:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
	revPodinfo = "6.5.4@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// unitFixture is a unit as a run of sync fleet leaves it: its record in the
// sync's record, its own inventory and history.
type unitFixture struct {
	rec     inventory.UnitRecord
	entries []inventory.Entry
	history []inventory.History
}

// seedUnits writes sync fleet into a new namespace as a run of a Flux
// repository leaves it (clusters/staging: infrastructure, then apps, whose
// render holds a HelmRelease; a failed infra-configs skips apps-extra), a
// Lease held by a running Job, and a ConfigMap the podinfo HelmRelease
// applied. It returns the namespace and the target namespace of the units'
// objects.
func seedUnits(t *testing.T) (ns, target string) {
	t.Helper()
	ctx, c := t.Context(), env.Client()
	ns, target = env.NewNamespace(t), env.NewNamespace(t)
	at := func(d time.Duration) time.Time { return goldenNow.Add(-d) }
	ks := func(namespace, name string) flux.ID {
		return flux.ID{Kind: flux.KindKustomization, Namespace: namespace, Name: name}
	}
	hr := flux.ID{Kind: flux.KindHelmRelease, Namespace: target, Name: "podinfo"}
	unit := func(id flux.ID, parent string, res inventory.Result, rev string, objects int, start, end time.Duration, msg string) inventory.UnitRecord {
		return inventory.UnitRecord{Kind: id.Kind, Namespace: id.Namespace, Name: id.Name, Parent: parent,
			State: flux.StateName("fleet", id), Source: "GitRepository/flux-system/flux-system", Result: res,
			Revision: rev, Objects: objects, Start: at(start), End: at(end), Message: msg, Rendered: true,
			DeletionPolicy: inventory.DeletionDelete}
	}
	infra := unit(ks("flux-system", "infrastructure"), "", inventory.ResultSucceeded, revFleet, 2, 9*time.Minute, 8*time.Minute+50*time.Second,
		"revision "+revFleet+": 2 objects (2 created)")
	configs := unit(ks("flux-system", "infra-configs"), "", inventory.ResultFailed, revFleet, 0, 8*time.Minute+50*time.Second, 8*time.Minute+40*time.Second,
		"health check: Deployment/cert-manager/cert-manager: timed out")
	configs.DependsOn = []string{"Kustomization/flux-system/infrastructure"}
	extra := unit(ks("flux-system", "apps-extra"), "", inventory.ResultSkipped, "", 0, 0, 0,
		"dependency Kustomization/flux-system/infra-configs did not succeed")
	extra.DependsOn, extra.BlockedBy, extra.Start, extra.End, extra.Rendered = []string{"Kustomization/flux-system/infra-configs"}, "Kustomization/flux-system/infra-configs", time.Time{}, time.Time{}, false
	apps := unit(ks("flux-system", "apps"), "", inventory.ResultSucceeded, revFleet, 1, 8*time.Minute+50*time.Second, 8*time.Minute+45*time.Second,
		"revision "+revFleet+": 1 object (1 created)")
	apps.DependsOn = []string{"Kustomization/flux-system/infrastructure"}
	podinfo := unit(hr, "Kustomization/flux-system/apps", inventory.ResultSucceeded, revPodinfo, 1, 8*time.Minute+45*time.Second, 8*time.Minute+30*time.Second,
		"revision "+revPodinfo+": 1 object (1 created)")
	podinfo.Source = "HelmRepository/" + target + "/podinfo"

	units := []unitFixture{
		{rec: infra, entries: []inventory.Entry{
			entry("", "v1", "Namespace", "namespaces", "", target),
			entry("", "v1", "ConfigMap", "configmaps", target, "infra-settings"),
		}, history: []inventory.History{{Revision: revFleet, Time: at(8*time.Minute + 50*time.Second), Result: inventory.ResultSucceeded,
			Message: infra.Message, ObjectCount: 2, Duration: metav1.Duration{Duration: 10 * time.Second}, Counts: map[string]int{"created": 2}}}},
		{rec: configs},
		{rec: extra},
		{rec: apps, entries: []inventory.Entry{entry("", "v1", "ConfigMap", "configmaps", target, "apps-settings")}},
		{rec: podinfo, entries: []inventory.Entry{entry("", "v1", "ConfigMap", "configmaps", target, "podinfo")},
			history: []inventory.History{
				{Revision: "6.5.3", Time: at(48 * time.Hour), Result: inventory.ResultSucceeded, Message: "revision 6.5.3: 1 object (1 created)",
					ObjectCount: 1, Duration: metav1.Duration{Duration: 3 * time.Second}, Counts: map[string]int{"created": 1}},
				{Revision: revPodinfo, Time: at(8*time.Minute + 30*time.Second), Result: inventory.ResultSucceeded, Message: podinfo.Message,
					ObjectCount: 1, Duration: metav1.Duration{Duration: 15 * time.Second}, Counts: map[string]int{"configured": 1}},
			}},
	}
	rec := &inventory.Record{}
	rec.SucceedExceptUnits(inventory.Run{Revision: revFleet, Start: at(9*time.Minute + 5*time.Second), End: at(8 * time.Minute),
		Duration: metav1.Duration{Duration: 65 * time.Second}, Message: "2 of 5 units did not succeed", Counts: map[string]int{"created": 5}}, 2)
	for _, u := range units {
		rec.Units = append(rec.Units, u.rec)
	}
	seedSync(t, ns, syncFixture{name: "fleet", url: "https://git.example.com/fleet.git", ref: spec.GitRef{Branch: "main"},
		path: "./clusters/staging", schedule: "45 2 * * *", suspend: true, record: rec})
	for _, u := range units {
		store := &inventory.Store{Client: c, Namespace: ns, Sync: u.rec.State, Labels: map[string]string{inventory.LabelUnitOf: "fleet"}}
		r := inventory.Record{}
		if u.rec.Result == inventory.ResultSucceeded {
			r.Succeed(inventory.Run{Revision: u.rec.Revision, Start: u.rec.Start, End: u.rec.End, Message: u.rec.Message})
		}
		must(t, store.Save(ctx, &inventory.Inventory{Entries: u.entries, Record: r}))
		for _, h := range u.history {
			_, err := store.AppendHistory(ctx, h)
			must(t, err)
		}
	}

	// The object the HelmRelease applied, labelled as a unit labels it.
	state := flux.StateName("fleet", hr)
	labels := appliedLabels(ns, "fleet")
	labels[inventory.LabelApplySetPartOf] = inventory.ApplySetID(inventory.InventoryName(state), ns)
	labels[syncrun.LabelUnit] = state
	for name, l := range map[string]map[string]string{"podinfo": labels, "infra-settings": labels} {
		_, err := c.CoreV1().ConfigMaps(target).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
		must(t, err)
	}

	// A run in progress holds the Lease.
	_, err := c.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: names.Lease("fleet")},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("gitsync-fleet-29012345-abcde"), LeaseDurationSeconds: ptr.To[int32](120),
			AcquireTime: &metav1.MicroTime{Time: at(40 * time.Second)}, RenewTime: &metav1.MicroTime{Time: at(10 * time.Second)}},
	}, metav1.CreateOptions{})
	must(t, err)
	return ns, target
}

func TestUnitsGolden(t *testing.T) {
	ns, target := seedUnits(t)
	ctx := t.Context()
	// Same-length stand-ins keep table columns where they are.
	state := flux.StateName("fleet", flux.ID{Kind: flux.KindHelmRelease, Namespace: target, Name: "podinfo"})
	applySet := inventory.ApplySetID(inventory.InventoryName(state), ns)
	stable := func(s string) string {
		// The ApplySet id hashes the namespace's random name.
		s = strings.ReplaceAll(s, applySet, "applyset-(id of ConfigMap gitsync-"+state+"-inventory)")
		s = strings.ReplaceAll(s, ns, ns[:len(ns)-6]+"xxxxxx")
		return strings.ReplaceAll(s, target, target[:len(target)-6]+"yyyyyy")
	}
	podinfo := "HelmRelease/" + target + "/podinfo"
	tests := []struct {
		name, golden string
		args         []string
	}{
		{"table", "testdata/units/table.txt", []string{"status"}},
		{"wide", "testdata/units/wide.txt", []string{"status", "-o", "wide"}},
		{"detail", "testdata/units/fleet.txt", []string{"status", "fleet"}},
		{"tree", "testdata/units/tree.txt", []string{"tree", "fleet"}},
		{"trace", "testdata/units/trace.txt", []string{"trace", "configmap/podinfo", "-n", target}},
		{"history of a unit", "testdata/units/history.txt", []string{"history", "fleet", "--unit", podinfo}},
		{"history of a unit, abbreviated kind", "testdata/units/history.txt", []string{"history", "fleet", "--unit", "hr/" + target + "/podinfo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--kubeconfig", env.KubeconfigPath())
			if !strings.Contains(strings.Join(tt.args, " "), " -n ") {
				args = append(args, "-n", ns)
			}
			out, errOut, err := gitsyncCLI(ctx, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tt.golden, stable(out))
		})
	}

	t.Run("json carries the units and the lease", func(t *testing.T) {
		out, _, err := gitsyncCLI(ctx, "status", "fleet", "-o", "json", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		must(t, err)
		var st action.SyncStatus
		must(t, json.Unmarshal([]byte(out), &st))
		if len(st.Units) != 5 || st.Units[2].BlockedBy != "Kustomization/flux-system/infra-configs" || st.Units[4].Parent != "Kustomization/flux-system/apps" {
			t.Errorf("units %+v", st.Units)
		}
		if st.Lease == nil || !st.Lease.Held || st.Lease.Holder != "gitsync-fleet-29012345-abcde" || !st.Lease.Expires.Equal(goldenNow.Add(110*time.Second)) {
			t.Errorf("lease %+v", st.Lease)
		}
	})

	t.Run("an expired lease says so", func(t *testing.T) {
		// The run died an hour ago without releasing the Lease.
		leases := env.Client().CoordinationV1().Leases(ns)
		l, err := leases.Get(ctx, names.Lease("fleet"), metav1.GetOptions{})
		must(t, err)
		l.Spec.AcquireTime = &metav1.MicroTime{Time: goldenNow.Add(-time.Hour)}
		l.Spec.RenewTime = &metav1.MicroTime{Time: goldenNow.Add(-time.Hour)}
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		must(t, err)
		out, _, err := gitsyncCLI(ctx, "status", "fleet", "--kubeconfig", env.KubeconfigPath(), "-n", ns)
		must(t, err)
		if !strings.Contains(out, "Lease:") || !strings.Contains(out, "expired 58m ago (held by gitsync-fleet-29012345-abcde") {
			t.Errorf("no expired lease in\n%s", out)
		}
	})

	t.Run("trace checks the unit's inventory", func(t *testing.T) {
		// infra-settings carries podinfo's labels but is in another unit's
		// inventory: podinfo's does not list it.
		_, _, err := gitsyncCLI(ctx, "trace", "configmap/infra-settings", "-n", target, "--kubeconfig", env.KubeconfigPath())
		wantExit(t, err, ExitFailed, "the unit's inventory does not list it")
	})

	t.Run("unknown unit lists the known ones", func(t *testing.T) {
		for _, args := range [][]string{
			{"history", "fleet", "--unit", "Kustomization/flux-system/nope"},
			{"build", "fleet", "--unit", "Kustomization/flux-system/nope"},
			{"diff", "fleet", "--unit", "ks/flux-system/nope"},
		} {
			_, _, err := gitsyncCLI(ctx, append(args, "--kubeconfig", env.KubeconfigPath(), "-n", ns)...)
			wantExit(t, err, ExitError, "unit Kustomization/flux-system/nope: no such unit; the sync's units are: "+
				podinfo+", Kustomization/flux-system/apps, Kustomization/flux-system/apps-extra, Kustomization/flux-system/infra-configs, Kustomization/flux-system/infrastructure")
		}
	})

	t.Run("--unit completes the recorded units", func(t *testing.T) {
		for _, cmd := range []string{"history", "build", "diff"} {
			out, _, err := gitsyncCLI(ctx, "__complete", cmd, "fleet", "--kubeconfig", env.KubeconfigPath(), "-n", ns, "--unit", "Kustomization/flux-system/infra")
			must(t, err)
			if got := strings.Fields(out); len(got) < 3 || got[0] != "Kustomization/flux-system/infra-configs" || got[1] != "Kustomization/flux-system/infrastructure" || got[2] != ":4" {
				t.Errorf("%s: completion %q", cmd, out)
			}
		}
	})

	t.Run("bad --unit", func(t *testing.T) {
		for _, u := range []string{"apps", "GitRepository/flux-system/flux-system", "Kustomization//apps"} {
			_, _, err := gitsyncCLI(ctx, "history", "fleet", "--unit", u, "--kubeconfig", env.KubeconfigPath(), "-n", ns)
			wantExit(t, err, ExitError, "--unit: ")
		}
	})
}

func TestUnitTreeOrder(t *testing.T) {
	units := []inventory.UnitRecord{
		{Kind: "HelmRelease", Namespace: "a", Name: "x", Parent: "Kustomization/f/apps"},
		{Kind: "Kustomization", Namespace: "f", Name: "infra"},
		{Kind: "Kustomization", Namespace: "f", Name: "apps"},
		{Kind: "HelmRelease", Namespace: "a", Name: "orphan", Parent: "Kustomization/f/gone"},
		{Kind: "HelmRelease", Namespace: "a", Name: "y", Parent: "Kustomization/f/apps"},
	}
	var got []string
	for _, n := range unitRecordTree(units, "") {
		got = append(got, n.prefix+action.UnitName(units[n.index]))
	}
	want := []string{
		"├── Kustomization/f/infra",
		"├── Kustomization/f/apps",
		"│   ├── HelmRelease/a/x",
		"│   └── HelmRelease/a/y",
		"└── HelmRelease/a/orphan",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fluxFiles is a small Flux repository: the sync's own GitRepository, and
// Kustomizations infra and apps (apps after infra) reading it.
func fluxFiles(ns, url string) map[string]string {
	ks := func(name, path, dependsOn string) string {
		doc := fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %s
  namespace: %s
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: %s
  prune: true
`, name, ns, path)
		if dependsOn != "" {
			doc += "  dependsOn:\n  - name: " + dependsOn + "\n"
		}
		return doc
	}
	return map[string]string{
		"deploy/source.yaml": fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: %s
spec:
  interval: 1m
  url: %s
  ref:
    branch: main
`, ns, url),
		"deploy/infra.yaml": ks("infra", "./infra", ""),
		"deploy/apps.yaml":  ks("apps", "./apps", "infra"),
		"infra/cm.yaml":     configMapYAML("infra-config", "1"),
		"apps/cm.yaml":      configMapYAML("app-config", "1"),
		"apps/extra.yaml":   configMapYAML("app-extra", "1"),
	}
}

// TestUnitsAfterRealRun runs a Flux repository served by the test Git
// server, then reads what the run recorded with status, tree, trace,
// history, build and diff.
func TestUnitsAfterRealRun(t *testing.T) {
	f := newPipelineFixture(t)
	f.commit(fluxFiles(f.ns, f.git.HTTPURL("app")))
	// The sync itself does not prune, its units do: diff --unit follows
	// the unit's prune.
	f.installCronJob(f.installSpec("  prune: false\n"))
	ctx := t.Context()
	out, logs, err := f.cli(ctx, "run", "app", "--local")
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out, logs)
	}
	apps := "Kustomization/" + f.ns + "/apps"
	infra := "Kustomization/" + f.ns + "/infra"

	out, _, err = f.cli(ctx, "status")
	must(t, err)
	if !strings.Contains(out, "── "+infra+" ") || !strings.Contains(out, "── "+apps+" ") {
		t.Errorf("status does not nest the units:\n%s", out)
	}
	out, _, err = f.cli(ctx, "status", "app")
	must(t, err)
	if !regexp.MustCompile(`── ` + apps + `\s+main@sha1:\w+\s+Succeeded\s+true\s+2\s+\S+ ago\s+` + infra).MatchString(out) {
		t.Errorf("status app does not show apps waiting on infra:\n%s", out)
	}

	out, _, err = f.cli(ctx, "tree", "app")
	must(t, err)
	if !strings.Contains(out, apps+" (Succeeded, main@sha1:") || !strings.Contains(out, "├── app-config\n") || !strings.Contains(out, "└── infra-config\n") {
		t.Errorf("tree:\n%s", out)
	}

	out, _, err = f.cli(ctx, "trace", "configmap/app-config")
	must(t, err)
	if !strings.Contains(out, "Unit:           "+apps+" (Succeeded at main@sha1:") || !strings.Contains(out, "In Inventory:   true") {
		t.Errorf("trace:\n%s", out)
	}

	out, _, err = f.cli(ctx, "history", "app", "--unit", "ks/"+f.ns+"/apps")
	must(t, err)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "Succeeded") || !strings.Contains(lines[1], "  2  ") {
		t.Errorf("history --unit:\n%s", out)
	}

	out, _, err = f.cli(ctx, "build", "app", "--unit", apps)
	must(t, err)
	if !strings.Contains(out, "name: app-config") || !strings.Contains(out, "name: app-extra") || strings.Contains(out, "infra-config") || !strings.Contains(out, syncrun.LabelUnit+": "+flux.StateName("app", flux.ID{Kind: flux.KindKustomization, Namespace: f.ns, Name: "apps"})) {
		t.Errorf("build --unit:\n%s", out)
	}

	// A change in Git shows in the unit's diff, and only there; the
	// unit's prune (true) decides that a removed object shows as pruned.
	f.commit(map[string]string{"apps/cm.yaml": configMapYAML("app-config", "2")})
	f.remove("apps/extra.yaml")
	out, _, err = f.cli(ctx, "diff", "app", "--unit", apps)
	wantExit(t, err, ExitFailed, "")
	if !strings.Contains(out, `-  value: "1"`) || !strings.Contains(out, `+  value: "2"`) {
		t.Errorf("diff --unit:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^-  name: app-extra$`).MatchString(out) {
		t.Errorf("diff --unit does not show app-extra pruned:\n%s", out)
	}
	_, _, err = f.cli(ctx, "diff", "app", "--unit", infra)
	wantExit(t, err, ExitOK, "")

	_, _, err = f.cli(ctx, "build", "app", "--unit", "HelmRelease/"+f.ns+"/nope")
	wantExit(t, err, ExitError, "no such unit; the sync's units are: "+apps+", "+infra)
}

// TestUnitOffline renders one unit of a local Flux tree without a cluster.
func TestUnitOffline(t *testing.T) {
	dir := t.TempDir()
	files := fluxFiles("fs", "https://git.example.com/fleet.git")
	files[".git/HEAD"] = "ref: refs/heads/main\n"
	files["sync.yaml"] = "apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: fleet, namespace: fs}\n" +
		"spec:\n  source:\n    git:\n      url: https://git.example.com/fleet.git\n      ref: {branch: main}\n  path: ./deploy\n"
	for name, content := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
	args := []string{"build", "-f", filepath.Join(dir, "sync.yaml"), "--path", filepath.Join(dir, "deploy"), "--offline"}
	out, errOut, err := cliWithInput(t.Context(), "", append(args, "--unit", "ks/fs/apps")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "name: app-config") || !strings.Contains(out, syncrun.LabelUnit+": fleet.ks.fs.apps") || strings.Contains(out, "infra-config") {
		t.Errorf("build --offline --unit:\n%s", out)
	}
	_, _, err = cliWithInput(t.Context(), "", append(args, "--unit", "HelmRelease/fs/nope")...)
	wantExit(t, err, ExitError, "HelmRelease/fs/nope: no unit of the sync's tree renders it; its units are: Kustomization/fs/apps, Kustomization/fs/infra")
}
