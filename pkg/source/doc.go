// Package source is gitsync's source stage: the seam every kind of source
// plugs into, and the Git kind.
//
// # The seam
//
// A Source resolves cheaply to a Revision (Resolve) and fetches exactly
// that revision into a private directory (Fetch), bounded in size and
// confined to the directory. Every kind implements it: Git here (NewGit),
// charts of Helm repositories in pkg/helm (helm.NewSource), and the kinds
// to come. Shared by all kinds, so that none has its own:
//
//   - Revision: Flux's revision format, parsed, shortened, compared and
//     pinned in one place;
//   - Credentials and CredentialsFromSecret: one reader of a credentials
//     Secret, with Flux's keys, for every kind;
//   - the errors callers branch on (ErrAuthentication, ErrRefNotFound,
//     ErrTooLarge, ...), which every kind wraps;
//   - Cache: one run resolves each source once and fetches each revision
//     once, however many parts of the run use it;
//   - URL redaction, in pkg/redact, which every kind applies to its errors
//     and logs;
//   - ignore rules (ApplyIgnore, WithIgnore): Flux's .sourceignore files,
//     spec.ignore and default exclusions, applied to the fetched tree of
//     every kind that has an ignore field;
//   - ErrUnverified, which every kind that checks signatures wraps, and
//     Artifact.VerifiedBy, the key that signed what was fetched.
//
// This package knows nothing of the Sync spec; pkg/source/fromspec maps
// the spec's source onto a Source, and is the only place that lists the
// kinds.
//
// The rest of this documentation is about Git, which speaks Git through
// go-git (smart HTTP(S) and SSH; no git binary is needed in the sync-job
// image): GitOptions and GitRef are plain structs, and Resolve and Fetch
// work on them directly; NewGit wraps them as a Source.
//
// # References
//
// GitRef follows Flux's GitRepository .spec.ref: the fields are Branch, Tag,
// SemVer, Name and Commit, and when several are set the later one in that list
// wins (Commit > Name > SemVer > Tag > Branch). Commit may be combined with
// Branch, which then narrows what is fetched. Unlike Flux, an empty GitRef
// means the remote's default branch (what HEAD names, as `git clone` does), not
// "master".
//
// # Revisions
//
// Revisions use Flux's format, so a Flux user reads them at once:
//
//	main@sha1:<40 hex>              branch (also the default branch)
//	v1.2.0@sha1:<40 hex>            tag or semver; for an annotated tag the
//	                                commit it points to, never the tag object
//	refs/heads/main@sha1:<40 hex>   name (the full ref name as given)
//	sha1:<40 hex>                   commit
//	main@sha1:<40 hex>              commit together with branch
//
// Resolve and Fetch give the same Revision for the same remote state. Each
// Fetch is a fresh clone, so a force-pushed branch is simply fetched at its
// new head.
//
// # What Fetch fetches
//
// Branches, tags, semver tags and name refs are fetched with depth 1 and only
// that one ref (no other branches, no tags). A commit that is not the tip of a
// ref is asked for directly by id (depth 1); go-git can do that only when the
// server advertises allow-reachable-sha1-in-want or allow-tip-sha1-in-want
// (uploadpack.allowReachableSHA1InWant; GitHub, GitLab and `git http-backend`
// with that setting do). Otherwise, or when the server refuses the id, Fetch
// falls back to a full clone of Branch (when set) or of all branches and tags,
// and checks the commit out of that; Artifact.Shallow is false then. When
// Commit and Branch are both set and the commit is fetched directly, Fetch
// does not verify that the commit is on the branch (that needs the branch's
// history); the commit id pins the content either way.
//
// # Limits and confinement
//
// GitOptions.MaxSize caps the bytes Fetch writes below the directory: the
// received packfile and its index, the rest of the .git metadata, and the
// checked-out files, counted together — that is the peak disk use of a fetch.
// Crossing it aborts the transfer or the checkout with ErrTooLarge. A file
// that compresses well cannot sneak past it: the checkout is counted
// uncompressed.
//
// Paths are confined by go-git's worktree itself: go-git v5.19 refuses tree
// paths with "." or ".." components or control characters, ".git" (and its
// NTFS/HFS spellings) as a first or inner component, and writes through a
// symlinked parent directory. Below that, the directory is opened with
// go-billy's bound OS filesystem, which keeps every path below its base.
// After the checkout Fetch resolves every symlink step by step and refuses
// the whole fetch (ErrUnsafeSymlink) when one is absolute, leaves the
// directory at any step, or points into .git: after submodules and
// includes are in place, so that their links are checked against the whole
// checkout too.
//
// # Signatures
//
// With GitOptions.Verify, Fetch checks signatures after the transfer and
// before the checkout, so unverified content is never written out: the
// commit's (VerifyHEAD), the annotated tag's the ref selects (VerifyTag),
// or both (VerifyTagAndHEAD), against OpenPGP keys (through
// github.com/ProtonMail/go-crypto) and SSH keys (SSHSIG in Git's "git"
// namespace, through github.com/hiddeco/sshsig, as fluxcd/pkg does),
// read from a Secret with VerificationKeysFromSecret. In the tag modes the
// tag is fetched by name, so that its object is there, and must point to
// the commit of the revision.
//
// # Sparse checkout, submodules, includes
//
// GitOptions.SparseCheckout checks out only some directories. go-git's
// fetch cannot leave blobs out, so when the server advertises the filter
// capability, Fetch speaks upload-pack itself: the commit and its trees
// with filter blob:none, then the sparse directories' blobs by id. A
// server that cannot do either gets a whole shallow fetch, checked out
// sparsely.
//
// GitOptions.RecurseSubmodules fetches submodules into their paths, each
// at its recorded commit, by the same code as the repository itself (so
// shallow, confined and under the same size cap), with the repository's
// credentials only on the repository's own host.
//
// GitOptions.Include copies paths of other repositories into the checkout.
// NewGit's Resolve resolves them too, and its ContentDigest changes when
// one of them moves, so that a run renders again although the revision is
// the same; its Fetch fetches them at the revisions Resolve saw.
//
// # Authentication
//
// HTTP(S): basic auth (Auth.Username/Password) or a bearer token
// (Auth.BearerToken), and Auth.CAPEM added to the system roots. http:// URLs
// need GitOptions.Insecure. SSH: Auth.Identity (with Auth.IdentityPassphrase
// when encrypted) and Auth.KnownHosts, which is required — there is no way to
// skip host key checking. RSA identities under 2048 bits are refused
// (ErrInvalidOptions) before anything is dialled. Errors wrap ErrAuthentication when the server
// refused the credentials (errors.Is also matches go-git's
// transport.ErrAuthenticationRequired or ErrAuthorizationFailed for HTTP), and
// ErrHostKey when the SSH host key is unknown or does not match.
//
// Every error names the URL as given, redacted (pkg/redact: the userinfo of
// an https:// URL, query values and the fragment are masked), and the ref,
// e.g. `https://git.example/app.git: ref branch "x": not found`. Errors of
// go-git and net/http that quote the URL are redacted the same way.
package source
