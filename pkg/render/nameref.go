package render

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/resid"
)

// fixNameReferences is kustomize's name-reference fixer
// (internal/accumulator/namereferencetransformer.go and
// filters/nameref), rewritten for decoded objects: once names have
// changed, every field that the configuration says may hold the name of
// another object (a Deployment's ConfigMap and Secret references, a
// RoleBinding's roleRef and subjects, an HPA's target, ...) gets that
// object's new name, and for subjects its new namespace.
//
// kustomize hands every possible referrer the whole list of objects its
// namespace lets it see and sieves that list for each field: quadratic. The
// first sieve keeps the objects that once had the name the field holds, so
// here the candidates come from an index by former name, in build order,
// and then pass the same sieves.
func fixNameReferences(ctx context.Context, r *linearRun, refs backRefs) error {
	idx := newRefIndex(r)
	type filter struct {
		spec   *fieldSpec
		target resid.Gvk
	}
	specs := make([][]fieldSpec, len(refs))
	for i, br := range refs {
		specs[i] = newFieldSpecs(br.Referrers)
	}
	filters := map[resid.Gvk][]filter{}
	for i := range r.objs {
		gvk := idx.info[i].orgGvk
		if _, ok := filters[gvk]; ok {
			continue
		}
		var fl []filter
		for b, br := range refs {
			for s := range specs[b] {
				if gvk.IsSelected(&specs[b][s].Gvk) {
					fl = append(fl, filter{spec: &specs[b][s], target: br.Gvk})
				}
			}
		}
		filters[gvk] = fl
	}
	// A referrer's fields change, nothing else: referrers are fixed side
	// by side.
	return linearForEach(ctx, len(r.objs), func(i int) error {
		in := &idx.info[i]
		fl := filters[in.orgGvk]
		if len(fl) == 0 {
			return nil
		}
		obj := r.objs[i].obj
		rb, err := roleBindingNamespaces(in.id.Kind, obj)
		if err != nil {
			return err
		}
		ref := &referrer{idx: idx, i: i, rb: rb, obj: obj}
		for _, f := range fl {
			ref.path, ref.target = f.spec.Path, f.target
			// The filter checks the spec's kind against the referrer's
			// current one, not its original.
			fs := *f.spec
			fs.Gvk = in.gvk
			if err := walkSpec(obj, &fs, 0, ref.set); err != nil {
				return fmt.Errorf("%w: %s: updating name reference in %s: %w", errLinear, in.id, f.spec.Path, err)
			}
		}
		return nil
	})
}

// refInfo is what the sieves read of an object. Names, namespaces and
// kinds do not change while references are fixed.
type refInfo struct {
	id            resid.ResId // now
	gvk           resid.Gvk
	clusterScoped bool
	curNs         string // effective namespace now
	rawNs         string // metadata.namespace now
	orgNs         string // effective namespace before the build
	orgGvk        resid.Gvk
	prev          []resid.ResId
	prefixes      []string
	suffixes      []string
}

type refIndex struct {
	info   []refInfo
	byName map[string][]int32 // former name → objects, in build order
	byOrg  map[string]*nsStat // effective namespace before the build
}

// nsStat summarises the objects that came from one namespace, enough to
// tell whether a referrer can see any of them.
type nsStat struct {
	clusterScoped bool            // one of them is cluster-scoped now
	curNs, rawNs  map[string]bool // where they are now
}

func newRefIndex(r *linearRun) *refIndex {
	idx := &refIndex{
		info:   make([]refInfo, len(r.objs)),
		byName: map[string][]int32{},
		byOrg:  map[string]*nsStat{},
	}
	for i, o := range r.objs {
		cur := r.curID(o)
		prev := r.prevIDs(o)
		org := cur
		if len(prev) > 0 {
			org = prev[0]
		}
		ns, _ := metadata(o.obj)["namespace"].(string)
		in := refInfo{
			id:            cur,
			gvk:           cur.Gvk,
			clusterScoped: cur.IsClusterScoped(),
			curNs:         cur.EffectiveNamespace(),
			rawNs:         ns,
			orgNs:         org.EffectiveNamespace(),
			orgGvk:        org.Gvk,
			prev:          prev,
			prefixes:      o.prefixes,
			suffixes:      o.suffixes,
		}
		idx.info[i] = in
		for _, p := range prev {
			l := idx.byName[p.Name]
			if len(l) == 0 || l[len(l)-1] != int32(i) {
				idx.byName[p.Name] = append(l, int32(i))
			}
		}
		st := idx.byOrg[in.orgNs]
		if st == nil {
			st = &nsStat{curNs: map[string]bool{}, rawNs: map[string]bool{}}
			idx.byOrg[in.orgNs] = st
		}
		st.clusterScoped = st.clusterScoped || in.clusterScoped
		st.curNs[in.curNs] = true
		st.rawNs[in.rawNs] = true
	}
	return idx
}

// referrer fixes the references of one object, field by field.
type referrer struct {
	idx    *refIndex
	i      int
	rb     map[string]bool // namespaces of a RoleBinding's ServiceAccount subjects
	path   string          // the field spec being applied
	target resid.Gvk       // the kind it refers to
	obj    map[string]any
}

// visible is kustomize's SubsetThatCouldBeReferencedByResource: a
// cluster-scoped object on either side, the same namespace, or a
// RoleBinding's ServiceAccount subject namespace.
func (f *referrer) visible(j int32) bool {
	ri, ji := &f.idx.info[f.i], &f.idx.info[j]
	return ri.clusterScoped || ji.clusterScoped || ji.curNs == ri.curNs || f.rb[ji.rawNs]
}

// fromOrgNs reports whether any object the referrer may see came from
// namespace ns.
func (f *referrer) fromOrgNs(ns string) bool {
	st := f.idx.byOrg[ns]
	if st == nil || ns == resid.TotallyNotANamespace {
		return false
	}
	ri := &f.idx.info[f.i]
	if ri.clusterScoped || st.clusterScoped || st.curNs[ri.curNs] {
		return true
	}
	for n := range f.rb {
		if st.rawNs[n] {
			return true
		}
	}
	return false
}

// named returns the visible objects that once had the name, in build order.
func (f *referrer) named(name string, keep func(*refInfo) bool) []int32 {
	var out []int32
	for _, j := range f.idx.byName[name] {
		if f.visible(j) && (keep == nil || keep(&f.idx.info[j])) {
			out = append(out, j)
		}
	}
	return out
}

// set is nameref.Filter.set: a name, a map with name and namespace
// (subjects), or a list of either.
func (f *referrer) set(v any, put func(any)) error {
	switch t := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return f.setMapping(t)
	case []any:
		for i, e := range t {
			switch et := e.(type) {
			case nil:
			case map[string]any:
				if err := f.setMapping(et); err != nil {
					return err
				}
			case []any:
				return errors.New("list element is expected to be either a string or a map of string")
			default:
				if err := f.setScalar(et, func(n any) { t[i] = n }); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return f.setScalar(v, put)
}

func (f *referrer) setScalar(v any, put func(any)) error {
	old, ok := v.(string)
	if !ok {
		return errNotLinear("name reference %v is not a string", v)
	}
	ref, err := f.selectReferral(f.named(old, nil), false)
	if err != nil || ref < 0 {
		return err
	}
	name := f.idx.info[ref].id.Name
	if name == old {
		return nil
	}
	return setComputedName(v, put, name)
}

func (f *referrer) setMapping(m map[string]any) error {
	nameV, ok := m["name"]
	if !ok {
		return errors.New("path config error; no 'name' field in node")
	}
	old, ok := nameV.(string)
	if !ok {
		return errNotLinear("name reference %v is not a string", nameV)
	}
	var keep func(*refInfo) bool
	if nsV, ok := m["namespace"]; ok {
		ns, ok := nsV.(string)
		if !ok {
			return errNotLinear("namespace %v next to a name reference is not a string", nsV)
		}
		if f.fromOrgNs(ns) {
			keep = func(in *refInfo) bool { return in.orgNs == ns }
		} else {
			keep = func(in *refInfo) bool { return in.curNs == ns && ns != resid.TotallyNotANamespace }
		}
	}
	ref, err := f.selectReferral(f.named(old, keep), true)
	if err != nil || ref < 0 {
		return err
	}
	in := &f.idx.info[ref]
	newNs := in.rawNs
	if in.id.Name == old && newNs == "" {
		return nil
	}
	if err := setComputedName(nameV, func(n any) { m["name"] = n }, in.id.Name); err != nil {
		return err
	}
	if newNs == "" {
		return nil
	}
	if cur, ok := m["namespace"]; ok {
		return setComputedName(cur, func(n any) { m["namespace"] = n }, newNs)
	}
	if !plainScalar(newNs) {
		return errNotLinear("namespace %q does not read as a string in YAML", newNs)
	}
	m["namespace"] = newNs
	return nil
}

// selectReferral is nameref's choice among the objects that had the name:
// of the kind the field refers to (for a roleRef, the kind it names), in
// a namespace the referrer may refer to, then with the same name prefixes
// and suffixes. Candidates that would give the same result are as good as
// one; others are an error. It returns -1 when nothing matches.
func (f *referrer) selectReferral(cands []int32, withNs bool) (int32, error) {
	info := f.idx.info
	ri := &info[f.i]
	roleRef, err := f.roleRefGvk()
	if err != nil {
		return -1, err
	}
	cands = sieve(cands, func(j int32) bool {
		if !prevSelected(info[j].prev, &f.target) {
			return false
		}
		if roleRef != nil && !prevSelected(info[j].prev, roleRef) {
			return false
		}
		if ri.clusterScoped || info[j].clusterScoped || info[j].id.Kind == "ServiceAccount" {
			return true
		}
		return ri.curNs == info[j].curNs
	})
	if len(cands) == 1 {
		return cands[0], nil
	}
	cands = sieve(cands, func(j int32) bool { return affixesEqual(ri, &info[j], true) })
	if len(cands) > 1 {
		cands = sieve(cands, func(j int32) bool { return affixesEqual(ri, &info[j], false) })
	}
	switch len(cands) {
	case 0:
		return -1, nil
	case 1:
		return cands[0], nil
	}
	first := &info[cands[0]]
	for _, j := range cands[1:] {
		if info[j].id.Name != first.id.Name || withNs && info[j].rawNs != first.rawNs {
			ids := make([]string, len(cands))
			for k, c := range cands {
				ids[k] = info[c].id.String()
			}
			return -1, fmt.Errorf("found multiple possible referrals: %s", strings.Join(ids, ", "))
		}
	}
	return cands[0], nil
}

// roleRefGvk returns the group and kind a RoleBinding's roleRef names when
// the field being fixed is roleRef/name; nil otherwise, or when roleRef
// lacks them (kustomize then accepts any kind).
func (f *referrer) roleRefGvk() (*resid.Gvk, error) {
	if !strings.HasSuffix(f.path, "roleRef/name") {
		return nil, nil
	}
	rr, ok := f.obj["roleRef"].(map[string]any)
	if !ok {
		return nil, nil
	}
	group, gok := rr["apiGroup"]
	kind, kok := rr["kind"]
	if !gok || !kok {
		return nil, nil
	}
	gs, ok1 := group.(string)
	ks, ok2 := kind.(string)
	if !ok1 || !ok2 {
		return nil, errNotLinear("roleRef apiGroup or kind is not a string")
	}
	return &resid.Gvk{Group: gs, Kind: ks}, nil
}

func prevSelected(prev []resid.ResId, g *resid.Gvk) bool {
	for _, id := range prev {
		if id.IsSelected(g) {
			return true
		}
	}
	return false
}

// affixesEqual is kustomize's PrefixesSuffixesEquals.
func affixesEqual(a, b *refInfo, allowEmpty bool) bool {
	if allowEmpty {
		return (len(a.prefixes) == 0 || len(b.prefixes) == 0 || sameEnding(a.prefixes, b.prefixes)) &&
			(len(a.suffixes) == 0 || len(b.suffixes) == 0 || sameEnding(a.suffixes, b.suffixes))
	}
	return sameEnding(a.prefixes, b.prefixes) && sameEnding(a.suffixes, b.suffixes)
}

// sameEnding reports whether the shorter list is the end of the longer.
func sameEnding(a, b []string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(a) == 0 {
		return len(b) == 0
	}
	return slices.Equal(a, b[len(b)-len(a):])
}

func sieve(l []int32, keep func(int32) bool) []int32 {
	out := l[:0:0]
	for _, j := range l {
		if keep(j) {
			out = append(out, j)
		}
	}
	return out
}

// roleBindingNamespaces returns the namespaces of a RoleBinding's
// ServiceAccount subjects, as kustomize reads them. Where kustomize would
// panic on a malformed subject, it returns an error.
func roleBindingNamespaces(kind string, obj map[string]any) (map[string]bool, error) {
	out := map[string]bool{}
	if kind != "RoleBinding" {
		return out, nil
	}
	subjects, ok := obj["subjects"].([]any)
	if !ok {
		return out, nil
	}
	for i, s := range subjects {
		subject, ok := s.(map[string]any)
		if !ok {
			return nil, errNotLinear("subjects[%d] is not a mapping", i)
		}
		ns, ok1 := subject["namespace"]
		k, ok2 := subject["kind"]
		if !ok1 || !ok2 {
			continue
		}
		ks, ok := k.(string)
		if !ok {
			return nil, errNotLinear("subjects[%d].kind is not a string", i)
		}
		if ks != "ServiceAccount" {
			continue
		}
		n, ok := ns.(string)
		if !ok {
			return nil, errNotLinear("subjects[%d].namespace is not a string", i)
		}
		out[n] = true
	}
	return out, nil
}
