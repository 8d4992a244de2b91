package source

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
)

// GitRef says which revision of a repository to sync. Field names and
// precedence follow Flux's GitRepository .spec.ref: when several fields are
// set, Commit wins over Name, Name over SemVer, SemVer over Tag, and Tag over
// Branch. The zero value means the remote's default branch.
type GitRef struct {
	// Branch is a branch name ("main"). With Commit it narrows the fetch to
	// that branch.
	Branch string
	// Tag is a tag name ("v1.2.0"), lightweight or annotated.
	Tag string
	// SemVer is a Masterminds/semver constraint (">=1.2.0 <2.0.0", "~1.2");
	// the highest tag that parses as a version (with or without a leading
	// "v", three dot-separated parts) and satisfies it is used.
	SemVer string
	// Name is a full ref name: "refs/heads/main", "refs/tags/v1",
	// "refs/pull/42/head". A "^{}" suffix on a tag is accepted and ignored:
	// tags are always peeled to their commit.
	Name string
	// Commit is a full 40-hex SHA-1 commit id.
	Commit string
}

// refKind is the field of a GitRef that is in effect.
type refKind int

const (
	refDefault refKind = iota
	refBranch
	refTag
	refSemVer
	refName
	refCommit
)

// kind returns the field in effect, by Flux's precedence.
func (r GitRef) kind() refKind {
	switch {
	case r.Commit != "":
		return refCommit
	case r.Name != "":
		return refName
	case r.SemVer != "":
		return refSemVer
	case r.Tag != "":
		return refTag
	case r.Branch != "":
		return refBranch
	}
	return refDefault
}

// String names the ref as errors and logs show it: `branch "main"`,
// `semver ">=1.0"`, `commit "0a1b…" on branch "main"`, `default branch`.
func (r GitRef) String() string {
	switch r.kind() {
	case refCommit:
		if r.Branch != "" {
			return fmt.Sprintf("commit %q on branch %q", r.Commit, r.Branch)
		}
		return fmt.Sprintf("commit %q", r.Commit)
	case refName:
		return fmt.Sprintf("name %q", r.Name)
	case refSemVer:
		return fmt.Sprintf("semver %q", r.SemVer)
	case refTag:
		return fmt.Sprintf("tag %q", r.Tag)
	case refBranch:
		return fmt.Sprintf("branch %q", r.Branch)
	}
	return "default branch"
}

// sha1Hex matches a full SHA-1 object id.
var sha1Hex = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// validate checks the fields in effect; its messages leave out the ref,
// which the caller's prefix names. It returns the parsed semver constraint
// when SemVer is in effect.
func (r GitRef) validate() (*semver.Constraints, error) {
	checkName := func(name string) error {
		if err := plumbing.ReferenceName(name).Validate(); err != nil {
			return errors.New("not a valid Git ref name")
		}
		return nil
	}
	switch r.kind() {
	case refCommit:
		if !sha1Hex.MatchString(r.Commit) {
			return nil, errors.New("want a full 40-character hexadecimal SHA-1 commit id")
		}
		if r.Branch != "" {
			if err := checkName("refs/heads/" + r.Branch); err != nil {
				return nil, fmt.Errorf("branch: %w", err)
			}
		}
	case refName:
		name := strings.TrimSuffix(r.Name, peeledSuffix)
		if !strings.HasPrefix(name, "refs/") {
			return nil, errors.New("want a full ref name starting with refs/")
		}
		if name != r.Name && !plumbing.ReferenceName(name).IsTag() {
			return nil, fmt.Errorf("%s is only meaningful on tags", peeledSuffix)
		}
		return nil, checkName(name)
	case refSemVer:
		c, err := semver.NewConstraint(r.SemVer)
		if err != nil {
			return nil, err
		}
		return c, nil
	case refTag:
		return nil, checkName("refs/tags/" + r.Tag)
	case refBranch:
		return nil, checkName("refs/heads/" + r.Branch)
	}
	return nil, nil
}

// peeledSuffix marks the commit an annotated tag points to in a ref listing.
const peeledSuffix = "^{}"

// remoteRefs is a ref listing: ref name → object id, with "^{}" entries for
// peeled annotated tags, and the symbolic target of HEAD when the server
// tells it.
type remoteRefs struct {
	ids  map[plumbing.ReferenceName]plumbing.Hash
	head plumbing.ReferenceName // target of HEAD; empty when unknown
	// wantAnyCommit is true when the server advertises
	// allow-reachable-sha1-in-want: any reachable commit can be fetched by
	// id.
	wantAnyCommit bool
	// filter is true when the server advertises the filter capability
	// (uploadpack.allowFilter): it can leave blobs out of a packfile.
	filter bool
}

// newRemoteRefs indexes what go-git's remote listing returned.
func newRemoteRefs(list []*plumbing.Reference) remoteRefs {
	rr := remoteRefs{ids: make(map[plumbing.ReferenceName]plumbing.Hash, len(list))}
	for _, ref := range list {
		switch ref.Type() {
		case plumbing.SymbolicReference:
			if ref.Name() == plumbing.HEAD {
				rr.head = ref.Target()
			}
		case plumbing.HashReference:
			rr.ids[ref.Name()] = ref.Hash()
		}
	}
	return rr
}

// commitOf returns the commit a ref names: for an annotated tag the peeled
// id, otherwise the ref's own id.
func (rr remoteRefs) commitOf(name plumbing.ReferenceName) (plumbing.Hash, bool) {
	if id, ok := rr.ids[name+peeledSuffix]; ok {
		return id, true
	}
	id, ok := rr.ids[name]
	return id, ok
}

// tipOf returns a ref whose commit is id: ref itself when given, otherwise
// the first branch, then tag, then other ref in name order. It returns ""
// when id is no ref's tip.
func (rr remoteRefs) tipOf(id plumbing.Hash, ref plumbing.ReferenceName) plumbing.ReferenceName {
	if ref != "" {
		if got, ok := rr.commitOf(ref); ok && got == id {
			return ref
		}
		return ""
	}
	var names []plumbing.ReferenceName
	for name := range rr.ids {
		if !strings.HasSuffix(name.String(), peeledSuffix) && strings.HasPrefix(name.String(), "refs/") {
			names = append(names, name)
		}
	}
	rank := func(n plumbing.ReferenceName) int {
		switch {
		case n.IsBranch():
			return 0
		case n.IsTag():
			return 1
		}
		return 2
	}
	slices.SortFunc(names, func(a, b plumbing.ReferenceName) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a.String(), b.String())
	})
	for _, name := range names {
		if got, _ := rr.commitOf(name); got == id {
			return name
		}
	}
	return ""
}

// target is a ref resolved against the remote: which ref to fetch, and how
// the revision names it.
type target struct {
	// ref is the full ref name to fetch; empty for a commit fetched by id.
	ref plumbing.ReferenceName
	// revName is the part of the revision before "@"; empty for a bare
	// commit.
	revName string
	// commit is the commit id, when known from the listing.
	commit plumbing.Hash
}

// revision formats the Flux-style revision for commit.
func (t target) revision(commit plumbing.Hash) Revision {
	if t.revName == "" {
		return Revision("sha1:" + commit.String())
	}
	return Revision(t.revName + "@sha1:" + commit.String())
}

// selectTarget resolves ref against the listing rr.
func selectTarget(ref GitRef, constraint *semver.Constraints, rr remoteRefs) (target, error) {
	found := func(name plumbing.ReferenceName, revName string) (target, error) {
		id, ok := rr.commitOf(name)
		if !ok {
			return target{}, ErrRefNotFound
		}
		return target{ref: name, revName: revName, commit: id}, nil
	}
	switch ref.kind() {
	case refDefault:
		if rr.head == "" || !rr.head.IsBranch() {
			return target{}, fmt.Errorf("the remote does not say which branch HEAD is (set ref.branch): %w", ErrRefNotFound)
		}
		return found(rr.head, rr.head.Short())
	case refBranch:
		return found(plumbing.NewBranchReferenceName(ref.Branch), ref.Branch)
	case refTag:
		return found(plumbing.NewTagReferenceName(ref.Tag), ref.Tag)
	case refName:
		return found(plumbing.ReferenceName(strings.TrimSuffix(ref.Name, peeledSuffix)), ref.Name)
	case refSemVer:
		tag, err := pickSemVer(constraint, rr)
		if err != nil {
			return target{}, err
		}
		return found(plumbing.NewTagReferenceName(tag), tag)
	case refCommit:
		t := target{commit: plumbing.NewHash(strings.ToLower(ref.Commit))}
		if ref.Branch != "" {
			name := plumbing.NewBranchReferenceName(ref.Branch)
			if _, ok := rr.ids[name]; !ok {
				return target{}, fmt.Errorf("branch %q: %w", ref.Branch, ErrRefNotFound)
			}
			t.ref, t.revName = name, ref.Branch
		}
		return t, nil
	}
	return target{}, fmt.Errorf("unknown ref kind %d", ref.kind())
}

// pickSemVer returns the name of the highest tag in rr that satisfies c.
// Tags need three dot-separated parts ("1.2" is not a version here, as in
// Flux); a leading "v" is allowed. Versions that compare equal ("v1.0.0" and
// "1.0.0", or ones differing only in build metadata) are ordered by tag name,
// so the choice is stable across runs.
func pickSemVer(c *semver.Constraints, rr remoteRefs) (string, error) {
	type candidate struct {
		tag string
		v   *semver.Version
	}
	var all []candidate
	var best *candidate
	for name := range rr.ids {
		if !name.IsTag() || strings.HasSuffix(name.String(), peeledSuffix) {
			continue
		}
		tag := name.Short()
		if strings.Count(tag, ".") < 2 {
			continue
		}
		v, err := semver.NewVersion(tag)
		if err != nil {
			continue
		}
		all = append(all, candidate{tag, v})
		if !c.Check(v) {
			continue
		}
		if best == nil {
			best = &candidate{tag, v}
			continue
		}
		if cmp := v.Compare(best.v); cmp > 0 || (cmp == 0 && tag > best.tag) {
			best = &candidate{tag, v}
		}
	}
	if best == nil {
		// Name the highest versions there are, so the message shows how far
		// off the constraint is.
		slices.SortFunc(all, func(a, b candidate) int { return b.v.Compare(a.v) })
		tags := make([]string, len(all))
		for i, c := range all {
			tags[i] = c.tag
		}
		return "", fmt.Errorf("no tag satisfies the constraint (highest version tags: %s): %w", summarize(tags), ErrRefNotFound)
	}
	return best.tag, nil
}

// summarize lists the first ten names for an error message.
func summarize(names []string) string {
	const limit = 10
	switch {
	case len(names) == 0:
		return "none"
	case len(names) <= limit:
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:limit], ", ") + " and " + strconv.Itoa(len(names)-limit) + " more"
}
