package inventory

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/tests/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(cluster.Run(m, cluster.Options{}, &env)) }

func newStore(t testing.TB) *Store {
	return &Store{Client: env.Client(), Namespace: env.NewNamespace(t), Sync: "web", Tooling: "gitsync/v0.1.0"}
}

func TestSaveLoadLive(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()

	inv, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inv.ResourceVersion != "" || len(inv.Entries) != 0 {
		t.Fatalf("Load before the first Save = %+v, want an empty inventory", inv)
	}

	inv.Entries = []Entry{
		{ID: object.ID{Group: "apps", Kind: "Deployment", Namespace: s.Namespace, Name: "frontend"}, Version: "v1", Resource: "deployments", Namespaced: true, Fingerprint: "3f2a9c0d1e2b4a5c"},
		{ID: object.ID{Kind: "ConfigMap", Namespace: "other", Name: "settings"}, Version: "v1", Resource: "configmaps", Namespaced: true, Fingerprint: "9e8d7c6b5a4f3e2d"},
		{ID: object.ID{Kind: "Namespace", Name: "other"}, Version: "v1", Resource: "namespaces"},
		{ID: object.ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:gitsync:web"}, Version: "v1", Resource: "clusterroles"},
	}
	inv.Record = sampleRecord()
	if err := s.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if inv.ResourceVersion == "" {
		t.Error("Save left ResourceVersion empty")
	}

	live, err := env.Client().CoreV1().ConfigMaps(s.Namespace).Get(ctx, "gitsync-web-inventory", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if live.ResourceVersion != inv.ResourceVersion {
		t.Errorf("live resourceVersion %s, Save reported %s", live.ResourceVersion, inv.ResourceVersion)
	}
	wantLabels := map[string]string{
		"applyset.kubernetes.io/id":    ApplySetID("gitsync-web-inventory", s.Namespace),
		"gitsync.io/sync":              "web",
		"gitsync.io/kind":              "inventory",
		"app.kubernetes.io/managed-by": "gitsync",
	}
	if diff := cmp.Diff(wantLabels, live.Labels); diff != "" {
		t.Errorf("live labels (-want +got):\n%s", diff)
	}
	wantAnnotations := map[string]string{
		"applyset.kubernetes.io/tooling":               "gitsync/v0.1.0",
		"applyset.kubernetes.io/contains-group-kinds":  "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Namespace",
		"applyset.kubernetes.io/additional-namespaces": "other",
	}
	if diff := cmp.Diff(wantAnnotations, live.Annotations); diff != "" {
		t.Errorf("live annotations (-want +got):\n%s", diff)
	}

	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]Entry{}, inv.Entries...)
	Sort(want)
	if diff := cmp.Diff(want, got.Entries); diff != "" {
		t.Errorf("loaded entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inv.Record, got.Record); diff != "" {
		t.Errorf("loaded record (-want +got):\n%s", diff)
	}

	// A second Save from the loaded state updates in place; a narrowed
	// inventory narrows the ApplySet annotations too.
	var deployments []Entry
	for _, e := range got.Entries {
		if e.Kind == "Deployment" {
			deployments = append(deployments, e)
		}
	}
	got.Entries = deployments
	got.Record.Fail(Run{Revision: "next", Message: "boom"})
	if err := s.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	live, err = env.Client().CoreV1().ConfigMaps(s.Namespace).Get(ctx, "gitsync-web-inventory", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gks := live.Annotations[AnnotationApplySetGroupKinds]; gks != "Deployment.apps" {
		t.Errorf("contains-group-kinds after narrowing = %q", gks)
	}
	if ns, ok := live.Annotations[AnnotationApplySetAdditionalNamespaces]; !ok || ns != "" {
		t.Errorf("additional-namespaces after narrowing = %q (present %v), want present and empty", ns, ok)
	}
}

func TestSaveLoadLarge(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	inv := &Inventory{Entries: realisticEntries(50000, 11), Record: sampleRecord()}
	if err := s.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	live, err := env.Client().CoreV1().ConfigMaps(s.Namespace).Get(ctx, InventoryName(s.Sync), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := live.BinaryData[KeyEntriesGzip]; !ok {
		t.Errorf("50,000 entries stored without compression; keys %v", keys(live.Data))
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]Entry{}, inv.Entries...)
	Sort(want)
	if diff := cmp.Diff(want, got.Entries); diff != "" {
		t.Errorf("loaded entries differ (-want +got):\n%s", diff)
	}
}

func TestSaveConflict(t *testing.T) {
	ctx := t.Context()
	a := newStore(t)
	b := &Store{Client: env.Client(), Namespace: a.Namespace, Sync: a.Sync}

	t.Run("both create", func(t *testing.T) {
		first, second := &Inventory{}, &Inventory{}
		if err := a.Save(ctx, first); err != nil {
			t.Fatal(err)
		}
		err := b.Save(ctx, second)
		if !errors.Is(err, ErrConflict) || !apierrors.IsAlreadyExists(err) {
			t.Errorf("second create: err = %v, want ErrConflict wrapping AlreadyExists", err)
		}
	})

	t.Run("both update", func(t *testing.T) {
		x, err := a.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		x.Record.LastAttemptedRevision = "from-a"
		y.Record.LastAttemptedRevision = "from-b"
		if err := a.Save(ctx, x); err != nil {
			t.Fatal(err)
		}
		rvBefore := y.ResourceVersion
		err = b.Save(ctx, y)
		if !errors.Is(err, ErrConflict) || !apierrors.IsConflict(err) {
			t.Fatalf("second update: err = %v, want ErrConflict wrapping Conflict", err)
		}
		if y.ResourceVersion != rvBefore {
			t.Error("a failed Save changed ResourceVersion")
		}
		got, err := b.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Record.LastAttemptedRevision != "from-a" {
			t.Errorf("stored revision %q, want the winner's %q", got.Record.LastAttemptedRevision, "from-a")
		}
	})
}

func TestHistoryKeepsNewest(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	// A ConfigMap of another sync must not count.
	other := &Store{Client: env.Client(), Namespace: s.Namespace, Sync: "other"}
	if _, err := other.AppendHistory(ctx, History{Revision: "x"}); err != nil {
		t.Fatal(err)
	}

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 13; i++ {
		h, err := s.AppendHistory(ctx, History{
			Revision: fmt.Sprintf("rev-%d", i), Time: base.Add(time.Duration(i) * time.Minute),
			Result: ResultSucceeded, SetDigest: "sha256:set", SpecDigest: "sha256:spec", ObjectCount: i,
		})
		if err != nil {
			t.Fatal(err)
		}
		if h.Number != i {
			t.Errorf("append %d got number %d", i, h.Number)
		}
	}
	list, err := s.ListHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range list {
		got = append(got, fmt.Sprintf("%d:%s:%d", h.Number, h.Revision, h.ObjectCount))
	}
	want := []string{"13:rev-13:13", "12:rev-12:12", "11:rev-11:11", "10:rev-10:10", "9:rev-9:9", "8:rev-8:8", "7:rev-7:7", "6:rev-6:6", "5:rev-5:5", "4:rev-4:4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if !list[0].Time.Equal(base.Add(13 * time.Minute)) {
		t.Errorf("newest entry time %v", list[0].Time)
	}
	for _, n := range []int{1, 2, 3} {
		_, err := env.Client().CoreV1().ConfigMaps(s.Namespace).Get(ctx, HistoryName("web", n), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s: err = %v, want NotFound", HistoryName("web", n), err)
		}
	}
	otherList, err := other.ListHistory(ctx)
	if err != nil || len(otherList) != 1 {
		t.Errorf("other sync's history = %v, %v; want its one entry untouched", otherList, err)
	}

	// A smaller limit prunes down to it on the next append.
	s.HistoryLimit = 3
	if _, err := s.AppendHistory(ctx, History{Revision: "rev-14"}); err != nil {
		t.Fatal(err)
	}
	list, err = s.ListHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int
	for _, h := range list {
		numbers = append(numbers, h.Number)
	}
	if diff := cmp.Diff([]int{14, 13, 12}, numbers, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("numbers with limit 3 (-want +got):\n%s", diff)
	}
}

// TestHistoryAppendsAfterSave appends entries right after a Save, as a run
// and the CLI's seeding do: each append's LIST is served from the watch
// cache no older than the Store's last write, which must include the
// entry the previous append wrote, or the next one takes its number.
func TestHistoryAppendsAfterSave(t *testing.T) {
	ctx := t.Context()
	for round := range 10 {
		s := newStore(t)
		if err := s.Save(ctx, &Inventory{Record: Record{LastAttemptedRevision: "r"}}); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 4; i++ {
			h, err := s.AppendHistory(ctx, History{Revision: fmt.Sprintf("rev-%d", i)})
			if err != nil {
				t.Fatalf("round %d, append %d: %v", round, i, err)
			}
			if h.Number != i {
				t.Fatalf("round %d, append %d got number %d", round, i, h.Number)
			}
		}
	}

	// Another writer's entry, made after this Store's Save, is counted.
	s := newStore(t)
	if err := s.Save(ctx, &Inventory{Record: Record{LastAttemptedRevision: "r"}}); err != nil {
		t.Fatal(err)
	}
	other := &Store{Client: env.Client(), Namespace: s.Namespace, Sync: s.Sync}
	if _, err := other.AppendHistory(ctx, History{Revision: "theirs"}); err != nil {
		t.Fatal(err)
	}
	h, err := s.AppendHistory(ctx, History{Revision: "ours"})
	if err != nil || h.Number != 2 {
		t.Fatalf("append after another writer's = %d, %v; want number 2", h.Number, err)
	}
}

// TestMeasureSave10000 reports what encoding and saving 10,000 entries
// costs against the real API server; TestSaveLoadLarge checks correctness.
func TestMeasureSave10000(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	entries := realisticEntries(10000, 12)
	inv := &Inventory{Entries: entries, Record: sampleRecord()}

	start := time.Now()
	cm, err := s.encode(inv)
	if err != nil {
		t.Fatal(err)
	}
	encoded := time.Since(start)
	start = time.Now()
	if err := s.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	saved := time.Since(start)
	start = time.Now()
	if err := s.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	updated := time.Since(start)
	start = time.Now()
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(start)
	t.Logf("10,000 entries: data %d bytes (gzip %d); encode %.1f ms, encode+create %.1f ms, encode+update %.1f ms, get+decode %.1f ms",
		dataSize(cm), len(cm.BinaryData[KeyEntriesGzip]), ms(encoded), ms(saved), ms(updated), ms(loaded))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkSave10000 measures encode plus update of 10,000 entries against
// the real API server.
func BenchmarkSave10000(b *testing.B) {
	s := newStore(b)
	inv := &Inventory{Entries: realisticEntries(10000, 13), Record: sampleRecord()}
	cm, err := s.encode(inv)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.Save(b.Context(), inv); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(dataSize(cm)), "data-bytes")
}

func TestDelete(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	other := &Store{Client: env.Client(), Namespace: s.Namespace, Sync: "other"}
	for _, st := range []*Store{s, other} {
		if err := st.Save(ctx, &Inventory{Entries: realisticEntries(3, 14)}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := st.AppendHistory(ctx, History{Revision: "r"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := env.Client().CoreV1().ConfigMaps(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	want := []string{"gitsync-other-inventory", "gitsync-other-rev-1", "gitsync-other-rev-2"}
	if diff := cmp.Diff(want, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("ConfigMaps left (-want +got):\n%s", diff)
	}
	if err := s.Delete(ctx); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}
