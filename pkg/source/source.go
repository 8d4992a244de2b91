package source

import "context"

// Source is one source of configuration, of any kind: a Git repository, a
// chart in a Helm repository, and the kinds to come (OCI artifacts,
// buckets). A run resolves it, compares the revision with the one it
// applied last, and fetches only when they differ.
//
// A Source is made for one run (fromspec.New builds one from a Sync spec)
// and is not shared between runs: it may remember what its Resolve saw so
// that Fetch need not ask again. Its methods may be called from several
// goroutines; Cache serializes the calls for one source.
type Source interface {
	// Resolve returns the revision the source names now, as cheaply as the
	// kind allows: one ref listing for Git, one index read or tag listing
	// for charts; never a download of the content. A source pinned to a
	// revision (a rollback) returns that revision.
	Resolve(ctx context.Context) (Revision, error)

	// Fetch writes exactly the content of rev, as Resolve returned it,
	// into dir: an existing, empty directory private to the caller, who
	// removes it afterwards, also when Fetch fails. The content is bounded
	// in size and confined to dir (no path or symlink leads out of it).
	Fetch(ctx context.Context, rev Revision, dir string) (*Artifact, error)
}

// ContentDigester is implemented by a Source that learns a digest of the
// content when it resolves, which its revision need not show: a chart
// version of an HTTP repository is the whole revision, yet the repository
// may republish that version with other content. ContentDigest returns
// that digest for rev, as the last Resolve saw it ("" when unknown); the
// run treats a change of it like a change of its inputs, and renders
// again.
type ContentDigester interface {
	ContentDigest(rev Revision) string
}

// Artifact is what Fetch fetched: a tree of files in a directory.
type Artifact struct {
	// Dir is the directory Fetch was given, holding the content: a Git
	// checkout (with .git only with GitOptions.KeepGitDir), or a packaged
	// chart.
	Dir string
	// Path, when set, is the one file or directory below Dir, slash
	// separated, that the source itself designates: the packaged chart
	// (.tgz) of a Helm repository. Empty when the whole tree is the
	// content and the spec's path selects what to render.
	Path string
	// Revision is the revision fetched.
	Revision Revision
	// Commit is the Git commit checked out, 40 hex digits; empty for other
	// kinds.
	Commit string
	// Shallow is true when a Git fetch fetched only the commit itself
	// (depth 1); false for a full clone (see the package documentation)
	// and for other kinds.
	Shallow bool
	// Verified names the key whose signature over the content verified,
	// as "<provider> <key name> <key id>" (an OCI artifact: "cosign
	// cosign.pub sha256:<hex of the public key>"); "" when the spec asks
	// for no verification. A run records it.
	Verified string
}
