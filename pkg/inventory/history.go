package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gitsync/gitsync/pkg/retry"
)

// KeyHistory is the key of a history ConfigMap holding its History as JSON.
const KeyHistory = "history.json"

// DefaultHistoryLimit is the default Store.HistoryLimit.
const DefaultHistoryLimit = 10

// History is one recorded run, kept in ConfigMap gitsync-NAME-rev-N as JSON
// under KeyHistory, for example:
//
//	{"number": 7, "revision": "main@sha1:3f2a…", "time": "2026-01-02T03:04:05Z",
//	 "result": "Succeeded", "message": "applied 12 objects",
//	 "setDigest": "sha256:1c2b…", "specDigest": "sha256:9e8d…", "objectCount": 12,
//	 "duration": "5s", "counts": {"created": 2, "unchanged": 10}}
//
// It is what `kubectl gitsync history` lists and what rollback picks a
// revision from.
type History struct {
	// Number is N of gitsync-NAME-rev-N, assigned by AppendHistory: one more
	// than the highest number present.
	Number int `json:"number"`
	// Revision is the source revision of the run.
	Revision string `json:"revision"`
	// Time is when the run ended.
	Time time.Time `json:"time"`
	// Result is Succeeded, Failed or DependencyNotReady (wait.go).
	Result Result `json:"result"`
	// Message says what happened; truncated to MaxMessage bytes.
	Message string `json:"message,omitempty"`
	// SetDigest is the digest of the rendered set.
	SetDigest string `json:"setDigest,omitempty"`
	// SpecDigest is the digest of the Sync spec.
	SpecDigest string `json:"specDigest,omitempty"`
	// ObjectCount is the number of objects in the rendered set.
	ObjectCount int `json:"objectCount"`
	// Duration is how long the run took.
	Duration metav1.Duration `json:"duration,omitzero"`
	// Counts holds the number of objects per action, as in Run.Counts.
	Counts map[string]int `json:"counts,omitempty"`
}

func (s *Store) historySelector() string {
	return labels.SelectorFromSet(labels.Set{LabelSync: s.Sync, LabelKind: KindHistory}).String()
}

func (s *Store) historyLimit() int {
	if s.HistoryLimit > 0 {
		return s.HistoryLimit
	}
	return DefaultHistoryLimit
}

// listHistory returns the sync's history ConfigMaps with their numbers,
// newest first, from one LIST. After the Store wrote the inventory, the
// LIST is answered by the API server's watch cache as of that write or
// later: it holds every history entry of earlier runs, which wrote theirs
// after their inventory, and the cache need not first catch up with etcd
// (a consistent LIST can wait up to 100 ms for that).
func (s *Store) listHistory(ctx context.Context) ([]corev1.ConfigMap, []int, error) {
	opts := metav1.ListOptions{LabelSelector: s.historySelector()}
	if s.written != "" {
		opts.ResourceVersion, opts.ResourceVersionMatch = s.written, metav1.ResourceVersionMatchNotOlderThan
	}
	list, err := s.Client.ConfigMaps(s.Namespace).List(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("ConfigMaps/%s -l %s: list: %w", s.Namespace, s.historySelector(), err)
	}
	prefix := strings.TrimSuffix(HistoryName(s.Sync, 0), "0")
	type numbered struct {
		cm corev1.ConfigMap
		n  int
	}
	var found []numbered
	for _, cm := range list.Items {
		n, err := strconv.Atoi(strings.TrimPrefix(cm.Name, prefix))
		if err != nil || !strings.HasPrefix(cm.Name, prefix) || n <= 0 {
			// A ConfigMap labelled like ours but not named like ours is not
			// part of the numbering; ignore it rather than fail every run.
			continue
		}
		found = append(found, numbered{cm, n})
	}
	slices.SortFunc(found, func(a, b numbered) int { return b.n - a.n })
	cms := make([]corev1.ConfigMap, len(found))
	ns := make([]int, len(found))
	for i, f := range found {
		cms[i], ns[i] = f.cm, f.n
	}
	return cms, ns, nil
}

// AppendHistory writes h as the newest history entry, numbered one more
// than the highest present, and deletes the oldest entries beyond
// HistoryLimit. It returns h with Number set. A concurrent append of the
// same number fails with an error matching ErrConflict. When only the
// deletion of old entries fails, h was written: the returned History is
// valid and the error says which entries remain.
func (s *Store) AppendHistory(ctx context.Context, h History) (History, error) {
	if err := s.validate(); err != nil {
		return h, err
	}
	h, cms, err := s.appendHistory(ctx, h)
	if errors.Is(err, ErrConflict) && s.written != "" {
		// The LIST came from the watch cache as of our last write, and a
		// writer we do not know of took the number since: count again
		// from a consistent LIST.
		s.written = ""
		h, cms, err = s.appendHistory(ctx, h)
	}
	if err != nil {
		return h, err
	}

	// The new entry is one of the kept ones, so keep limit-1 of the old.
	var errs []error
	keep := s.historyLimit() - 1
	if len(cms) > keep {
		// A delete returns no resourceVersion to read after: this Store's
		// next LIST is a consistent one, so that it does not list an entry
		// it deleted.
		s.written = ""
	}
	for i := keep; i < len(cms); i++ {
		old := cms[i]
		uid := old.UID
		err := s.Client.ConfigMaps(s.Namespace).Delete(ctx, old.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ConfigMap/%s/%s: delete old history: %w", s.Namespace, old.Name, err))
		}
	}
	return h, errors.Join(errs...)
}

// appendHistory numbers h after the entries listed and creates its
// ConfigMap. It returns the entries listed, newest first.
func (s *Store) appendHistory(ctx context.Context, h History) (History, []corev1.ConfigMap, error) {
	cms, numbers, err := s.listHistory(ctx)
	if err != nil {
		return h, nil, err
	}
	h.Number = 1
	if len(numbers) > 0 {
		h.Number = numbers[0] + 1
	}
	h.Message = truncate(h.Message, MaxMessage)
	body, err := json.Marshal(h)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", HistoryName(s.Sync, h.Number), err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      HistoryName(s.Sync, h.Number),
			Namespace: s.Namespace,
			Labels: map[string]string{
				LabelSync:      s.Sync,
				LabelKind:      KindHistory,
				LabelManagedBy: ManagedBy,
			},
		},
		Data: map[string]string{KeyHistory: string(body)},
	}
	for k, v := range s.Labels {
		if _, own := cm.Labels[k]; !own {
			cm.Labels[k] = v
		}
	}
	ref := "ConfigMap/" + s.Namespace + "/" + cm.Name
	out, err := s.Client.ConfigMaps(s.Namespace).Create(retry.ReplaySafe(ctx), cm, metav1.CreateOptions{FieldManager: s.fieldManager()})
	if apierrors.IsAlreadyExists(err) {
		out, err = s.ownWrite(ctx, cm, err)
	}
	if err != nil {
		return h, nil, s.writeError(ref, err)
	}
	// The next append's LIST must see this entry, not only the inventory.
	s.written = out.ResourceVersion
	return h, cms, nil
}

// ListHistory returns the sync's history, newest first.
func (s *Store) ListHistory(ctx context.Context) ([]History, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	cms, numbers, err := s.listHistory(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]History, 0, len(cms))
	for i, cm := range cms {
		var h History
		if err := json.Unmarshal([]byte(cm.Data[KeyHistory]), &h); err != nil {
			return nil, fmt.Errorf("ConfigMap/%s/%s: %s: %w", s.Namespace, cm.Name, KeyHistory, err)
		}
		// The name is authoritative: it is unique, the JSON is not.
		h.Number = numbers[i]
		out = append(out, h)
	}
	return out, nil
}

// Delete removes the sync's inventory and history ConfigMaps, as uninstall
// does once it has dealt with the applied objects. ConfigMaps already gone
// are not an error. It deletes by name rather than by collection so that it
// needs no deletecollection permission.
func (s *Store) Delete(ctx context.Context) error {
	if err := s.validate(); err != nil {
		return err
	}
	cms, _, err := s.listHistory(ctx)
	if err != nil {
		return err
	}
	names := []string{InventoryName(s.Sync)}
	for _, cm := range cms {
		names = append(names, cm.Name)
	}
	var errs []error
	for _, name := range names {
		err := s.Client.ConfigMaps(s.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ConfigMap/%s/%s: delete: %w", s.Namespace, name, err))
		}
	}
	return errors.Join(errs...)
}
