package helm

import (
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/gitsync/gitsync/pkg/kube"
)

// ClusterCapabilities asks the cluster's discovery API for what a real
// `helm install` puts into .Capabilities: the server's version (for
// RenderOptions.KubeVersion) and its API versions, "group/version" and
// "group/version/Kind" (for RenderOptions.APIVersions), sorted. An
// aggregated API that fails discovery is left out rather than failing the
// run, as Helm does. It costs the requests of one discovery pass; a caller
// asks once per run.
func ClusterCapabilities(ctx context.Context, dc *kube.Discovery) (kubeVersion string, apiVersions []string, err error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	v, err := dc.ServerVersion(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("discovery: server version: %w", err)
	}
	groups, resources, err := dc.ServerGroupsAndResources(ctx)
	if err != nil && !kube.IsGroupDiscoveryFailed(err) {
		return "", nil, fmt.Errorf("discovery: API versions: %w", err)
	}
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, gv := range g.Versions {
			seen[gv.GroupVersion] = true
		}
	}
	for _, r := range resources {
		for _, res := range r.APIResources {
			seen[path.Join(r.GroupVersion, res.Kind)] = true
		}
	}
	apiVersions = make([]string, 0, len(seen))
	for k := range seen {
		apiVersions = append(apiVersions, k)
	}
	slices.Sort(apiVersions)
	return v.GitVersion, apiVersions, ctx.Err()
}
