package source

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// transportKind is how a URL is reached.
type transportKind int

const (
	transportHTTPS transportKind = iota
	transportHTTP
	transportSSH
)

// remoteURL is a validated remote: the URL in the form go-git is given, and
// what is needed to pick credentials for it.
type remoteURL struct {
	// url is what go-git dials: https://, http:// or ssh:// (scp-like
	// addresses converted).
	url string
	// kind is the transport.
	kind transportKind
	// user is the SSH login from the URL; empty when the URL names none.
	user string
	// hostPort is host:port as the SSH client dials it (port 22 when the URL
	// has none); known_hosts entries are matched against it.
	hostPort string
}

// parseURL validates raw and converts it for go-git. It accepts https://,
// http:// only when insecure is set, ssh://[user@]host[:port]/path and the
// scp-like [user@]host:path. An scp-like path is relative to the login's home
// directory in Git; the ssh:// form has no way to say that, so "host:org/app"
// becomes ssh://host/org/app, which is the same repository on every hosting
// service. Passwords in URLs are refused: the URL lives in the Sync spec, a
// ConfigMap, and credentials belong in the Secret.
func parseURL(raw string, insecure bool) (remoteURL, error) {
	if raw == "" {
		return remoteURL{}, fmt.Errorf("url is empty")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return remoteURL{}, fmt.Errorf("contains white space or control characters")
	}
	if !strings.Contains(raw, "://") {
		return parseSCP(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return remoteURL{}, fmt.Errorf("not a URL: %w", err)
	}
	if _, has := u.User.Password(); has {
		return remoteURL{}, fmt.Errorf("URL holds a password; put credentials in the Secret instead")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" && scheme != "ssh" {
		return remoteURL{}, fmt.Errorf("scheme %q is not supported (want https://, http:// with insecure, ssh:// or user@host:path)", u.Scheme)
	}
	if u.Hostname() == "" {
		return remoteURL{}, fmt.Errorf("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return remoteURL{}, fmt.Errorf("query and fragment are not supported")
	}
	switch scheme {
	case "https":
		return remoteURL{url: u.String(), kind: transportHTTPS}, nil
	case "http":
		if !insecure {
			return remoteURL{}, fmt.Errorf("plain http:// needs insecure to be set (or use https://)")
		}
		return remoteURL{url: u.String(), kind: transportHTTP}, nil
	default: // ssh
		if strings.Trim(u.Path, "/") == "" {
			return remoteURL{}, fmt.Errorf("no repository path")
		}
		port := u.Port()
		if port == "" {
			port = "22"
		}
		return remoteURL{
			url:      u.String(),
			kind:     transportSSH,
			user:     u.User.Username(),
			hostPort: joinHostPort(u.Hostname(), port),
		}, nil
	}
}

// parseSCP parses the scp-like form [user@]host:path, and [user@][ipv6]:path,
// as Git does: a colon before the first slash. Anything else without a scheme
// (a local path, for instance) is refused.
func parseSCP(raw string) (remoteURL, error) {
	notURL := fmt.Errorf("not a URL (want https://, http:// with insecure, ssh:// or user@host:path)")
	rest, user := raw, ""
	if at := strings.Index(raw, "@"); at >= 0 && !strings.ContainsAny(raw[:at], ":/") {
		user, rest = raw[:at], raw[at+1:]
	}
	var host, path string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return remoteURL{}, notURL
		}
		host, path = rest[1:end], rest[end+2:]
	} else {
		colon := strings.Index(rest, ":")
		if colon < 0 || strings.Contains(rest[:colon], "/") {
			return remoteURL{}, notURL
		}
		host, path = rest[:colon], rest[colon+1:]
	}
	switch {
	case host == "":
		return remoteURL{}, fmt.Errorf("no host")
	case len(host) == 1 && user == "" && strings.HasPrefix(path, `\`):
		return remoteURL{}, fmt.Errorf("a Windows path is not a URL")
	case strings.ContainsAny(host, "@[]/"):
		return remoteURL{}, fmt.Errorf("malformed host %q", host)
	case strings.Trim(path, "/") == "":
		return remoteURL{}, fmt.Errorf("no repository path")
	}
	u := url.URL{Scheme: "ssh", Host: host, Path: "/" + strings.TrimPrefix(path, "/")}
	if strings.Contains(host, ":") { // an IPv6 address
		u.Host = "[" + host + "]"
	}
	if user != "" {
		u.User = url.User(user)
	}
	return remoteURL{url: u.String(), kind: transportSSH, user: user, hostPort: joinHostPort(host, "22")}, nil
}

// joinHostPort is net.JoinHostPort; kept local so url.go has no net import
// for one call.
func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
