package action

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gitsync/gitsync/pkg/names"
)

// EventsOptions select the Events `kubectl gitsync events` lists.
type EventsOptions struct {
	// Namespace is where to look; "" means every namespace.
	Namespace string
	// Name is the sync whose Events are listed; "" means every sync.
	Name string
}

// SyncEvent is one Event gitsync emitted, with the sync it is about.
type SyncEvent struct {
	// Namespace and Sync name the sync.
	Namespace string `json:"namespace"`
	Sync      string `json:"sync"`
	// Type is Normal or Warning; Reason is Synced, SyncFailed, Busy ...
	Type   string `json:"type"`
	Reason string `json:"reason"`
	// Message says what the run did.
	Message string `json:"message"`
	// Last is when the Event last happened; Count how often.
	Last  time.Time `json:"lastTimestamp"`
	Count int32     `json:"count"`
}

// eventFieldSelector selects the Events on spec ConfigMaps — gitsync emits
// its Events on a sync's spec ConfigMap (syncrun's emit) — of one sync when
// name is set.
func eventFieldSelector(name string) string {
	set := fields.Set{"involvedObject.kind": "ConfigMap", "source": "gitsync"}
	if name != "" {
		set["involvedObject.name"] = names.Spec(name)
	}
	return fields.SelectorFromSet(set).String()
}

// syncEventOf returns the SyncEvent of ev, or false when ev is not about
// a sync's spec ConfigMap.
func syncEventOf(ev *corev1.Event) (SyncEvent, bool) {
	sync, ok := strings.CutPrefix(ev.InvolvedObject.Name, names.Prefix)
	if !ok || sync == "" {
		return SyncEvent{}, false
	}
	last := ev.LastTimestamp.Time
	if last.IsZero() {
		last = ev.EventTime.Time
	}
	if last.IsZero() {
		last = ev.CreationTimestamp.Time
	}
	count := ev.Count
	if count == 0 {
		count = 1
	}
	return SyncEvent{Namespace: ev.Namespace, Sync: sync, Type: ev.Type, Reason: ev.Reason, Message: ev.Message, Last: last, Count: count}, true
}

// ListEvents returns the Events gitsync emitted for the syncs opts select,
// oldest first, as `kubectl events` orders them.
func ListEvents(ctx context.Context, cfg *Config, opts EventsOptions) ([]SyncEvent, error) {
	list, err := cfg.Client.CoreV1().Events(opts.Namespace).List(ctx, metav1.ListOptions{FieldSelector: eventFieldSelector(opts.Name)})
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	var out []SyncEvent
	for i := range list.Items {
		if e, ok := syncEventOf(&list.Items[i]); ok {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.Before(out[j].Last) })
	return out, nil
}

// WatchEvents calls each for every Event gitsync emits for the syncs opts
// select from now on, until ctx ends or each returns an error.
func WatchEvents(ctx context.Context, cfg *Config, opts EventsOptions, each func(SyncEvent) error) error {
	list, err := cfg.Client.CoreV1().Events(opts.Namespace).List(ctx, metav1.ListOptions{FieldSelector: eventFieldSelector(opts.Name), Limit: 1})
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	rv := list.ResourceVersion
	for {
		w, err := cfg.Client.CoreV1().Events(opts.Namespace).Watch(ctx, metav1.ListOptions{FieldSelector: eventFieldSelector(opts.Name), ResourceVersion: rv})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("events: watch: %w", err)
		}
		for ev := range w.ResultChan() {
			e, ok := ev.Object.(*corev1.Event)
			if !ok {
				rv = "" // a watch error (410 Gone): list again from now
				continue
			}
			rv = e.ResourceVersion
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			if se, ok := syncEventOf(e); ok {
				if err := each(se); err != nil {
					w.Stop()
					return err
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return nil
		}
		// The server ended the watch (its timeout, or an error): watch
		// again from the last Event seen, or after an error from now.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if rv == "" {
			l, err := cfg.Client.CoreV1().Events(opts.Namespace).List(ctx, metav1.ListOptions{FieldSelector: eventFieldSelector(opts.Name), Limit: 1})
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			rv = l.ResourceVersion
		}
	}
}
