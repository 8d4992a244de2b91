// Package source is gitsync's source stage for Git: it resolves a Git
// reference to a revision without cloning (Resolve, one ref listing) and
// fetches exactly that revision into a directory (Fetch), shallow,
// size-capped and with symlinks confined to the directory.
//
// It speaks Git through go-git (smart HTTP(S) and SSH; no git binary is
// needed in the sync-job image). It knows nothing of the Sync spec: the
// orchestrator maps the spec's url, ref and secretRef onto GitOptions, GitRef
// and Auth (AuthFromSecret), which are plain structs. Other kinds of source
// (OCI, Helm repositories, buckets) would get their own options type and
// functions next to these; Revision and Artifact are meant to be shared.
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
// directory at any step, or points into .git. Submodules are not fetched.
//
// # Authentication
//
// HTTP(S): basic auth (Auth.Username/Password) or a bearer token
// (Auth.BearerToken), and Auth.CAFile added to the system roots. http:// URLs
// need GitOptions.Insecure. SSH: Auth.Identity (with Auth.IdentityPassphrase
// when encrypted) and Auth.KnownHosts, which is required — there is no way to
// skip host key checking. Errors wrap ErrAuthentication when the server
// refused the credentials (errors.Is also matches go-git's
// transport.ErrAuthenticationRequired or ErrAuthorizationFailed for HTTP), and
// ErrHostKey when the SSH host key is unknown or does not match.
//
// Every error names the URL as given and the ref, e.g.
// `https://git.example/app.git: ref branch "x": not found`.
package source
