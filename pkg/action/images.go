package action

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/imageupdate"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/fromspec"
)

// ImagesOptions says which syncs Images reports on.
type ImagesOptions struct {
	// Namespace holds the syncs; "" means all namespaces.
	Namespace string
	// Name, when set, reports on that sync only.
	Name string
	// WorkDir holds the checkouts while markers are read. Default
	// os.TempDir().
	WorkDir string
}

// ImagePolicyStatus is one image policy of a sync: a policy of its
// spec.imageUpdate, with what it chooses now and where its markers are,
// or a Flux ImagePolicy an ImageUpdateAutomation unit of its last run
// resolved, as the run recorded it.
type ImagePolicyStatus struct {
	// Sync names the sync.
	Sync Ref `json:"sync"`
	// Policy is "NAMESPACE:POLICY", as markers name it.
	Policy string `json:"policy"`
	// Source is where the policy lives: spec.imageUpdate.policies[i], or
	// the path of units down to the ImageUpdateAutomation that resolved
	// it ("Kustomization/ns/apps > ImageUpdateAutomation/ns/auto").
	Source string `json:"source,omitempty"`
	// Recorded tells that Latest, Tags and Markers are what the sync's
	// last run recorded (a Flux ImagePolicy), not a scan made now.
	Recorded bool `json:"recorded,omitempty"`
	// Image is the repository scanned.
	Image string `json:"image,omitempty"`
	// Latest is the tag the policy chooses now; "" when Error is set.
	Latest string `json:"latest,omitempty"`
	// Tags is the number of tags listed.
	Tags int `json:"tags"`
	// Error says why the policy chose nothing, or that markers name a
	// policy the spec lacks.
	Error string `json:"error,omitempty"`
	// Markers are the policy's markers under spec.imageUpdate.path.
	Markers []ImageMarker `json:"markers,omitempty"`
	// MoreMarkers counts the markers a recorded policy has beyond those
	// listed (inventory.MaxImageMarkers).
	MoreMarkers int `json:"moreMarkers,omitempty"`
}

// ImageMarker is one marker and the value it holds in the repository.
type ImageMarker struct {
	// Location is FILE:LINE, relative to the repository root.
	Location string `json:"location"`
	// Field is "", "tag", "name" or "digest" (setters' fields).
	Field string `json:"field,omitempty"`
	// Value is the value in the file; "" for a recorded marker.
	Value string `json:"value,omitempty"`
	// UpToDate reports whether Value is what the policy chooses now; for
	// a recorded marker, whether the last run left it at Latest on the
	// branch it applies (not on a push branch for review).
	UpToDate bool `json:"upToDate"`
}

// PushAccess is whether a sync's Git credentials may push where its
// image update pushes (source.CheckPush).
type PushAccess struct {
	// Sync names the sync.
	Sync Ref `json:"sync"`
	// Branch is the branch the update pushes to.
	Branch string `json:"branch"`
	// Allowed tells whether the server accepts a push from the
	// credentials; Error says why not.
	Allowed bool   `json:"allowed"`
	Error   string `json:"error,omitempty"`
}

// ImagesResult is what Images found.
type ImagesResult struct {
	// Items are the policies, by sync in spec order.
	Items []ImagePolicyStatus `json:"items"`
	// Push is each sync's write access.
	Push []PushAccess `json:"push"`
}

// Images scans the policies of the syncs opts names and reads their
// markers from each sync's Git source as the spec selects it, then adds
// the Flux ImagePolicies the syncs' last runs recorded. Syncs with
// neither are left out. A policy or checkout that fails is reported in
// its items' Error, not as the call's error.
func Images(ctx context.Context, cfg *Config, opts ImagesOptions) (*ImagesResult, error) {
	var syncs []*Sync
	if opts.Name != "" {
		s, err := GetSync(ctx, cfg, Ref{Name: opts.Name, Namespace: opts.Namespace})
		if err != nil {
			return nil, err
		}
		if s.Spec == nil {
			return nil, s.SpecErr
		}
		if s.Spec.Spec.ImageUpdate == nil && len(fluxImages(s)) == 0 {
			return nil, fmt.Errorf("sync %s: its spec has no imageUpdate, and its last run resolved no Flux ImagePolicy", s.Ref)
		}
		syncs = []*Sync{s}
	} else {
		all, err := ListSyncs(ctx, cfg, ListOptions{Namespace: opts.Namespace})
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			if s.Spec != nil && (s.Spec.Spec.ImageUpdate != nil || len(fluxImages(s)) > 0) {
				syncs = append(syncs, s)
			}
		}
	}
	out := &ImagesResult{Items: []ImagePolicyStatus{}, Push: []PushAccess{}}
	for _, s := range syncs {
		if s.Spec.Spec.ImageUpdate != nil {
			out.Items = append(out.Items, syncImages(ctx, cfg, s, opts.WorkDir)...)
			out.Push = append(out.Push, pushAccess(ctx, cfg, s))
		}
		out.Items = append(out.Items, recordedImages(s)...)
	}
	return out, nil
}

// fluxImages returns the records of the Flux ImagePolicies of the sync's
// last runs.
func fluxImages(s *Sync) []inventory.ImageRecord {
	if s.Inventory == nil {
		return nil
	}
	var out []inventory.ImageRecord
	for _, r := range s.Inventory.Record.Images {
		if r.Automation != "" {
			out = append(out, r)
		}
	}
	return out
}

// recordedImages returns the Flux ImagePolicies of the sync as its last
// runs recorded them, each with the path of units to its automation.
func recordedImages(s *Sync) []ImagePolicyStatus {
	recs := fluxImages(s)
	if len(recs) == 0 {
		return nil
	}
	parents := map[string]string{}
	for _, u := range s.Inventory.Record.Units {
		parents[u.Kind+"/"+u.Namespace+"/"+u.Name] = u.Parent
	}
	out := make([]ImagePolicyStatus, 0, len(recs))
	for _, r := range recs {
		path := []string{r.Automation}
		for p := parents[r.Automation]; p != "" && len(path) < 64; p = parents[p] {
			path = append([]string{p}, path...)
		}
		it := ImagePolicyStatus{Sync: s.Ref, Policy: r.Policy, Source: strings.Join(path, " > "), Recorded: true,
			Image: r.Image, Latest: r.Latest, Tags: r.Tags, MoreMarkers: r.MoreMarkers}
		for _, m := range r.Markers {
			loc, field := m, ""
			if i := strings.LastIndexByte(m, ':'); i > 0 {
				if _, err := strconv.Atoi(m[i+1:]); err != nil {
					loc, field = m[:i], m[i+1:]
				}
			}
			it.Markers = append(it.Markers, ImageMarker{Location: loc, Field: field, UpToDate: !r.Pending})
		}
		out = append(out, it)
	}
	return out
}

// pushAccess checks the write access of the sync's Git credentials.
func pushAccess(ctx context.Context, cfg *Config, s *Sync) PushAccess {
	g := s.Spec.Spec.Source.Git
	pa := PushAccess{Sync: s.Ref, Branch: s.Spec.Spec.ImageUpdate.PushBranch()}
	if pa.Branch == "" {
		pa.Branch = g.Ref.Branch
	}
	opts := source.GitOptions{URL: g.URL, Insecure: g.Insecure, Provider: g.Provider}
	if ref, field := s.Spec.Spec.Source.SecretRef(); ref != nil {
		sec, err := cfg.Client.CoreV1().Secrets(s.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			pa.Error = fmt.Sprintf("%s (%s): %v", object.ID{Kind: "Secret", Namespace: s.Namespace, Name: ref.Name}, field, err)
			return pa
		}
		opts.Auth = source.CredentialsFromSecret(sec.Data)
	}
	if err := source.CheckPush(ctx, opts); err != nil {
		pa.Error = redact.Error(err).Error()
		return pa
	}
	pa.Allowed = true
	return pa
}

func syncImages(ctx context.Context, cfg *Config, s *Sync, workDir string) []ImagePolicyStatus {
	u := s.Spec.Spec.ImageUpdate
	read := func(ctx context.Context, name, field string) (map[string][]byte, error) {
		sec, err := cfg.Client.CoreV1().Secrets(s.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", object.ID{Kind: "Secret", Namespace: s.Namespace, Name: name}, field, err)
		}
		return sec.Data, nil
	}
	items := make([]ImagePolicyStatus, len(u.Policies))
	index := map[string]int{}
	chosen := map[string]setters.Image{}
	flux := map[string]bool{}
	for _, r := range fluxImages(s) {
		flux[r.Policy] = true
	}
	for i := range u.Policies {
		items[i] = ImagePolicyStatus{Sync: s.Ref, Policy: imageupdate.PolicyKey(s.Namespace, u, i), Image: u.Policies[i].ImageRepository.Image,
			Source: fmt.Sprintf("spec.imageUpdate.policies[%d]", i)}
		res, err := imageupdate.ResolvePolicy(ctx, s.Namespace, u, i, read, nil)
		if err != nil {
			items[i].Error = err.Error()
		} else {
			items[i].Latest, items[i].Tags = res.Image.Tag, res.Tags
			chosen[res.Key] = res.Image
		}
		index[items[i].Policy] = i
	}
	markers, err := readMarkers(ctx, s, read, workDir)
	if err != nil {
		for i := range items {
			if items[i].Error == "" {
				items[i].Error = "markers: " + err.Error()
			}
		}
		return items
	}
	for _, m := range markers {
		i, ok := index[m.Policy]
		if !ok && flux[m.Policy] {
			// A Flux ImagePolicy's marker: listed with that policy.
			continue
		}
		if !ok {
			i = len(items)
			index[m.Policy] = i
			items = append(items, ImagePolicyStatus{Sync: s.Ref, Policy: m.Policy, Error: "no such policy in spec.imageUpdate.policies"})
		}
		it := &items[i]
		up := false
		if img, ok := chosen[m.Policy]; ok {
			up = img.Value(m.Field) == m.Value
		}
		it.Markers = append(it.Markers, ImageMarker{Location: m.Location(), Field: m.Field, Value: m.Value, UpToDate: up})
	}
	return items
}

// readMarkers fetches the sync's source as its spec selects it and lists
// the markers under spec.imageUpdate.path.
func readMarkers(ctx context.Context, s *Sync, read imageupdate.SecretReader, workDir string) ([]setters.Marker, error) {
	src := s.Spec.Spec.Source
	var creds source.Credentials
	if ref, field := src.SecretRef(); ref != nil {
		data, err := read(ctx, ref.Name, field)
		if err != nil {
			return nil, err
		}
		creds = source.CredentialsFromSecret(data)
	}
	more := map[string]map[string][]byte{}
	for _, u := range src.MoreSecrets() {
		data, err := read(ctx, u.Name, u.Field)
		if err != nil {
			return nil, err
		}
		more[u.Name] = data
	}
	fs, err := fromspec.New(src, creds, fromspec.Options{Secrets: more})
	if err != nil {
		return nil, redact.Error(err)
	}
	rev, err := fs.Resolve(ctx)
	if err != nil {
		return nil, redact.Error(err)
	}
	dir, err := os.MkdirTemp(workDir, "gitsync-images-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if _, err := fs.Fetch(ctx, rev, dir); err != nil {
		return nil, redact.Error(err)
	}
	path := s.Spec.Spec.ImageUpdate.Path
	if path == "" {
		path = "."
	}
	// Without images nothing is rewritten: Update only reads.
	res, err := setters.Update(ctx, dir, path, nil)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(res.Markers, func(i, j int) bool { return res.Markers[i].File < res.Markers[j].File })
	return res.Markers, nil
}
