package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
)

// Discovery reads the API server's discovery documents: /version, /api and
// /apis (aggregated, apidiscovery.k8s.io/v2, when the server has it: all
// groups with all their resources in one request each) and, from servers
// without aggregated discovery, one group version's resources at a time.
// It is what gitsync needs of client-go's discovery client, without its
// dependency on every API group's types.
type Discovery struct {
	rc rest.Interface
}

// Discovery's defaults where the config sets none, as client-go's discovery
// client has them: a request may take 32 s; discovery is bursty.
const (
	discoveryTimeout = 32 * time.Second
	discoveryBurst   = 300
)

// acceptDiscovery asks for aggregated discovery and accepts the
// unaggregated documents of older servers.
const acceptDiscovery = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

// NewDiscovery returns a Discovery for c that sends its requests through
// hc; with a nil hc, through an HTTP client of its own built from c. c is
// not changed.
func NewDiscovery(c *rest.Config, hc *http.Client) (*Discovery, error) {
	cfg := *c
	cfg.APIPath, cfg.GroupVersion = "", nil
	if cfg.Timeout == 0 {
		cfg.Timeout = discoveryTimeout
	}
	if cfg.Burst == 0 {
		cfg.Burst = discoveryBurst
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	cfg.NegotiatedSerializer = codecs.WithoutConversion()
	if hc == nil {
		var err error
		if hc, err = rest.HTTPClientFor(&cfg); err != nil {
			return nil, err
		}
	}
	rc, err := rest.UnversionedRESTClientForConfigAndClient(&cfg, hc)
	if err != nil {
		return nil, err
	}
	return &Discovery{rc: rc}, nil
}

// ServerVersion returns the server's /version.
func (d *Discovery) ServerVersion(ctx context.Context) (*version.Info, error) {
	res := d.rc.Get().AbsPath("/version").Do(ctx)
	if err := res.Error(); err != nil {
		return nil, err
	}
	body, _ := res.Raw()
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("decoding the server version: %w", err)
	}
	return &info, nil
}

// StaleGroupVersionError is the error of a group version that aggregated
// discovery reports as stale: its aggregated API server did not answer the
// last time the API server asked it.
type StaleGroupVersionError struct{ GroupVersion schema.GroupVersion }

func (e *StaleGroupVersionError) Error() string {
	return fmt.Sprintf("stale discovery of %s (its API server did not answer)", e.GroupVersion)
}

// Groups is what /api and /apis said.
type Groups struct {
	// List is the served groups, the core group ("") first; each group's
	// versions in the server's order of preference, the preferred first.
	// A stale group version is not among them.
	List *metav1.APIGroupList
	// Resources are the resources of every listed group version, read
	// with the groups; nil when the server has no aggregated discovery
	// (then ask ServerResourcesForGroupVersion).
	Resources map[schema.GroupVersion]*metav1.APIResourceList
	// Failed are the stale group versions, each with its error.
	Failed map[schema.GroupVersion]error
}

// GroupsAndMaybeResources reads /api and /apis, one request each. With
// aggregated discovery, the answer has every resource too; with it from
// only one of the two endpoints, Resources is nil, so that a caller never
// takes a partial answer for the whole.
func (d *Discovery) GroupsAndMaybeResources(ctx context.Context) (*Groups, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	legacy, err := d.read(ctx, "/api")
	if err != nil {
		return nil, err
	}
	apis, err := d.read(ctx, "/apis")
	if err != nil {
		return nil, err
	}
	out := &Groups{List: legacy.List, Resources: legacy.Resources, Failed: legacy.Failed}
	out.List.Groups = append(out.List.Groups, apis.List.Groups...)
	if out.Resources != nil && apis.Resources != nil {
		maps.Copy(out.Resources, apis.Resources)
	} else {
		out.Resources = nil
	}
	maps.Copy(out.Failed, apis.Failed)
	return out, nil
}

// read reads /api or /apis in whichever form the server answers.
func (d *Discovery) read(ctx context.Context, path string) (*Groups, error) {
	// Result.Error, unlike Raw, decodes the server's Status: its message
	// says what failed.
	res := d.rc.Get().AbsPath(path).SetHeader("Accept", acceptDiscovery).Do(ctx)
	err := res.Error()
	var contentType string
	body, _ := res.ContentType(&contentType).Raw()
	out := &Groups{List: &metav1.APIGroupList{}, Failed: map[schema.GroupVersion]error{}}
	switch {
	case err != nil && path == "/api" && apierrors.IsNotFound(err):
		// An API server without the core group (an aggregated one).
		out.Resources = map[schema.GroupVersion]*metav1.APIResourceList{}
		return out, nil
	case err != nil:
		return nil, err
	}
	if isAggregated(contentType) {
		var list apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("decoding the aggregated discovery of %s: %w", path, err)
		}
		return splitAggregated(&list), nil
	}
	if path == "/api" {
		var v metav1.APIVersions
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("decoding the discovery of %s: %w", path, err)
		}
		var g metav1.APIGroup
		for _, version := range v.Versions {
			g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: version, Version: version})
		}
		if len(g.Versions) > 0 {
			g.PreferredVersion = g.Versions[0]
		}
		out.List.Groups = []metav1.APIGroup{g}
		return out, nil
	}
	if err := json.Unmarshal(body, out.List); err != nil {
		return nil, fmt.Errorf("decoding the discovery of %s: %w", path, err)
	}
	return out, nil
}

// isAggregated reports whether a response's content type is aggregated
// discovery, whatever the order of its parameters.
func isAggregated(contentType string) bool {
	base, params, err := mime.ParseMediaType(contentType)
	return err == nil && base == "application/json" &&
		params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList"
}

// splitAggregated turns aggregated discovery into groups and the resources
// of each group version. A stale group version is left out of both and
// reported in Failed; a resource without a kind is left out, as client-go
// does.
func splitAggregated(list *apidiscoveryv2.APIGroupDiscoveryList) *Groups {
	out := &Groups{
		List:      &metav1.APIGroupList{Groups: make([]metav1.APIGroup, 0, len(list.Items))},
		Resources: map[schema.GroupVersion]*metav1.APIResourceList{},
		Failed:    map[schema.GroupVersion]error{},
	}
	for _, ag := range list.Items {
		g := metav1.APIGroup{Name: ag.Name}
		for _, av := range ag.Versions {
			gv := schema.GroupVersion{Group: ag.Name, Version: av.Version}
			if av.Freshness == apidiscoveryv2.DiscoveryFreshnessStale {
				out.Failed[gv] = &StaleGroupVersionError{GroupVersion: gv}
				continue
			}
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: av.Version}
			g.Versions = append(g.Versions, v)
			if len(g.Versions) == 1 {
				g.PreferredVersion = v
			}
			rl := &metav1.APIResourceList{GroupVersion: gv.String()}
			for _, r := range av.Resources {
				if r.ResponseKind == nil || *r.ResponseKind == (metav1.GroupVersionKind{}) {
					continue
				}
				res := metav1.APIResource{
					Name: r.Resource, SingularName: r.SingularResource, Namespaced: r.Scope == apidiscoveryv2.ScopeNamespace,
					Group: r.ResponseKind.Group, Version: r.ResponseKind.Version, Kind: r.ResponseKind.Kind,
					Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories,
				}
				rl.APIResources = append(rl.APIResources, res)
				for _, sr := range r.Subresources {
					if sr.ResponseKind == nil || *sr.ResponseKind == (metav1.GroupVersionKind{}) {
						continue
					}
					rl.APIResources = append(rl.APIResources, metav1.APIResource{
						Name: r.Resource + "/" + sr.Subresource, SingularName: res.SingularName, Namespaced: res.Namespaced,
						Group: sr.ResponseKind.Group, Version: sr.ResponseKind.Version, Kind: sr.ResponseKind.Kind,
						Verbs: sr.Verbs,
					})
				}
			}
			out.Resources[gv] = rl
		}
		out.List.Groups = append(out.List.Groups, g)
	}
	return out
}

// ServerResourcesForGroupVersion reads the resources of one group version
// (/api/v1 or /apis/GROUP/VERSION): what a server without aggregated
// discovery lists only there.
func (d *Discovery) ServerResourcesForGroupVersion(ctx context.Context, gv schema.GroupVersion) (*metav1.APIResourceList, error) {
	path := "/apis/" + gv.String()
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	list := &metav1.APIResourceList{GroupVersion: gv.String()}
	if err := d.rc.Get().AbsPath(path).Do(ctx).Into(list); err != nil {
		if gv.Group == "" && apierrors.IsNotFound(err) {
			return list, nil
		}
		return nil, err
	}
	return list, nil
}

// GroupDiscoveryFailedError names the group versions whose resources could
// not be read; the other group versions' were.
type GroupDiscoveryFailedError struct {
	Groups map[schema.GroupVersion]error
}

func (e *GroupDiscoveryFailedError) Error() string {
	var s []string
	for gv, err := range e.Groups {
		s = append(s, fmt.Sprintf("%s: %v", gv, err))
	}
	sort.Strings(s)
	return "discovery failed for some groups: " + strings.Join(s, "; ")
}

// ServerGroupsAndResources reads every group and every group version's
// resources: two requests with aggregated discovery, else two and one per
// group version (in parallel). Group versions that fail are named in a
// *GroupDiscoveryFailedError returned with what was read.
func (d *Discovery) ServerGroupsAndResources(ctx context.Context) (*metav1.APIGroupList, []*metav1.APIResourceList, error) {
	g, err := d.GroupsAndMaybeResources(ctx)
	if err != nil {
		return nil, nil, err
	}
	resources, failed := g.Resources, g.Failed
	if resources == nil {
		resources = map[schema.GroupVersion]*metav1.APIResourceList{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, group := range g.List.Groups {
			for _, v := range group.Versions {
				gv := schema.GroupVersion{Group: group.Name, Version: v.Version}
				wg.Go(func() {
					l, err := d.ServerResourcesForGroupVersion(ctx, gv)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed[gv] = err
						return
					}
					resources[gv] = l
				})
			}
		}
		wg.Wait()
	}
	var out []*metav1.APIResourceList
	for _, group := range g.List.Groups {
		for _, v := range group.Versions {
			if l, ok := resources[schema.GroupVersion{Group: group.Name, Version: v.Version}]; ok {
				out = append(out, l)
			}
		}
	}
	if len(failed) > 0 {
		return g.List, out, &GroupDiscoveryFailedError{Groups: failed}
	}
	return g.List, out, nil
}

// IsGroupDiscoveryFailed reports whether err is (or wraps) a
// *GroupDiscoveryFailedError.
func IsGroupDiscoveryFailed(err error) bool {
	var e *GroupDiscoveryFailedError
	return errors.As(err, &e)
}
