package apply

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/kube"
)

// mapper resolves kinds to resources for one run. It reads discovery only
// when a kind is first asked for, and then reads all of it at once with
// aggregated discovery (apidiscovery.k8s.io/v2: one request for /api and
// one for /apis, however many CRDs the cluster has). It keeps no mapper for
// the kinds nobody asks for: a lookup is a map access on the group and
// version, and its answer is remembered per kind and version.
//
// A kind that is not served is looked for once more after reading
// discovery again (a CRD applied earlier in the run), at most once until
// the next rearm: many objects of an unknown kind, or of many unknown kinds,
// cost one read, not one each.
//
// On an API server without aggregated discovery, /api and /apis list only
// the groups; the resources of a group version are then read when a kind
// of that group version is first asked for (one request per group version
// the objects use, not per group version the cluster serves).
type mapper struct {
	dc       *kube.Discovery
	requests *atomic.Int64 // requests dc sent
	log      *slog.Logger

	mu sync.Mutex
	// groups is the served groups and their versions, preferred first;
	// nil until discovery was read.
	groups map[string][]string
	// resources are the resources of each group version read so far;
	// with aggregated discovery, all of them.
	resources map[schema.GroupVersion]*metav1.APIResourceList
	// failed are the group versions whose discovery failed (an aggregated
	// API server that is down): their kinds resolve to this error.
	failed    map[schema.GroupVersion]error
	aggregate bool // resources came with the groups
	// rereadArmed lets the next miss read discovery again.
	rereadArmed bool
	cache       map[schema.GroupVersionKind]*meta.RESTMapping // "" version: the preferred one
}

// newMapper returns a mapper reading discovery through hc, and counting
// the requests it sends.
func newMapper(c *rest.Config, hc *http.Client, log *slog.Logger) (*mapper, error) {
	var n atomic.Int64
	counted := *hc
	next := hc.Transport
	counted.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		n.Add(1)
		return next.RoundTrip(req)
	})
	dc, err := kube.NewDiscovery(c, &counted)
	if err != nil {
		return nil, err
	}
	return &mapper{dc: dc, requests: &n, log: log, rereadArmed: true}, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// mapping returns the resource of gk at version, or at the group's
// preferred served version when version is "". A kind that is not served
// is a *meta.NoKindMatchError. With reread, a miss reads discovery again
// once (see mapper).
func (m *mapper) mapping(ctx context.Context, gk schema.GroupKind, version string, reread bool) (*meta.RESTMapping, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := gk.WithVersion(version)
	if r := m.cache[key]; r != nil {
		return r, nil
	}
	if m.groups == nil {
		if err := m.readLocked(ctx, "first lookup"); err != nil {
			return nil, err
		}
	}
	r, err := m.lookupLocked(ctx, gk, version)
	if err != nil && meta.IsNoMatchError(err) && reread && m.rereadArmed {
		m.rereadArmed = false
		if err := m.readLocked(ctx, "kind "+key.String()+" not served"); err != nil {
			return nil, err
		}
		r, err = m.lookupLocked(ctx, gk, version)
	}
	if err != nil {
		return nil, err
	}
	m.cache[key] = r
	return r, nil
}

// read reads discovery now unless it was read: a caller that knows it is
// about to resolve kinds (a run that is to apply) reads it beside other
// work, and the lookups then wait for this read instead of making their
// own. A failed read is not remembered: the next lookup tries again.
func (m *mapper) read(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups != nil {
		return nil
	}
	return m.readLocked(ctx, "read ahead")
}

// rearm lets the next miss read discovery again: kinds were just added
// (CRDs applied). What was resolved stays resolved.
func (m *mapper) rearm() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rereadArmed = true
}

// forget drops what was read: the next lookup reads discovery again.
func (m *mapper) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups, m.resources, m.failed, m.cache = nil, nil, nil, nil
	m.rereadArmed = true
}

// readLocked reads the groups (and, with aggregated discovery, every
// resource) and logs what it cost.
func (m *mapper) readLocked(ctx context.Context, why string) error {
	start, before := time.Now(), m.requests.Load()
	read, err := m.dc.GroupsAndMaybeResources(ctx)
	if err != nil {
		return fmt.Errorf("reading API discovery: %w", err)
	}
	list, resources, failed := read.List, read.Resources, read.Failed
	m.groups = make(map[string][]string, len(list.Groups))
	for _, g := range list.Groups {
		versions := make([]string, 0, len(g.Versions))
		versions = append(versions, g.PreferredVersion.Version)
		for _, v := range g.Versions {
			if v.Version != g.PreferredVersion.Version {
				versions = append(versions, v.Version)
			}
		}
		m.groups[g.Name] = versions
	}
	m.aggregate = resources != nil
	if resources == nil {
		resources = map[schema.GroupVersion]*metav1.APIResourceList{}
	}
	if failed == nil {
		failed = map[schema.GroupVersion]error{}
	}
	m.resources, m.failed = resources, failed
	m.cache = map[schema.GroupVersionKind]*meta.RESTMapping{}
	m.log.Info("discovery", "reason", why, "requests", m.requests.Load()-before, "groups", len(list.Groups),
		"aggregated", m.aggregate, "duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// lookupLocked finds gk in what was read, reading one group version's
// resources first when discovery is not aggregated.
func (m *mapper) lookupLocked(ctx context.Context, gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	versions := m.groups[gk.Group]
	if version != "" {
		versions = nil
		for _, v := range m.groups[gk.Group] {
			if v == version {
				versions = []string{v}
			}
		}
	}
	for _, v := range versions {
		gv := schema.GroupVersion{Group: gk.Group, Version: v}
		if err := m.failed[gv]; err != nil {
			return nil, fmt.Errorf("discovery of %s failed: %w", gv, err)
		}
		list, ok := m.resources[gv]
		if !ok && !m.aggregate {
			start, before := time.Now(), m.requests.Load()
			l, err := m.dc.ServerResourcesForGroupVersion(ctx, gv)
			switch {
			case apierrors.IsNotFound(err):
				l = &metav1.APIResourceList{}
			case err != nil:
				return nil, fmt.Errorf("discovery of %s: %w", gv, err)
			}
			m.log.Info("discovery", "reason", "group version "+gv.String(), "requests", m.requests.Load()-before,
				"duration", time.Since(start).Round(time.Millisecond).String())
			m.resources[gv], list = l, l
		}
		if list == nil {
			continue
		}
		for _, r := range list.APIResources {
			if r.Kind != gk.Kind || strings.Contains(r.Name, "/") {
				continue
			}
			scope := meta.RESTScopeRoot
			if r.Namespaced {
				scope = meta.RESTScopeNamespace
			}
			return &meta.RESTMapping{
				Resource:         gv.WithResource(r.Name),
				GroupVersionKind: gv.WithKind(gk.Kind),
				Scope:            scope,
			}, nil
		}
	}
	var searched []string
	if version != "" {
		searched = []string{version}
	}
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: searched}
}
