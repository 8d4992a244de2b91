package inventory

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestUnitState: a unit's Store (Store.Labels) labels its inventory and
// history ConfigMaps with the sync they belong to; the sync's Record keeps
// its units, each message cut to MaxUnitMessage; a run whose units failed
// records the sync's own success apart.
func TestUnitState(t *testing.T) {
	ns := env.NewNamespace(t)
	ctx := t.Context()
	unit := &Store{Client: env.Client(), Namespace: ns, Sync: "web.ks.apps.podinfo", Labels: map[string]string{LabelUnitOf: "web", LabelSync: "not-this"}}
	inv, err := unit.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if _, err := unit.AppendHistory(ctx, History{Revision: "r1", Time: time.Now(), Result: ResultSucceeded}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{InventoryName(unit.Sync), HistoryName(unit.Sync, 1)} {
		cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Labels[LabelUnitOf] != "web" || cm.Labels[LabelSync] != unit.Sync {
			t.Errorf("%s: labels %v; want %s=web and the Store's own %s", name, cm.Labels, LabelUnitOf, LabelSync)
		}
	}

	sync := &Store{Client: env.Client(), Namespace: ns, Sync: "web"}
	inv, err = sync.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", MaxUnitMessage*2)
	inv.Record.Units = []UnitRecord{{Kind: "Kustomization", Namespace: "apps", Name: "podinfo", State: unit.Sync, Result: ResultFailed, Message: long}}
	inv.Record.SucceedExceptUnits(Run{Revision: "main@sha1:1", SetDigest: "sha256:s"}, 1)
	if err := sync.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if len(inv.Record.Units[0].Message) != len(long) {
		t.Error("Save changed the caller's record")
	}
	got, err := sync.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := got.Record
	if len(r.Units) != 1 || len(r.Units[0].Message) > MaxUnitMessage || !strings.HasSuffix(r.Units[0].Message, truncatedMark) {
		t.Errorf("units %+v", r.Units)
	}
	if r.LastRun.Result != ResultFailed || r.LastRun.FailedUnits != 1 || r.LastAppliedRevision != "main@sha1:1" || !r.SelfSucceeded() {
		t.Errorf("record %+v", r)
	}
	r.Fail(Run{Revision: "main@sha1:2"})
	if r.SelfSucceeded() || r.LastAppliedRevision != "main@sha1:1" {
		t.Errorf("after a failed run: %+v", r)
	}
}
