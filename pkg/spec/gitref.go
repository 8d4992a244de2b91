package spec

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gitsync/gitsync/pkg/redact"
)

// Describe returns the ref in words for status tables: "branch main",
// "tag v1.2.0", "semver >=1.0.0 <2", "ref refs/pull/1/head", or
// "commit 0123456789ab" (the first 12 hex digits) with " on branch main"
// when a branch is also set. An empty ref is "default branch": the
// branch the remote's HEAD names. When
// an invalid spec sets several fields, the one Flux would use is described.
func (r GitRef) Describe() string {
	switch {
	case r.Commit != "":
		s := "commit " + r.Commit[:min(len(r.Commit), 12)]
		if r.Branch != "" {
			s += " on branch " + r.Branch
		}
		return s
	case r.Name != "":
		return "ref " + r.Name
	case r.SemVer != "":
		return "semver " + r.SemVer
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Branch != "":
		return "branch " + r.Branch
	default:
		return "default branch"
	}
}

// How a Git source authenticates: GitSource.Provider.
const (
	// GitProviderGeneric uses the Secret's credentials as they are.
	GitProviderGeneric = "generic"
	// GitProviderGitHub authenticates as a GitHub App installation.
	GitProviderGitHub = "github"
)

// The ways of reaching a Git repository that GitSource.Scheme reports.
const (
	// SchemeHTTPS is HTTP over TLS.
	SchemeHTTPS = "https"
	// SchemeHTTP is plain HTTP, allowed only with insecure: true.
	SchemeHTTP = "http"
	// SchemeSSH is SSH, from an ssh:// or an scp-like URL.
	SchemeSSH = "ssh"
)

// Scheme returns how the repository is reached: SchemeHTTPS, SchemeHTTP or
// SchemeSSH (also for scp-like URLs such as git@host:org/repo), or "" when
// the URL is not one gitsync accepts.
func (g *GitSource) Scheme() string {
	scheme, _ := gitURLScheme(g.URL)
	return scheme
}

// scpLike matches git's scp-like syntax [user@]host:path, where host is a
// name or a bracketed IPv6 address and path does not start with "//" (which
// would make it a URL).
var scpLike = lazyRegexp(`^(?:[^@/:\s]+@)?(?:\[[0-9A-Fa-f:.]+\]|[^@/:\[\]\s]+):(?:[^/\s]|/[^/\s])\S*$`)

// gitURLScheme classifies a Git URL. It returns the scheme, or "" and why
// the URL is not accepted.
func gitURLScheme(raw string) (scheme, problem string) {
	if strings.ContainsAny(raw, " \t\r\n") {
		return "", "must not contain white space"
	}
	if !strings.Contains(raw, "://") {
		if scpLike().MatchString(raw) {
			return SchemeSSH, ""
		}
		return "", "must be an https://, ssh://, scp-like ([user@]host:path) or, with insecure: true, http:// URL"
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, which may hold credentials.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", "not a URL: " + redact.Text(err.Error())
	}
	s := strings.ToLower(u.Scheme)
	switch s {
	case SchemeHTTPS, SchemeHTTP, SchemeSSH:
	default:
		return "", "scheme " + u.Scheme + " is not supported: use https://, ssh:// or scp-like [user@]host:path"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", "must name a host"
	}
	if _, ok := u.User.Password(); ok {
		return "", "must not contain a password: the spec is stored in a ConfigMap; put credentials in the Secret named by secretRef"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", "must not have a query or fragment: Git does not use them (and a token belongs in the Secret named by secretRef)"
	}
	return s, ""
}
