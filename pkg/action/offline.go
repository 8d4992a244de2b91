package action

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// An offline render (build and diff with --offline) runs the run's own
// render path, syncrun.Render, against no cluster at all: OfflineConfig is a
// REST config whose requests never leave the process and are answered as an
// empty cluster of the client's Kubernetes version would answer them.
// Discovery lists the built-in kinds (client-go's, plus
// CustomResourceDefinition and APIService), so that namespaced and
// cluster-scoped objects are told apart as the API server would; custom
// resources resolve through the CRDs in the render, as in a run. Every
// object read is not found: no inventory (nothing is stale), no Secret, no
// ConfigMap, so a spec whose secretRef, substituteFrom or valuesFrom name
// cluster objects cannot be rendered offline (unless they are optional).

// clusterScoped are the built-in kinds that are not namespaced. Discovery
// serves everything else in client-go's scheme as namespaced; a test
// compares both with the test cluster's own discovery.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true, {Kind: "Node"}: true, {Kind: "PersistentVolume"}: true, {Kind: "ComponentStatus"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "authentication.k8s.io", Kind: "SelfSubjectReview"}:                       true,
	{Group: "authentication.k8s.io", Kind: "TokenReview"}:                             true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"}:                  true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectRulesReview"}:                   true,
	{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"}:                      true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle"}:                        true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                       true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}:       true,
	{Group: "internal.apiserver.k8s.io", Kind: "StorageVersion"}:                      true,
	{Group: "networking.k8s.io", Kind: "IPAddress"}:                                   true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "networking.k8s.io", Kind: "ServiceCIDR"}:                                 true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:                                   true,
	{Group: "resource.k8s.io", Kind: "DeviceTaintRule"}:                               true,
	{Group: "resource.k8s.io", Kind: "ResourceSlice"}:                                 true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "CSINode"}:                                        true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:                               true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}:                          true,
	{Group: "storagemigration.k8s.io", Kind: "StorageVersionMigration"}:               true,
}

// notKinds are types of client-go's scheme that are no resources.
var notKinds = []string{"Status", "WatchEvent", "APIVersions", "APIGroup", "APIGroupList", "APIResourceList", "Eviction", "Scale", "TokenRequest"}

// builtinResources returns the discovery documents of the built-in kinds,
// by group version, computed once.
var builtinResources = sync.OnceValue(func() map[schema.GroupVersion][]metav1.APIResource {
	gvks := []schema.GroupVersionKind{
		{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
		{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"},
	}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		k := gvk.Kind
		if strings.HasSuffix(k, "List") || strings.HasSuffix(k, "Options") || slices.Contains(notKinds, k) || gvk.Version == "__internal" {
			continue
		}
		gvks = append(gvks, gvk)
	}
	out := map[schema.GroupVersion][]metav1.APIResource{}
	for _, gvk := range gvks {
		plural, singular := meta.UnsafeGuessKindToResource(gvk)
		out[gvk.GroupVersion()] = append(out[gvk.GroupVersion()], metav1.APIResource{
			Name: plural.Resource, SingularName: singular.Resource, Kind: gvk.Kind,
			Namespaced: !clusterScoped[gvk.GroupKind()],
			Verbs:      metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"},
		})
	}
	for gv := range out {
		slices.SortFunc(out[gv], func(a, b metav1.APIResource) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
})

// OfflineConfig returns the REST config of an offline render: see above.
func OfflineConfig() *rest.Config {
	return &rest.Config{Host: "http://offline.invalid", Transport: offlineTransport{}}
}

// offlineTransport answers an offline render's requests in-process.
type offlineTransport struct{}

// RoundTrip answers discovery and version requests, and "not found" to
// everything else.
func (offlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close() // nothing is read: the answer does not depend on it
	}
	res := builtinResources()
	path := strings.TrimSuffix(req.URL.Path, "/")
	var body any
	switch parts := strings.Split(strings.TrimPrefix(path, "/"), "/"); {
	case req.Method != http.MethodGet:
	case path == "/version":
		body = &version.Info{Major: "1", Minor: clientMinor, GitVersion: "v1." + clientMinor + ".0", Platform: "offline"}
	case path == "/api":
		body = &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}}
	case path == "/apis":
		body = groupList(res)
	case len(parts) == 2 && parts[0] == "api":
		if list, ok := resourceList(res, schema.GroupVersion{Version: parts[1]}); ok {
			body = list
		}
	case len(parts) == 3 && parts[0] == "apis":
		if list, ok := resourceList(res, schema.GroupVersion{Group: parts[1], Version: parts[2]}); ok {
			body = list
		}
	}
	if body == nil {
		return jsonResponse(req, http.StatusNotFound, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
			Message: req.URL.Path + ": not read: --offline reads nothing from a cluster",
		})
	}
	return jsonResponse(req, http.StatusOK, body)
}

func groupList(res map[schema.GroupVersion][]metav1.APIResource) *metav1.APIGroupList {
	byGroup := map[string][]string{}
	for gv := range res {
		if gv.Group != "" {
			byGroup[gv.Group] = append(byGroup[gv.Group], gv.Version)
		}
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		versions := byGroup[g]
		slices.SortFunc(versions, func(a, b string) int { return -compareVersions(a, b) })
		group := metav1.APIGroup{Name: g}
		for _, v := range versions {
			group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
		}
		group.PreferredVersion = group.Versions[0]
		list.Groups = append(list.Groups, group)
	}
	return list
}

func resourceList(res map[schema.GroupVersion][]metav1.APIResource, gv schema.GroupVersion) (*metav1.APIResourceList, bool) {
	r, ok := res[gv]
	if !ok {
		return nil, false
	}
	return &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String(), APIResources: r}, true
}

// compareVersions orders Kubernetes API versions as discovery prefers
// them: GA before beta before alpha, higher before lower.
func compareVersions(a, b string) int {
	rank := func(v string) (int, string) {
		switch {
		case strings.Contains(v, "alpha"):
			return 0, v
		case strings.Contains(v, "beta"):
			return 1, v
		}
		return 2, v
	}
	ra, va := rank(a)
	rb, vb := rank(b)
	if ra != rb {
		return ra - rb
	}
	if len(va) != len(vb) {
		return len(va) - len(vb)
	}
	return strings.Compare(va, vb)
}

func jsonResponse(req *http.Request, code int, body any) (*http.Response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(data)),
		ContentLength: int64(len(data)), Request: req,
	}, nil
}

// clientMinor is the minor Kubernetes version of the client-go gitsync is
// built with (client-go v0.37.x is Kubernetes 1.37), which an offline render
// reports as the cluster's (Helm's capabilities). A test keeps it equal to
// go.mod's.
const clientMinor = "37"
