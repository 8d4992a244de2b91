package apply

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync/gitsync/pkg/object"
)

// surveyThreshold is how many objects of one resource and namespace the
// listing with Options.Labels must have missed for Apply to list that
// resource in that namespace without a selector (metadata only), instead of
// reading each of them before applying it to check who owns it. One LIST
// costs the API server about as much as a few GETs of objects that do not
// exist; a cold sync of 10,000 objects saves 10,000 requests.
const surveyThreshold = 32

// surveyKey is one resource in one namespace ("" for cluster-scoped ones).
type surveyKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// survey is what the unfiltered listings found: every live object of the
// covered resources and namespaces, ours or not.
type survey struct {
	covered map[surveyKey]bool
	live    map[object.ID]*metav1.PartialObjectMetadata
}

// lookup returns the live object of t and whether the survey knows: known
// and nil means it did not exist when listed.
func (s *survey) lookup(t Target) (*metav1.PartialObjectMetadata, bool) {
	if s == nil || !s.covered[surveyKey{t.GroupVersionResource(), t.Namespace}] {
		return nil, false
	}
	return s.live[t.ID], true
}

// surveyUnlisted lists, without a selector, the resources and namespaces
// where at least surveyThreshold objects to apply were not among the live
// objects carrying opts.Labels. A LIST that fails leaves its objects to be
// read one by one.
func (e *Engine) surveyUnlisted(ctx context.Context, todo []*item, live map[object.ID]*metav1.PartialObjectMetadata, opts Options) *survey {
	if len(opts.Labels) == 0 {
		return nil // no ownership check to make
	}
	counts := map[surveyKey]int{}
	groups := map[surveyKey]*resourceGroup{}
	var keys []surveyKey
	for _, it := range todo {
		c := it.change
		if live[c.ID] != nil || it.policy.SSA == SSAIfNotPresent {
			continue
		}
		k := surveyKey{c.GroupVersionResource(), c.Namespace}
		if counts[k] == 0 {
			g := &resourceGroup{gvr: k.gvr, gk: c.ID.GroupKind(), namespaced: c.Namespaced}
			if c.Namespaced {
				g.namespaces = []string{k.ns}
			}
			groups[k] = g
			keys = append(keys, k)
		}
		counts[k]++
	}
	s := &survey{covered: map[surveyKey]bool{}, live: map[object.ID]*metav1.PartialObjectMetadata{}}
	var mu sync.Mutex
	forEach(ctx, keys, opts.Concurrency, func(ctx context.Context, k surveyKey) {
		if counts[k] < surveyThreshold {
			return
		}
		g := groups[k]
		items, err := e.listGroup(ctx, g, "", g.namespaced)
		if err != nil {
			e.log.Debug("listing live objects without a selector failed; reading them one by one", "error", err.Error())
			return
		}
		mu.Lock()
		defer mu.Unlock()
		s.covered[k] = true
		for id, m := range items {
			s.live[id] = m
		}
	})
	return s
}
