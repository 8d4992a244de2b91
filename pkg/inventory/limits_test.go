package inventory

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/object"
)

// TestLoadGzipBomb: an inventory ConfigMap whose entries are a gzip bomb
// (under 1 MiB that inflates to 1 GiB) is refused with a clear error, and
// reading it costs a small fraction of the Job's 256 MiB memory limit,
// not the limit itself.
func TestLoadGzipBomb(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 1 << 10 { // 1 GiB of zeros
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > MaxDataSize {
		t.Fatalf("the bomb takes %d bytes, more than a ConfigMap holds", buf.Len())
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: InventoryName(s.Sync), Namespace: s.Namespace},
		BinaryData: map[string][]byte{KeyEntriesGzip: buf.Bytes()},
	}
	if _, err := env.Client().CoreV1().ConfigMaps(s.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = s.Load(ctx)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), KeyEntriesGzip+": inflates to more than") {
		t.Fatalf("Load = %v, want an error saying the entries inflate too much", err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("Load of a %d-byte gzip bomb allocated %d MiB: %v", buf.Len(), allocated>>20, err)
	if allocated > 64<<20 {
		t.Errorf("Load allocated %d MiB reading the bomb; want far below the Job's 256 MiB limit", allocated>>20)
	}
}

// TestSaveRefusesOversizedAnnotations: the ApplySet parent's annotations
// (contains-group-kinds, additional-namespaces) share the API server's
// 256 KiB limit for all annotations of an object. An inventory over it is
// refused by Save before any request, with an error naming the annotation,
// so a run fails before it applies anything (the union is saved first).
func TestSaveRefusesOversizedAnnotations(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	inv := &Inventory{}
	for i := range 4300 {
		ns := fmt.Sprintf("tenant-%04d-%s", i, strings.Repeat("n", 50)) // 62 bytes
		inv.Entries = append(inv.Entries, Entry{
			ID: object.ID{Kind: "ConfigMap", Namespace: ns, Name: "settings"}, Version: "v1", Resource: "configmaps", Namespaced: true,
		})
	}
	err := s.Save(ctx, inv)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), AnnotationApplySetAdditionalNamespaces) {
		t.Fatalf("Save = %v, want ErrTooLarge naming %s", err, AnnotationApplySetAdditionalNamespaces)
	}
	t.Log(err)
	if inv.ResourceVersion != "" {
		t.Error("Save reported a resourceVersion for a refused inventory")
	}
}
