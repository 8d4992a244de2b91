package render

import (
	_ "embed"
	"fmt"
	"slices"
	"sort"
	"sync"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	sigsyaml "sigs.k8s.io/yaml"
)

//go:generate go run ./internal/kustdefaults/gen -o kustomize_defaults.yaml

// kustomizeDefaults is kustomize's default transformer configuration, as
// the kustomize/api version in go.mod defines it in an internal package;
// TestKustomizeDefaultsCurrent fails when it is stale.
//
//go:embed kustomize_defaults.yaml
var kustomizeDefaults []byte

// transformerConfig holds the parts of kustomize's transformer
// configuration that the linear path uses, with kustomize's field names.
type transformerConfig struct {
	NamePrefix    types.FsSlice `json:"namePrefix,omitempty"`
	NameSuffix    types.FsSlice `json:"nameSuffix,omitempty"`
	NameSpace     types.FsSlice `json:"namespace,omitempty"`
	NameReference backRefs      `json:"nameReference,omitempty"`
	Images        types.FsSlice `json:"images,omitempty"`
}

// backRef says which fields of which kinds (Referrers) may hold the name of
// an object of kind Gvk.
type backRef struct {
	resid.Gvk `json:",inline,omitempty"`
	Referrers types.FsSlice `json:"fieldSpecs,omitempty"`
}

// backRefs sorts the way kustomize sorts its name-reference list, so that
// filters run in the same order.
type backRefs []backRef

func (s backRefs) Len() int           { return len(s) }
func (s backRefs) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s backRefs) Less(i, j int) bool { return s[i].Gvk.IsLessThan(s[j].Gvk) }

// merge combines two configurations as kustomize merges the configuration
// of a kustomization with that of each base and with the defaults: field
// specs already present are skipped, name references to the same kind are
// combined, and every list is sorted afterwards.
func (t *transformerConfig) merge(in *transformerConfig) (*transformerConfig, error) {
	out := &transformerConfig{}
	var err error
	for _, f := range []struct {
		dst       *types.FsSlice
		cur, more types.FsSlice
	}{
		{&out.NamePrefix, t.NamePrefix, in.NamePrefix},
		{&out.NameSuffix, t.NameSuffix, in.NameSuffix},
		{&out.NameSpace, t.NameSpace, in.NameSpace},
		{&out.Images, t.Images, in.Images},
	} {
		// Clone so that neither appending nor sorting touches the
		// inputs, which may be the shared defaults.
		if *f.dst, err = slices.Clone(f.cur).MergeAll(f.more); err != nil {
			return nil, err
		}
	}
	out.NameReference = slices.Clone(t.NameReference)
	for _, br := range in.NameReference {
		if out.NameReference, err = out.NameReference.mergeOne(br); err != nil {
			return nil, err
		}
	}
	sort.Sort(out.NamePrefix)
	sort.Sort(out.NameSuffix)
	sort.Sort(out.NameSpace)
	sort.Sort(out.NameReference)
	sort.Sort(out.Images)
	return out, nil
}

func (s backRefs) mergeOne(other backRef) (backRefs, error) {
	var out backRefs
	found := false
	for _, c := range s {
		if c.Gvk.Equals(other.Gvk) {
			merged, err := slices.Clone(c.Referrers).MergeAll(other.Referrers)
			if err != nil {
				return nil, err
			}
			c.Referrers = merged
			found = true
		}
		out = append(out, c)
	}
	if !found {
		out = append(out, other)
	}
	return out, nil
}

// defaultTransformerConfig returns kustomize's defaults, parsed and sorted
// as kustomize parses them, once per process; callers only read it (merge
// copies).
var defaultTransformerConfig = sync.OnceValues(func() (*transformerConfig, error) {
	var t transformerConfig
	if err := sigsyaml.Unmarshal(kustomizeDefaults, &t); err != nil {
		return nil, fmt.Errorf("kustomize default configuration: %w", err)
	}
	sort.Sort(t.NamePrefix)
	sort.Sort(t.NameSuffix)
	sort.Sort(t.NameSpace)
	sort.Sort(t.NameReference)
	sort.Sort(t.Images)
	return &t, nil
})
