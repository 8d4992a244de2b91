package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/kube/kubeclientset"
)

func sampleRecord() Record {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	var r Record
	r.Succeed(Run{
		Revision: "main@sha1:3f2a", SpecDigest: "sha256:9e8d", SetDigest: "sha256:1c2b",
		Start: start, End: start.Add(5 * time.Second), Duration: metav1.Duration{Duration: 5 * time.Second},
		Message: "applied 12 objects", Counts: map[string]int{"created": 2, "unchanged": 10},
	})
	return r
}

// TestConfigMapRoundTrip encodes inventories into the ConfigMap Save would
// send and decodes them the way Load does, without a cluster.
func TestConfigMapRoundTrip(t *testing.T) {
	tests := []struct {
		name          string
		entries       []Entry
		compressAbove int
		wantGzip      bool
	}{
		{name: "empty", wantGzip: false},
		{name: "small stays plain", entries: realisticEntries(50, 3), wantGzip: false},
		{name: "large is compressed", entries: realisticEntries(3000, 4), wantGzip: true},
		{name: "always compress", entries: realisticEntries(5, 5), compressAbove: -1, wantGzip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{Namespace: "apps", Sync: "web", Tooling: "gitsync/v1.2.3", CompressAbove: tt.compressAbove}
			in := &Inventory{Entries: tt.entries, Record: sampleRecord()}
			cm, err := s.encode(in)
			if err != nil {
				t.Fatal(err)
			}
			_, plain := cm.Data[KeyEntries]
			_, zipped := cm.BinaryData[KeyEntriesGzip]
			if zipped != tt.wantGzip || plain == tt.wantGzip {
				t.Errorf("plain %v, gzip %v; want gzip %v", plain, zipped, tt.wantGzip)
			}
			out, err := s.decode(cm)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]Entry{}, tt.entries...)
			Sort(want)
			if diff := cmp.Diff(want, out.Entries, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(in.Record, out.Record); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
			wantLabels := map[string]string{
				LabelApplySetID: ApplySetID("gitsync-web-inventory", "apps"),
				LabelSync:       "web", LabelKind: KindInventory, LabelManagedBy: ManagedBy,
			}
			if diff := cmp.Diff(wantLabels, cm.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			wantAnn := map[string]string{
				AnnotationApplySetTooling:              "gitsync/v1.2.3",
				AnnotationApplySetGroupKinds:           GroupKinds(tt.entries),
				AnnotationApplySetAdditionalNamespaces: AdditionalNamespaces(tt.entries, "apps"),
			}
			if diff := cmp.Diff(wantAnn, cm.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSaveKeepsForeignMetadata checks that encode starts from the ConfigMap
// as read: labels, annotations and keys of others survive, and switching
// between plain and compressed leaves only one entries key.
func TestSaveKeepsForeignMetadata(t *testing.T) {
	s := &Store{Namespace: "apps", Sync: "web"}
	read := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "gitsync-web-inventory", Namespace: "apps", ResourceVersion: "42",
			Labels:        map[string]string{"team": "a"},
			Annotations:   map[string]string{"note": "hands off"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}},
		},
		Data:       map[string]string{KeyEntries: "stale", "other": "x"},
		BinaryData: map[string][]byte{"blob": {1}},
	}
	inv := &Inventory{Entries: realisticEntries(3000, 6), ResourceVersion: "42", configMap: read}
	cm, err := s.encode(inv)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["team"] != "a" || cm.Annotations["note"] != "hands off" || cm.Data["other"] != "x" || len(cm.BinaryData["blob"]) != 1 {
		t.Errorf("foreign metadata or keys lost: labels %v annotations %v data keys %v", cm.Labels, cm.Annotations, keys(cm.Data))
	}
	if _, ok := cm.Data[KeyEntries]; ok {
		t.Errorf("plain %s kept next to %s", KeyEntries, KeyEntriesGzip)
	}
	if cm.ManagedFields != nil {
		t.Error("managedFields sent back")
	}
	if read.Data[KeyEntries] != "stale" {
		t.Error("encode modified the ConfigMap it started from")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFiftyThousandEntriesFit is the size budget: 50,000 realistic entries
// must fit one ConfigMap with room to spare, measured as the JSON of the
// whole object (binaryData in base64, so larger than what etcd stores).
func TestFiftyThousandEntriesFit(t *testing.T) {
	s := &Store{Namespace: "platform", Sync: "monorepo"}
	entries := realisticEntries(50000, 7)
	start := time.Now()
	cm, err := s.encode(&Inventory{Entries: entries, Record: sampleRecord()})
	if err != nil {
		t.Fatal(err)
	}
	encodeTime := time.Since(start)
	obj, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := encodeEntries(entries)
	t.Logf("50,000 entries: plain %d bytes, gzip %d bytes, data %d bytes, ConfigMap JSON %d bytes, encode %v",
		len(raw), len(cm.BinaryData[KeyEntriesGzip]), dataSize(cm), len(obj), encodeTime)
	if len(obj) >= MaxDataSize {
		t.Errorf("ConfigMap JSON is %d bytes, want < %d", len(obj), MaxDataSize)
	}
	start = time.Now()
	got, err := s.decode(cm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("decode %v", time.Since(start))
	if len(got.Entries) != len(entries) {
		t.Errorf("decoded %d entries, want %d", len(got.Entries), len(entries))
	}
}

// TestTooLarge checks that Save refuses, before sending anything, an
// inventory the API server would reject: 40,000 entries with full sha256
// fingerprints carry 1.28 MB of incompressible digests.
func TestTooLarge(t *testing.T) {
	s := &Store{Namespace: "platform", Sync: "monorepo"}
	entries := realisticEntries(40000, 8)
	for i := range entries {
		sum := sha256.Sum256([]byte(entries[i].ID.String()))
		entries[i].Fingerprint = hex.EncodeToString(sum[:])
	}
	_, err := s.encode(&Inventory{Entries: entries})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("encode of an oversized inventory: err = %v, want ErrTooLarge", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	s := &Store{Namespace: "apps", Sync: "web"}
	cm := func(mut func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c, err := s.encode(&Inventory{Entries: realisticEntries(3, 9)})
		if err != nil {
			t.Fatal(err)
		}
		mut(c)
		return c
	}
	tests := []struct {
		name    string
		cm      *corev1.ConfigMap
		wantErr string
		is      error
	}{
		{"other tool", cm(func(c *corev1.ConfigMap) { c.Annotations[AnnotationApplySetTooling] = "kubectl/v1.37.2" }), "kubectl/v1.37.2", ErrForeign},
		{"wrong id", cm(func(c *corev1.ConfigMap) { c.Labels[LabelApplySetID] = "applyset-x-v1" }), "applyset-x-v1", nil},
		{"both keys", cm(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{KeyEntriesGzip: {1}} }), "both", nil},
		{"bad gzip", cm(func(c *corev1.ConfigMap) {
			delete(c.Data, KeyEntries)
			c.BinaryData = map[string][]byte{KeyEntriesGzip: []byte("nope")}
		}), KeyEntriesGzip, nil},
		{"bad record", cm(func(c *corev1.ConfigMap) { c.Data[KeyRecord] = "{" }), KeyRecord, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.decode(tt.cm)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decode error = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("decode error = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

func TestMessageTruncated(t *testing.T) {
	s := &Store{Namespace: "apps", Sync: "web"}
	inv := &Inventory{}
	inv.Record.Fail(Run{Revision: "r", Message: strings.Repeat("é", MaxMessage)})
	cm, err := s.encode(inv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.decode(cm)
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Record.LastRun.Message
	if len(msg) > MaxMessage || !strings.HasSuffix(msg, truncatedMark) || !strings.HasPrefix(msg, "éé") {
		t.Errorf("message of %d bytes ending %q, want at most %d bytes ending in the mark", len(msg), msg[len(msg)-20:], MaxMessage)
	}
	if inv.Record.LastRun.Message != strings.Repeat("é", MaxMessage) {
		t.Error("Save truncated the caller's message in place")
	}
	if out.Record.LastRun.Result != ResultFailed || out.Record.LastAttemptedRevision != "r" || out.Record.LastAppliedRevision != "" {
		t.Errorf("record after Fail = %+v", out.Record)
	}
}

func TestValidate(t *testing.T) {
	client := kubeclientset.FromClientset(&kubernetes.Clientset{})
	tests := []struct {
		name    string
		s       Store
		wantErr bool
	}{
		{"valid", Store{Client: client, Namespace: "a", Sync: "web-1"}, false},
		{"no client", Store{Namespace: "a", Sync: "web"}, true},
		{"no namespace", Store{Client: client, Sync: "web"}, true},
		{"no sync", Store{Client: client, Namespace: "a"}, true},
		{"sync not a label value", Store{Client: client, Namespace: "a", Sync: strings.Repeat("x", 64)}, true},
		{"sync not a name", Store{Client: client, Namespace: "a", Sync: "Web_1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.validate(); (err != nil) != tt.wantErr {
				t.Errorf("validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
