package action

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// ErrSyncNotFound matches (errors.Is) the error of GetSync when none of a
// sync's objects (spec ConfigMap, CronJob, inventory ConfigMap) exists.
var ErrSyncNotFound = errors.New("sync not found")

// Sync is what the cluster holds about one sync. Missing parts are nil, or
// carry their error, rather than failing the whole read: status and
// uninstall must work on a half-installed or half-removed sync.
type Sync struct {
	// Ref names the sync.
	Ref
	// ConfigMap is the spec ConfigMap gitsync-NAME; nil when it is missing.
	ConfigMap *corev1.ConfigMap
	// Spec is the parsed spec; nil when the ConfigMap is missing or its
	// spec invalid, and SpecErr then says why.
	Spec *spec.Sync
	// SpecErr is why Spec is nil.
	SpecErr error
	// CronJob is CronJob gitsync-NAME; nil when it is missing.
	CronJob *batchv1.CronJob
	// Inventory is the content of the inventory ConfigMap: empty (no
	// entries, zero Record) before the first run. Nil only when it could
	// not be read, and InventoryErr then says why.
	Inventory *inventory.Inventory
	// InventoryErr is why Inventory is nil.
	InventoryErr error
}

// Store returns the inventory store of the sync.
func (s *Sync) Store(client kube.Interface) *inventory.Store {
	return &inventory.Store{Client: client, Namespace: s.Namespace, Sync: s.Name}
}

// Suspended reports whether scheduled runs are off: the CronJob's
// spec.suspend, or the spec's suspend when there is no CronJob.
func (s *Sync) Suspended() bool {
	if s.CronJob != nil {
		return s.CronJob.Spec.Suspend != nil && *s.CronJob.Spec.Suspend
	}
	return s.Spec != nil && s.Spec.Spec.Suspend
}

// Schedule returns the CronJob's schedule, or the spec's when there is no
// CronJob.
func (s *Sync) Schedule() string {
	if s.CronJob != nil {
		return s.CronJob.Spec.Schedule
	}
	if s.Spec != nil {
		return s.Spec.Spec.Schedule
	}
	return ""
}

// PinnedRevision returns the revision a rollback pinned the sync to, or "".
func (s *Sync) PinnedRevision() string {
	if s.CronJob == nil {
		return ""
	}
	return s.CronJob.Annotations[AnnotationPinnedRevision]
}

// Entries returns the inventory's entries, nil when it could not be read.
func (s *Sync) Entries() []inventory.Entry {
	if s.Inventory == nil {
		return nil
	}
	return s.Inventory.Entries
}

// Record returns the inventory's record, zero when it could not be read.
func (s *Sync) Record() inventory.Record {
	if s.Inventory == nil {
		return inventory.Record{}
	}
	return s.Inventory.Record
}

// GetSync reads everything about the sync ref names. Missing parts are left
// nil; only when nothing exists does it fail, with an error matching
// ErrSyncNotFound. Other read errors of the spec ConfigMap or the CronJob
// fail the call (they usually mean no access).
func GetSync(ctx context.Context, cfg *Config, ref Ref) (*Sync, error) {
	s := &Sync{Ref: ref}
	cm, err := spec.GetConfigMap(ctx, cfg.Client, ref.Namespace, ref.Name)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		s.setSpec(cm)
	}
	cj, err := cfg.Client.BatchV1().CronJobs(ref.Namespace).Get(ctx, names.CronJob(ref.Name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("CronJob/%s/%s: get: %w", ref.Namespace, names.CronJob(ref.Name), err)
	default:
		s.CronJob = cj
	}
	s.loadInventory(ctx, cfg.Client)
	if s.ConfigMap == nil && s.CronJob == nil && (s.Inventory == nil || s.Inventory.ResourceVersion == "") {
		return nil, fmt.Errorf("sync %s in namespace %s: %w (no ConfigMap or CronJob %s)",
			ref.Name, ref.Namespace, ErrSyncNotFound, names.Spec(ref.Name))
	}
	if s.ConfigMap == nil {
		s.SpecErr = fmt.Errorf("ConfigMap/%s/%s: not found", ref.Namespace, names.Spec(ref.Name))
	}
	return s, nil
}

// setSpec keeps cm as the spec ConfigMap and parses the spec it holds.
func (s *Sync) setSpec(cm *corev1.ConfigMap) {
	s.ConfigMap = cm
	s.Spec, s.SpecErr = spec.FromConfigMap(cm)
}

func (s *Sync) loadInventory(ctx context.Context, client kube.Interface) {
	inv, err := s.Store(client).Load(ctx)
	if err != nil {
		s.InventoryErr = err
		return
	}
	s.Inventory = inv
}

// ListOptions select the syncs ListSyncs returns.
type ListOptions struct {
	// Namespace is the namespace listed. Default "": all namespaces.
	Namespace string
}

// ListSyncs returns the syncs of opts.Namespace, sorted by namespace and
// name: one per spec ConfigMap (spec.IsSpecConfigMap), with its CronJob and
// inventory. It lists ConfigMaps and CronJobs once and reads each inventory
// with one GET.
func ListSyncs(ctx context.Context, cfg *Config, opts ListOptions) ([]*Sync, error) {
	cms, err := listSpecConfigMaps(ctx, cfg.Client, opts.Namespace)
	if err != nil {
		return nil, err
	}
	if len(cms) == 0 {
		return nil, nil
	}
	cjs, err := cfg.Client.BatchV1().CronJobs(opts.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("CronJobs in %s: list: %w", NamespaceWords(opts.Namespace), err)
	}
	byName := map[string]*batchv1.CronJob{}
	for i := range cjs.Items {
		cj := &cjs.Items[i]
		byName[cj.Namespace+"/"+cj.Name] = cj
	}
	out := make([]*Sync, 0, len(cms))
	for _, cm := range cms {
		name, _ := spec.IsSpecConfigMap(cm)
		s := &Sync{Ref: Ref{Name: name, Namespace: cm.Namespace}}
		s.setSpec(cm)
		s.CronJob = byName[cm.Namespace+"/"+names.CronJob(name)]
		s.loadInventory(ctx, cfg.Client)
		out = append(out, s)
	}
	return out, nil
}

// ListSyncNames returns the names of the syncs of opts.Namespace, sorted and
// without duplicates (across namespaces), for shell completion.
func ListSyncNames(ctx context.Context, cfg *Config, opts ListOptions) ([]string, error) {
	cms, err := listSpecConfigMaps(ctx, cfg.Client, opts.Namespace)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cms))
	for _, cm := range cms {
		name, _ := spec.IsSpecConfigMap(cm)
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// listSpecConfigMaps lists the spec ConfigMaps of namespace ("" for all),
// sorted by namespace and name. It lists every ConfigMap rather than
// selecting by label, because a spec ConfigMap written from Git (bootstrap)
// need not carry install's labels.
func listSpecConfigMaps(ctx context.Context, client kubernetes.Interface, namespace string) ([]*corev1.ConfigMap, error) {
	list, err := client.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("ConfigMaps in %s: list: %w", NamespaceWords(namespace), err)
	}
	var out []*corev1.ConfigMap
	for i := range list.Items {
		if _, ok := spec.IsSpecConfigMap(&list.Items[i]); ok {
			out = append(out, &list.Items[i])
		}
	}
	slices.SortFunc(out, func(a, b *corev1.ConfigMap) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// NamespaceWords names a namespace for messages: "namespace NS", or "all
// namespaces" for "".
func NamespaceWords(namespace string) string {
	if namespace == "" {
		return "all namespaces"
	}
	return "namespace " + namespace
}

// ListNamespaces returns the names of the cluster's namespaces, sorted, for
// shell completion.
func ListNamespaces(ctx context.Context, cfg *Config) ([]string, error) {
	list, err := cfg.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Namespaces: %w", err)
	}
	out := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		out = append(out, ns.Name)
	}
	slices.Sort(out)
	return out, nil
}
