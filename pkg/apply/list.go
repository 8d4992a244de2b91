package apply

import (
	"context"
	"fmt"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// resourceGroup is the targets of one resource: what one LIST (or one per
// namespace) answers.
type resourceGroup struct {
	gvr        schema.GroupVersionResource
	gk         schema.GroupKind
	namespaced bool
	namespaces []string // of the targets, sorted, for per-namespace lists
	targets    []Target
	// served is set by prune when gvr's version is not served any more
	// and the group was listed at this one instead.
	served *schema.GroupVersionResource
}

// groupByResource groups targets by resource, in first-seen order.
func groupByResource(targets []Target) []*resourceGroup {
	var groups []*resourceGroup
	byGVR := map[schema.GroupVersionResource]*resourceGroup{}
	for _, t := range targets {
		gvr := t.GroupVersionResource()
		g := byGVR[gvr]
		if g == nil {
			g = &resourceGroup{gvr: gvr, gk: t.GroupKind(), namespaced: t.Namespaced}
			byGVR[gvr] = g
			groups = append(groups, g)
		}
		g.targets = append(g.targets, t)
		if t.Namespaced && !slices.Contains(g.namespaces, t.Namespace) {
			g.namespaces = append(g.namespaces, t.Namespace)
		}
	}
	for _, g := range groups {
		slices.Sort(g.namespaces)
	}
	return groups
}

// listGroup lists the metadata of the live objects of one resource that
// match selector: one LIST cluster-wide, or one per namespace of the group's
// targets when perNamespace is set or the cluster-wide LIST is forbidden
// (an applier with only namespaced rights). Items are keyed by object ID.
// Lists are not paged: they are filtered by our labels, served from the API
// server's watch cache, and carry metadata only.
func (e *Engine) listGroup(ctx context.Context, g *resourceGroup, selector string, perNamespace bool) (map[object.ID]*metav1.PartialObjectMetadata, error) {
	return e.listGroupAt(ctx, g, selector, perNamespace, "")
}

// listGroupAt is listGroup at resourceVersion rv: "" for a consistent
// LIST, "0" for the API server's watch cache as it is (see Drift).
func (e *Engine) listGroupAt(ctx context.Context, g *resourceGroup, selector string, perNamespace bool, rv string) (map[object.ID]*metav1.PartialObjectMetadata, error) {
	client := e.meta.Resource(g.gvr)
	out := map[object.ID]*metav1.PartialObjectMetadata{}
	add := func(l *metav1.PartialObjectMetadataList) {
		for i := range l.Items {
			m := &l.Items[i]
			ns := m.Namespace
			if !g.namespaced {
				ns = ""
			}
			out[object.ID{Group: g.gk.Group, Kind: g.gk.Kind, Namespace: ns, Name: m.Name}] = m
		}
	}
	opts := metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv}
	if !g.namespaced || !perNamespace {
		l, err := client.List(ctx, opts)
		if err == nil {
			add(l)
			return out, nil
		}
		if !g.namespaced || !apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("listing %s: %w", g.gvr.GroupResource(), err)
		}
	}
	for _, ns := range g.namespaces {
		l, err := client.Namespace(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s in namespace %s: %w", g.gvr.GroupResource(), ns, err)
		}
		add(l)
	}
	return out, nil
}

// listLive lists the live objects of targets' resources that carry labels,
// keyed by ID. A resource whose list fails is logged and left out: callers
// treat its objects as unknown, which only makes them more careful.
// The resources known already are taken from known instead.
func (e *Engine) listLive(ctx context.Context, targets []Target, lbls map[string]string, perNamespace bool, concurrency int, known *Listed) map[object.ID]*metav1.PartialObjectMetadata {
	selector := labels.SelectorFromSet(lbls).String()
	var mu sync.Mutex
	live := map[object.ID]*metav1.PartialObjectMetadata{}
	forEach(ctx, groupByResource(targets), concurrency, func(ctx context.Context, g *resourceGroup) {
		items, ok := known.resource(g.gvr)
		var err error
		if !ok {
			items, err = e.listGroup(ctx, g, selector, perNamespace)
		}
		if err != nil {
			e.log.Warn("listing live objects failed; their actions may read Configured", "error", err.Error())
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for id, m := range items {
			live[id] = m
		}
	})
	return live
}
