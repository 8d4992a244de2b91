package source

import "strings"

// Revision identifies one exact state of a source, in Flux's format. It is
// what a run records, what history lists and what a rollback pins:
//
//	main@sha1:<40 hex>          Git branch (also the default branch)
//	v1.2.0@sha1:<40 hex>        Git tag or semver tag
//	refs/heads/main@sha1:<hex>  Git ref name (the full name as given)
//	sha1:<40 hex>               Git commit
//	1.2.3                       chart version of an HTTP(S) repository
//	1.2.3@sha256:<64 hex>       chart version and manifest digest (OCI)
//	<tag>@sha256:<64 hex>       OCI artifact
//	sha256:<64 hex>             bucket listing, or an artifact by digest
//
// In general: an optional name (what the revision was selected by) and an
// optional digest "<algorithm>:<hex>" (what pins its content), joined by
// "@" when both are there. This type is the one parser of that format:
// Name, Digest, Commit, Short and Same all read it the same way, so no
// other package splits revisions itself.
type Revision string

// digestAlgorithms are the digest algorithms a revision may name.
var digestAlgorithms = []string{"sha1", "sha256", "sha384", "sha512", "blake3"}

// parse splits r into its name and digest. A digest is a known algorithm,
// ':' and one or more hex digits, alone or after the last '@'; anything
// else is a name. Hex of any length counts, so that shortened revisions
// in old records still parse; Commit checks the length where it matters.
func (r Revision) parse() (name, digest string) {
	s := string(r)
	at := strings.LastIndexByte(s, '@')
	if isDigest(s[at+1:]) {
		if at < 0 {
			return "", s
		}
		return s[:at], s[at+1:]
	}
	return s, ""
}

// isDigest reports whether s is "<algorithm>:<hex>".
func isDigest(s string) bool {
	algo, hex, ok := strings.Cut(s, ":")
	if !ok || hex == "" {
		return false
	}
	known := false
	for _, a := range digestAlgorithms {
		known = known || algo == a
	}
	if !known {
		return false
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Name returns what the revision was selected by: "main", "v1.2.0",
// "refs/heads/main", "1.2.3"; "" for a bare commit or digest.
func (r Revision) Name() string {
	name, _ := r.parse()
	return name
}

// Digest returns the digest that pins the revision's content,
// "sha1:<hex>" or "sha256:<hex>"; "" when the revision has none (a chart
// version of an HTTP repository).
func (r Revision) Digest() string {
	_, digest := r.parse()
	return digest
}

// Commit returns the Git commit id in the revision, or "" when it holds
// none: its digest must be sha1 with 40 hex digits.
func (r Revision) Commit() string {
	id, ok := strings.CutPrefix(r.Digest(), "sha1:")
	if !ok || !sha1Hex.MatchString(id) {
		return ""
	}
	return id
}

// Short returns the revision for tables: the digest's hex cut to 8
// digits ("main@sha1:3f2a1b2c"). A revision without a digest is returned
// as it is.
func (r Revision) Short() string {
	name, digest := r.parse()
	algo, hex, _ := strings.Cut(digest, ":")
	if len(hex) <= 8 {
		return string(r)
	}
	if name == "" {
		return algo + ":" + hex[:8]
	}
	return name + "@" + algo + ":" + hex[:8]
}

// Same reports whether r and other name the same content: the same digest
// when both have one ("main@sha1:X", a run following the branch, and
// "sha1:X", a run pinned to X, are the same), otherwise the same text.
func (r Revision) Same(other Revision) bool {
	a, b := r.Digest(), other.Digest()
	if a != "" && b != "" {
		return strings.EqualFold(a, b)
	}
	return r == other
}

// String returns the revision as is.
func (r Revision) String() string { return string(r) }
