package action

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// WatchOptions say which syncs Watch follows and what it calls.
type WatchOptions struct {
	// Namespace is where the syncs are. Default "": all namespaces.
	Namespace string
	// Name limits the watch to one sync's inventory. Default "": every
	// sync's.
	Name string
	// Changed is called once at the start (initial true) and again after
	// every change of a watched inventory ConfigMap, or after a gap in
	// which changes may have been missed. An error ends the watch.
	// Required.
	Changed func(initial bool) error
}

// Watch calls opts.Changed whenever a run records its result (its inventory
// ConfigMap changes), until ctx ends, which is not an error. A watch the
// server closes is resumed from the last resourceVersion seen; an expired
// resourceVersion makes it list again, and call Changed, since changes may
// have been missed.
func Watch(ctx context.Context, cfg *Config, opts WatchOptions) error {
	cms := cfg.Client.CoreV1().ConfigMaps(opts.Namespace)
	where := "ConfigMaps in " + NamespaceWords(opts.Namespace)
	selector := metav1.ListOptions{}
	if opts.Name != "" {
		selector.FieldSelector = fields.OneTermEqualSelector("metadata.name", names.Inventory(opts.Name)).String()
	} else {
		selector.LabelSelector = labels.SelectorFromSet(labels.Set{inventory.LabelKind: inventory.KindInventory}).String()
	}
	list := func(initial bool) (string, error) {
		l, err := cms.List(ctx, selector)
		if err != nil {
			return "", fmt.Errorf("%s: list: %w", where, err)
		}
		return l.ResourceVersion, opts.Changed(initial)
	}
	rv, err := list(true)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		wo := selector
		wo.ResourceVersion = rv
		wo.AllowWatchBookmarks = true
		w, err := cms.Watch(ctx, wo)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s: watch: %w", where, err)
		}
		rv, err = handleEvents(ctx, w, rv, opts.Changed, list)
		w.Stop()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s: watch: %w", where, err)
		}
		// The server ended the watch (its timeout): resume after a pause,
		// so that a server closing watches at once is not hammered.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// handleEvents calls changed on every change w reports until it ends, and
// returns the resourceVersion to resume from.
func handleEvents(ctx context.Context, w watch.Interface, rv string, changed func(bool) error, list func(bool) (string, error)) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return rv, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, nil
			}
			switch ev.Type {
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
					return rv, err
				}
				return list(false)
			case watch.Bookmark:
			default:
				if err := changed(false); err != nil {
					return rv, err
				}
			}
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
		}
	}
}
