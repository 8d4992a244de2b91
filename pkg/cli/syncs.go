package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/spec"
)

// ErrSyncNotFound matches (errors.Is) the error of GetSync when none of a
// sync's objects (spec ConfigMap, CronJob, inventory ConfigMap) exists.
var ErrSyncNotFound = errors.New("sync not found")

// SyncInfo is what the cluster holds about one sync. Missing parts are
// nil, or carry their error, rather than failing the whole read: status and
// uninstall must work on a half-installed or half-removed sync.
type SyncInfo struct {
	// Name and Namespace name the sync.
	Name, Namespace string
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

// ID returns "namespace/name".
func (s *SyncInfo) ID() string { return s.Namespace + "/" + s.Name }

// Store returns the inventory store of the sync.
func (s *SyncInfo) Store(client kubernetes.Interface) *inventory.Store {
	return &inventory.Store{Client: client, Namespace: s.Namespace, Sync: s.Name}
}

// Suspended reports whether scheduled runs are off: the CronJob's
// spec.suspend, or the spec's suspend when there is no CronJob.
func (s *SyncInfo) Suspended() bool {
	if s.CronJob != nil {
		return s.CronJob.Spec.Suspend != nil && *s.CronJob.Spec.Suspend
	}
	return s.Spec != nil && s.Spec.Spec.Suspend
}

// Schedule returns the CronJob's schedule, or the spec's when there is no
// CronJob.
func (s *SyncInfo) Schedule() string {
	if s.CronJob != nil {
		return s.CronJob.Spec.Schedule
	}
	if s.Spec != nil {
		return s.Spec.Spec.Schedule
	}
	return ""
}

// PinnedRevision returns the revision a rollback pinned the sync to, or "".
func (s *SyncInfo) PinnedRevision() string {
	if s.CronJob == nil {
		return ""
	}
	return s.CronJob.Annotations[AnnotationPinnedRevision]
}

// Entries returns the inventory's entries, nil when it could not be read.
func (s *SyncInfo) Entries() []inventory.Entry {
	if s.Inventory == nil {
		return nil
	}
	return s.Inventory.Entries
}

// Record returns the inventory's record, zero when it could not be read.
func (s *SyncInfo) Record() inventory.Record {
	if s.Inventory == nil {
		return inventory.Record{}
	}
	return s.Inventory.Record
}

// commandOptions is kubectl's Options pattern, which every command's
// options follow: Complete fills in what the flags and arguments leave
// open (namespace, clients), Validate only checks, Run does the work.
type commandOptions interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runE returns a cobra RunE that completes, validates and runs o, so that
// every command goes through the three steps in the same order.
func runE(o commandOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// syncRef is what the commands about one sync share, embedded in their
// options: which sync, and the client and clock its complete sets up.
type syncRef struct {
	// Name is the sync: the command's NAME argument, "" when it has none.
	Name string
	// Namespace is --namespace, else the kubeconfig context's namespace.
	Namespace string

	flags  *genericclioptions.ConfigFlags
	client kubernetes.Interface
	// config is the REST config client was built from, for the commands
	// that need other clients too.
	config *rest.Config
	// now is the clock the command's context carries, for ages in output.
	now func() time.Time
}

// complete reads NAME (the first argument, if any) and the namespace, and
// builds the client.
func (r *syncRef) complete(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		r.Name = args[0]
	}
	r.now = clockFrom(cmd.Context())
	var err error
	if r.Namespace, err = SyncNamespace(r.flags); err != nil {
		return err
	}
	r.client, r.config, err = KubeClient(r.flags)
	return err
}

// KubeClient returns a clientset and the REST config for the kubeconfig
// flags.
func KubeClient(flags *genericclioptions.ConfigFlags) (kubernetes.Interface, *rest.Config, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return client, cfg, nil
}

// SyncNamespace returns the namespace commands work in: --namespace, else
// the kubeconfig context's namespace, else "default".
func SyncNamespace(flags *genericclioptions.ConfigFlags) (string, error) {
	if flags.Namespace != nil && *flags.Namespace != "" {
		return *flags.Namespace, nil
	}
	ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return metav1.NamespaceDefault, nil
	case err != nil:
		return "", fmt.Errorf("kubeconfig: namespace: %w", err)
	}
	return ns, nil
}

// ValidateSyncName checks a NAME argument, so that a typo is reported as
// such rather than as an API error about a ConfigMap name.
func ValidateSyncName(name string) error {
	if name == "" {
		return errors.New("NAME: required")
	}
	problems := validation.IsDNS1123Label(name)
	if len(name) > spec.MaxNameLength {
		problems = append(problems, fmt.Sprintf("must be no more than %d characters", spec.MaxNameLength))
	}
	if len(problems) > 0 {
		return fmt.Errorf("NAME %q: not a sync name: %s", name, strings.Join(problems, "; "))
	}
	return nil
}

// SyncNameOf returns the sync whose spec ConfigMap cm is: a ConfigMap
// named gitsync-NAME with the key sync.yaml.
func SyncNameOf(cm *corev1.ConfigMap) (string, bool) {
	name, ok := strings.CutPrefix(cm.Name, spec.ConfigMapPrefix)
	if !ok || name == "" {
		return "", false
	}
	if _, ok := cm.Data[spec.ConfigMapKey]; !ok {
		return "", false
	}
	return name, true
}

// GetSync reads everything about the sync namespace/name. Missing parts
// are left nil; only when nothing exists does it fail, with an error
// matching ErrSyncNotFound. Other read errors of the spec ConfigMap or the
// CronJob fail the call (they usually mean no access).
func GetSync(ctx context.Context, client kubernetes.Interface, namespace, name string) (*SyncInfo, error) {
	s := &SyncInfo{Name: name, Namespace: namespace}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, spec.ConfigMapName(name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("ConfigMap/%s/%s: get: %w", namespace, spec.ConfigMapName(name), err)
	default:
		s.setSpec(cm)
	}
	cj, err := client.BatchV1().CronJobs(namespace).Get(ctx, spec.ConfigMapName(name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("CronJob/%s/%s: get: %w", namespace, spec.ConfigMapName(name), err)
	default:
		s.CronJob = cj
	}
	s.loadInventory(ctx, client)
	if s.ConfigMap == nil && s.CronJob == nil && (s.Inventory == nil || s.Inventory.ResourceVersion == "") {
		return nil, fmt.Errorf("sync %s in namespace %s: %w (no ConfigMap or CronJob %s)",
			name, namespace, ErrSyncNotFound, spec.ConfigMapName(name))
	}
	if s.ConfigMap == nil {
		s.SpecErr = fmt.Errorf("ConfigMap/%s/%s: not found", namespace, spec.ConfigMapName(name))
	}
	return s, nil
}

// setSpec keeps cm as the spec ConfigMap and parses the spec it holds.
func (s *SyncInfo) setSpec(cm *corev1.ConfigMap) {
	s.ConfigMap = cm
	data, ok := cm.Data[spec.ConfigMapKey]
	if !ok {
		s.SpecErr = fmt.Errorf("ConfigMap/%s/%s: no key %s", cm.Namespace, cm.Name, spec.ConfigMapKey)
		return
	}
	parsed, err := spec.Parse([]byte(data))
	if err != nil {
		s.SpecErr = fmt.Errorf("ConfigMap/%s/%s: %s: %w", cm.Namespace, cm.Name, spec.ConfigMapKey, err)
		return
	}
	s.Spec = parsed
}

func (s *SyncInfo) loadInventory(ctx context.Context, client kubernetes.Interface) {
	inv, err := s.Store(client).Load(ctx)
	if err != nil {
		s.InventoryErr = err
		return
	}
	s.Inventory = inv
}

// ListSyncs returns the syncs of namespace ("" for all namespaces), sorted
// by namespace and name: one per spec ConfigMap (see SyncNameOf), with its
// CronJob and inventory. It lists ConfigMaps and CronJobs once and reads
// each inventory with one GET.
func ListSyncs(ctx context.Context, client kubernetes.Interface, namespace string) ([]*SyncInfo, error) {
	cms, err := listSpecConfigMaps(ctx, client, namespace)
	if err != nil {
		return nil, err
	}
	if len(cms) == 0 {
		return nil, nil
	}
	cjs, err := client.BatchV1().CronJobs(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("CronJobs in %s: list: %w", namespaceWords(namespace), err)
	}
	byName := map[string]*batchv1.CronJob{}
	for i := range cjs.Items {
		cj := &cjs.Items[i]
		byName[cj.Namespace+"/"+cj.Name] = cj
	}
	out := make([]*SyncInfo, 0, len(cms))
	for _, cm := range cms {
		name, _ := SyncNameOf(cm)
		s := &SyncInfo{Name: name, Namespace: cm.Namespace}
		s.setSpec(cm)
		s.CronJob = byName[cm.Namespace+"/"+cm.Name]
		s.loadInventory(ctx, client)
		out = append(out, s)
	}
	return out, nil
}

// ListSyncNames returns the names of the syncs in namespace, sorted, for
// shell completion.
func ListSyncNames(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error) {
	cms, err := listSpecConfigMaps(ctx, client, namespace)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cms))
	for _, cm := range cms {
		name, _ := SyncNameOf(cm)
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// listSpecConfigMaps lists the spec ConfigMaps of namespace ("" for all),
// sorted by namespace and name. It lists every ConfigMap rather than
// selecting by label, because a spec ConfigMap written from Git (bootstrap)
// need not carry install's labels.
func listSpecConfigMaps(ctx context.Context, client kubernetes.Interface, namespace string) ([]*corev1.ConfigMap, error) {
	list, err := client.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("ConfigMaps in %s: list: %w", namespaceWords(namespace), err)
	}
	var out []*corev1.ConfigMap
	for i := range list.Items {
		if _, ok := SyncNameOf(&list.Items[i]); ok {
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

// namespaceWords names a namespace for messages: "namespace NS", or "all
// namespaces" for "".
func namespaceWords(namespace string) string {
	if namespace == "" {
		return "all namespaces"
	}
	return "namespace " + namespace
}
