// Package inventory keeps what gitsync knows between runs in ConfigMaps of
// the sync's namespace, because nothing of gitsync runs between runs.
//
// For sync NAME in namespace NS, Store reads and writes:
//
//   - ConfigMap gitsync-NAME-inventory: the kubectl ApplySet parent
//     (KEP-3659) of everything the sync applied, holding the inventory of
//     applied objects and the sync's Record (last applied and attempted
//     revision, spec digest, last run). Its labels and annotations are the
//     ApplySet's: LabelApplySetID, AnnotationApplySetTooling,
//     AnnotationApplySetGroupKinds and AnnotationApplySetAdditionalNamespaces.
//   - ConfigMaps gitsync-NAME-rev-N: one History entry each, N increasing;
//     the newest Store.HistoryLimit are kept.
//
// Every write carries a resourceVersion precondition (or is a create): a
// concurrent writer makes it fail with an error matching ErrConflict, never
// overwrite silently. A write that finds the ConfigMap holding exactly what
// it sent counts as done: it is its own earlier attempt, sent again by
// pkg/retry after a fault that hid the answer.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/retry"
	"github.com/gitsync/gitsync/pkg/version"
)

// Labels gitsync puts on its own ConfigMaps, so that one LIST finds them.
const (
	// LabelSync names the sync an object belongs to.
	LabelSync = names.LabelSync
	// LabelKind tells gitsync's ConfigMaps apart: KindInventory or
	// KindHistory.
	LabelKind = "gitsync.io/kind"
	// LabelManagedBy is the well-known managed-by label; its value is
	// ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on gitsync's objects.
	ManagedBy = "gitsync"
	// KindInventory is the LabelKind value of the inventory ConfigMap.
	KindInventory = "inventory"
	// KindHistory is the LabelKind value of history ConfigMaps.
	KindHistory = "history"
)

// Keys of the inventory ConfigMap. The entries, in the encoding described
// at type document in codec.go, live under exactly one of KeyEntries (data,
// plain) or KeyEntriesGzip (binaryData, gzip-compressed, once the plain
// form exceeds Store.CompressAbove); the Record is JSON under KeyRecord.
const (
	KeyEntries     = "inventory.json"
	KeyEntriesGzip = "inventory.json.gz"
	KeyRecord      = "record.json"
)

// DefaultCompressAbove is the default Store.CompressAbove: inventories up to
// 64 KiB (a few hundred objects) stay plain text, readable with kubectl.
const DefaultCompressAbove = 64 << 10

// MaxDataSize is the most data plus binaryData bytes the API server accepts
// in one ConfigMap.
const MaxDataSize = 1 << 20

// ErrConflict matches (errors.Is) every write that lost against a concurrent
// writer: an update whose resourceVersion is stale, a create of an object
// that already exists, or an update of an object deleted meanwhile. The
// returned errors also wrap the API server's error, so apierrors.IsConflict
// or IsAlreadyExists tells the cases apart.
var ErrConflict = errors.New("modified concurrently")

// ErrTooLarge matches (errors.Is) a Save whose inventory does not fit into
// one ConfigMap.
var ErrTooLarge = errors.New("inventory too large for one ConfigMap")

// ErrForeign matches (errors.Is) a Load of an inventory ConfigMap whose
// ApplySet belongs to another tool: KEP-3659 forbids mutating it.
var ErrForeign = errors.New("ApplySet managed by another tool")

// Store reads and writes the ConfigMaps of one sync. The zero values of the
// optional fields select their defaults.
type Store struct {
	// Client talks to the cluster. Required.
	Client kube.Interface
	// Namespace is the sync's namespace. Required.
	Namespace string
	// Sync is the sync's name. Required; it must be a valid label value.
	Sync string
	// Tooling is the ApplySet tooling annotation, <name>/<version>.
	// Default "gitsync/" + version.Version.
	Tooling string
	// CompressAbove is the size of the plain entry encoding above which the
	// entries are gzip-compressed into binaryData. Default
	// DefaultCompressAbove; negative compresses always.
	CompressAbove int
	// HistoryLimit is how many history ConfigMaps AppendHistory keeps.
	// Default 10.
	HistoryLimit int
	// FieldManager is the field manager of gitsync's writes. Default
	// "gitsync".
	FieldManager string
	// Labels are set on every ConfigMap the Store writes, besides its own
	// (a unit's state carries LabelUnitOf). Default none.
	Labels map[string]string

	// written is the resourceVersion of the Store's last write of the
	// inventory: AppendHistory's LIST needs to be no older than that,
	// which the API server's watch cache answers at once, instead of a
	// consistent read that may wait for the cache to catch up with etcd.
	written string
}

// Inventory is the content of the inventory ConfigMap.
type Inventory struct {
	// Entries are the objects the sync applied (or is applying), sorted.
	Entries []Entry
	// Record is the sync's status.
	Record Record
	// ResourceVersion is the ConfigMap's resourceVersion as last read or
	// written; empty while the ConfigMap does not exist. Save uses it as
	// its precondition and updates it.
	ResourceVersion string

	// configMap is the ConfigMap as last read or written, so that Save
	// keeps labels, annotations and keys that are not gitsync's.
	configMap *corev1.ConfigMap
}

// InventoryName returns the name of the inventory ConfigMap of sync.
func InventoryName(sync string) string { return names.Inventory(sync) }

// HistoryName returns the name of history ConfigMap number n of sync.
func HistoryName(sync string, n int) string { return names.History(sync, n) }

// ParentID returns the ApplySet id of the sync's inventory ConfigMap, the
// value applied objects carry in LabelApplySetPartOf.
func (s *Store) ParentID() string {
	return ApplySetID(InventoryName(s.Sync), s.Namespace)
}

func (s *Store) ref() string {
	return "ConfigMap/" + s.Namespace + "/" + InventoryName(s.Sync)
}

func (s *Store) tooling() string {
	if s.Tooling != "" {
		return s.Tooling
	}
	return "gitsync/" + version.Version
}

func (s *Store) fieldManager() string {
	if s.FieldManager != "" {
		return s.FieldManager
	}
	return "gitsync"
}

func (s *Store) validate() error {
	if s.Client == nil {
		return errors.New("inventory.Store: Client is nil")
	}
	if s.Namespace == "" {
		return errors.New("inventory.Store: Namespace is empty")
	}
	if s.Sync == "" {
		return errors.New("inventory.Store: Sync is empty")
	}
	if errs := validation.IsValidLabelValue(s.Sync); len(errs) > 0 {
		return fmt.Errorf("inventory.Store: sync name %q: %s", s.Sync, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(HistoryName(s.Sync, math.MaxInt32)); len(errs) > 0 {
		return fmt.Errorf("inventory.Store: sync name %q: %s", s.Sync, strings.Join(errs, "; "))
	}
	return nil
}

// Load reads the inventory ConfigMap. A missing ConfigMap is an empty
// Inventory with an empty ResourceVersion, so that the first run's Save
// creates it.
func (s *Store) Load(ctx context.Context) (*Inventory, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	cm, err := s.Client.ConfigMaps(s.Namespace).Get(ctx, InventoryName(s.Sync), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &Inventory{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: get: %w", s.ref(), err)
	}
	inv, err := s.decode(cm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.ref(), err)
	}
	return inv, nil
}

func (s *Store) decode(cm *corev1.ConfigMap) (*Inventory, error) {
	if tool, ok := cm.Annotations[AnnotationApplySetTooling]; ok && toolName(tool) != toolName(s.tooling()) {
		return nil, fmt.Errorf("%w: annotation %s is %q", ErrForeign, AnnotationApplySetTooling, tool)
	}
	if id, ok := cm.Labels[LabelApplySetID]; ok && id != s.ParentID() {
		return nil, fmt.Errorf("label %s is %q, want %q", LabelApplySetID, id, s.ParentID())
	}
	inv := &Inventory{ResourceVersion: cm.ResourceVersion, configMap: cm}
	var raw []byte
	switch plain, zipped := cm.Data[KeyEntries], cm.BinaryData[KeyEntriesGzip]; {
	case plain != "" && zipped != nil:
		return nil, fmt.Errorf("both %s and %s are set", KeyEntries, KeyEntriesGzip)
	case zipped != nil:
		var err error
		if raw, err = decompress(zipped); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyEntriesGzip, err)
		}
	default:
		raw = []byte(plain)
	}
	if len(raw) > 0 {
		entries, err := decodeEntries(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyEntries, err)
		}
		inv.Entries = entries
	}
	if rec := cm.Data[KeyRecord]; rec != "" {
		if err := json.Unmarshal([]byte(rec), &inv.Record); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyRecord, err)
		}
	}
	return inv, nil
}

// toolName returns the <name> of a <name>/<version> tooling value.
func toolName(tooling string) string {
	if i := strings.LastIndex(tooling, "/"); i >= 0 {
		return tooling[:i]
	}
	return tooling
}

// Save writes inv to the inventory ConfigMap: a create when
// inv.ResourceVersion is empty, otherwise an update with inv.ResourceVersion
// as precondition. The ApplySet annotations are derived from inv.Entries.
// On success inv.ResourceVersion is the new resourceVersion; a concurrent
// write fails with an error matching ErrConflict and leaves inv unchanged.
// Messages longer than MaxMessage are truncated.
func (s *Store) Save(ctx context.Context, inv *Inventory) error {
	if err := s.validate(); err != nil {
		return err
	}
	cm, err := s.encode(inv)
	if err != nil {
		return fmt.Errorf("%s: %w", s.ref(), err)
	}
	cms := s.Client.ConfigMaps(s.Namespace)
	var out *corev1.ConfigMap
	if inv.ResourceVersion == "" {
		out, err = cms.Create(retry.ReplaySafe(ctx), cm, metav1.CreateOptions{FieldManager: s.fieldManager()})
	} else {
		cm.ResourceVersion = inv.ResourceVersion
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: s.fieldManager()})
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		out, err = s.ownWrite(ctx, cm, err)
	}
	if err != nil {
		return s.writeError(s.ref(), err)
	}
	inv.ResourceVersion = out.ResourceVersion
	inv.configMap = out
	s.written = out.ResourceVersion
	return nil
}

// ownWrite looks at a ConfigMap whose create or update lost a race (err):
// when it holds exactly what was sent, the race was against our own
// earlier attempt (pkg/retry sends a write again after a fault that may
// have let it through), and the write succeeded. Otherwise err stands.
func (s *Store) ownWrite(ctx context.Context, sent *corev1.ConfigMap, err error) (*corev1.ConfigMap, error) {
	live, gerr := s.Client.ConfigMaps(sent.Namespace).Get(ctx, sent.Name, metav1.GetOptions{})
	if gerr != nil || !equality.Semantic.DeepEqual(live.Data, sent.Data) || !equality.Semantic.DeepEqual(live.BinaryData, sent.BinaryData) ||
		!equality.Semantic.DeepEqual(live.Labels, sent.Labels) || !equality.Semantic.DeepEqual(live.Annotations, sent.Annotations) {
		return nil, err
	}
	return live, nil
}

// writeError wraps a failed write of ref, marking lost races with
// ErrConflict.
func (s *Store) writeError(ref string, err error) error {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: %w: %w", ref, ErrConflict, err)
	}
	return fmt.Errorf("%s: write: %w", ref, err)
}

// encode builds the ConfigMap to write for inv, starting from the one last
// read so that metadata and keys of others survive.
func (s *Store) encode(inv *Inventory) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if inv.configMap != nil {
		cm = inv.configMap.DeepCopy()
		// Server-populated fields are not ours to send back.
		cm.ManagedFields = nil
	}
	cm.Name = InventoryName(s.Sync)
	cm.Namespace = s.Namespace
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	for k, v := range s.Labels {
		cm.Labels[k] = v
	}
	cm.Labels[LabelApplySetID] = s.ParentID()
	cm.Labels[LabelSync] = s.Sync
	cm.Labels[LabelKind] = KindInventory
	cm.Labels[LabelManagedBy] = ManagedBy
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[AnnotationApplySetTooling] = s.tooling()
	cm.Annotations[AnnotationApplySetGroupKinds] = GroupKinds(inv.Entries)
	cm.Annotations[AnnotationApplySetAdditionalNamespaces] = AdditionalNamespaces(inv.Entries, s.Namespace)
	if err := checkAnnotationSize(cm.Annotations); err != nil {
		return nil, err
	}

	raw, err := encodeEntries(inv.Entries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyEntries, err)
	}
	if len(raw) > maxDecompressed {
		// Load would refuse to inflate it.
		return nil, fmt.Errorf("%w: %d entries take %d bytes uncompressed, the limit is %d", ErrTooLarge, len(inv.Entries), len(raw), maxDecompressed)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	delete(cm.Data, KeyEntries)
	delete(cm.BinaryData, KeyEntriesGzip)
	threshold := s.CompressAbove
	if threshold == 0 {
		threshold = DefaultCompressAbove
	}
	if len(raw) > threshold {
		zipped, err := compress(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyEntriesGzip, err)
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[KeyEntriesGzip] = zipped
	} else {
		cm.Data[KeyEntries] = string(raw)
	}

	rec := inv.Record
	rec.LastRun.Message = truncate(rec.LastRun.Message, MaxMessage)
	if len(rec.Units) > 0 {
		rec.Units = append([]UnitRecord(nil), rec.Units...)
		for i := range rec.Units {
			rec.Units[i].Message = truncate(rec.Units[i].Message, MaxUnitMessage)
		}
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyRecord, err)
	}
	cm.Data[KeyRecord] = string(recJSON)

	if size := dataSize(cm); size > MaxDataSize {
		return nil, fmt.Errorf("%w: %d entries take %d bytes, the limit is %d", ErrTooLarge, len(inv.Entries), size, MaxDataSize)
	}
	return cm, nil
}

// checkAnnotationSize refuses annotations the API server would refuse: all
// keys and values of one object together are limited to 256 KiB. The
// ApplySet annotations grow with the set (one entry per group-kind and per
// namespace); checking here names the one to blame, before the first write
// of a run and so before anything is applied.
func checkAnnotationSize(annotations map[string]string) error {
	total := 0
	for k, v := range annotations {
		total += len(k) + len(v)
	}
	if total <= apivalidation.TotalAnnotationSizeLimitB {
		return nil
	}
	var parts []string
	for _, k := range []string{AnnotationApplySetAdditionalNamespaces, AnnotationApplySetGroupKinds} {
		if v := annotations[k]; len(v) > 0 {
			parts = append(parts, fmt.Sprintf("annotation %s takes %d bytes (%d values)", k, len(k)+len(v), strings.Count(v, ",")+1))
		}
	}
	return fmt.Errorf("%w: the ApplySet annotations exceed the API server's limit of %d bytes for all annotations of an object (%d bytes): %s; spread the objects over fewer namespaces or split the sync",
		ErrTooLarge, apivalidation.TotalAnnotationSizeLimitB, total, strings.Join(parts, ", "))
}

// dataSize adds up the ConfigMap's values the way the API server's
// validation does.
func dataSize(cm *corev1.ConfigMap) int {
	n := 0
	for _, v := range cm.Data {
		n += len(v)
	}
	for _, v := range cm.BinaryData {
		n += len(v)
	}
	return n
}
