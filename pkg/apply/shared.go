package apply

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// SharedLists lets the drift checks of several appliers whose objects
// share labels (the units of one sync, each with labels of its own on top
// of the sync's) make one LIST per resource between them instead of one
// each: the first check that needs a resource lists it with the shared
// labels, cluster-wide and from the watch cache, and every check takes
// its own objects from that answer: one LIST per resource for all of
// them, and the API server filters each resource once.
//
// Use it only while nothing writes the objects (a check before a run
// takes its Lease): later checks see the answer as it was when listed. A
// LIST that fails (a cluster-wide LIST the identity may not make) is
// remembered, and every check lists its own objects as without it.
type SharedLists struct {
	engine   *Engine
	selector string

	mu    sync.Mutex
	lists map[schema.GroupVersionResource]*sharedList
}

// sharedList is one resource's shared LIST; done is closed once it ended.
type sharedList struct {
	done  chan struct{}
	items map[object.ID]*metav1.PartialObjectMetadata
	at    time.Time
	err   error
}

// NewSharedLists returns the shared LISTs of e's drift checks of objects
// that all carry labels.
func NewSharedLists(e *Engine, set map[string]string) *SharedLists {
	return &SharedLists{engine: e, selector: labels.SelectorFromSet(set).String(), lists: map[schema.GroupVersionResource]*sharedList{}}
}

// get returns the live objects of g's resource that carry selector, from
// the shared LIST (made now by the first caller), and the server's time
// of its answer. ok is false when s cannot answer for e: another engine,
// or the shared LIST failed.
func (s *SharedLists) get(ctx context.Context, e *Engine, g *resourceGroup, selector labels.Selector) (live map[object.ID]*metav1.PartialObjectMetadata, at time.Time, ok bool) {
	if s == nil || e != s.engine {
		return nil, time.Time{}, false
	}
	s.mu.Lock()
	l, found := s.lists[g.gvr]
	if !found {
		l = &sharedList{done: make(chan struct{})}
		s.lists[g.gvr] = l
	}
	s.mu.Unlock()
	if !found {
		lctx, st := withServerTime(ctx)
		whole := &resourceGroup{gvr: g.gvr, gk: g.gk, namespaced: g.namespaced}
		l.items, l.err = e.listGroupAt(lctx, whole, s.selector, false, "0")
		l.at = st.get()
		close(l.done)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, time.Time{}, false
	}
	if l.err != nil {
		return nil, time.Time{}, false
	}
	live = map[object.ID]*metav1.PartialObjectMetadata{}
	for id, m := range l.items {
		if selector.Matches(labels.Set(m.Labels)) {
			live[id] = m
		}
	}
	return live, l.at, true
}
