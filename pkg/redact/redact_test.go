package redact_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/redact"
)

func TestURL(t *testing.T) {
	for raw, want := range map[string]string{
		// Nothing to hide: returned byte for byte.
		"https://h/r":                   "https://h/r",
		"https://H:8443/a%2Fb/r.git":    "https://H:8443/a%2Fb/r.git",
		"oci://registry.example/charts": "oci://registry.example/charts",
		"git@h:org/r.git":               "git@h:org/r.git",
		"ssh://git@h:22/r.git":          "ssh://git@h:22/r.git",
		"not a url":                     "not a url",
		"":                              "",
		// Userinfo, whole.
		"https://TOKEN@h/r":        "https://xxxxx@h/r",
		"https://u:pw@h/r":         "https://xxxxx@h/r",
		"https://:pw@h/r":          "https://xxxxx@h/r",
		"HTTP://u@h":               "HTTP://xxxxx@h",
		"https://a@b@h/r":          "https://xxxxx@h/r",
		"https://h/r@x:y@z":        "https://h/r@x:y@z", // '@' in the path is no userinfo
		"s3://KEY:SECRET@bucket/x": "s3://xxxxx@bucket/x",
		// SSH: the login stays, a password does not.
		"ssh://git:pw@h/r": "ssh://git:xxxxx@h/r",
		// Query values, bare items and the fragment.
		"https://h/i.yaml?token=T&x=1": "https://h/i.yaml?token=xxxxx&x=xxxxx",
		"https://h/?T":                 "https://h/?xxxxx",
		"https://h/?a=b;c=d":           "https://h/?a=xxxxx&c=xxxxx",
		"https://h/?":                  "https://h/?",
		"https://h/#frag":              "https://h/#xxxxx",
		"https://h#":                   "https://h#",
		"https://u@h?t=1#f":            "https://xxxxx@h?t=xxxxx#xxxxx",
	} {
		if got := redact.URL(raw); got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`Get "https://TOKEN@h/r.git/info/refs?service=git-upload-pack": dial tcp: connection refused`: `Get "https://xxxxx@h/r.git/info/refs?service=xxxxx": dial tcp: connection refused`,
		"GET https://h/index.yaml?token=T: 401 Unauthorized":                                          "GET https://h/index.yaml?token=xxxxx: 401 Unauthorized",
		"from https://a@h and ssh://git:p@h, and http://h/x.":                                         "from https://xxxxx@h and ssh://git:xxxxx@h, and http://h/x.",
		"no urls here: a://": "no urls here: a://",
		"://TOKEN@h":         "://TOKEN@h",
		"1https://T@h":       "1https://xxxxx@h",
	} {
		if got := redact.Text(in); got != want {
			t.Errorf("Text(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func TestError(t *testing.T) {
	if redact.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	plain := errors.New("nothing secret")
	if redact.Error(plain) != plain {
		t.Error("an error without secrets was wrapped")
	}
	inner := fmt.Errorf(`Get "https://TOKEN@h/": %w`, fs.ErrNotExist)
	err := redact.Error(inner)
	if strings.Contains(err.Error(), "TOKEN") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Error = %q (Is ErrNotExist: %v); want the token gone and the chain kept", err, errors.Is(err, fs.ErrNotExist))
	}
	if again := redact.Error(err); again != err {
		t.Error("a redacted error was wrapped again")
	}
	outer := fmt.Errorf("source: %w", err)
	if strings.Contains(outer.Error(), "TOKEN") {
		t.Errorf("wrapping leaks: %q", outer)
	}
}

// FuzzURL checks, for any input that net/url parses as a URL with an
// authority, that the output still parses to the same scheme, host and
// path, and that userinfo (for ssh:// its password), every query item and
// the fragment are masked. It also checks that URL is idempotent and that
// Text finds the URL inside a message.
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"https://TOKEN@github.com/org/repo.git",
		"https://user:pass@h:443/r?token=SECRET&ref=main#frag",
		"ssh://git:pw@h/r",
		"oci://u@registry/charts?x",
		"http://[::1]:80/?a=b;c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := redact.URL(raw)
		if again := redact.URL(out); again != out {
			t.Fatalf("not idempotent: URL(%q) = %q, then %q", raw, out, again)
		}
		if quotable(raw) {
			msg := `Get "` + raw + `": failed`
			if got, want := redact.Text(msg), `Get "`+out+`": failed`; got != want {
				t.Fatalf("Text(%q) = %q, want %q", msg, got, want)
			}
		}
		u, err := url.Parse(raw)
		if err != nil || u.Opaque != "" || !strings.HasPrefix(raw[len(u.Scheme):], "://") {
			return
		}
		r, err := url.Parse(out)
		if err != nil {
			t.Fatalf("URL(%q) = %q, which does not parse: %v", raw, out, err)
		}
		if r.Scheme != u.Scheme || r.Host != u.Host || r.Path != u.Path {
			t.Fatalf("URL(%q) = %q changed scheme, host or path", raw, out)
		}
		if u.User != nil {
			pw, hasPW := r.User.Password()
			switch {
			case r.User == nil:
				t.Fatalf("URL(%q) = %q lost the userinfo's @", raw, out)
			case u.Scheme == "ssh" && hasPW && pw != redact.Mask:
				t.Fatalf("URL(%q) = %q keeps an SSH password", raw, out)
			case u.Scheme != "ssh" && r.User.String() != redact.Mask:
				t.Fatalf("URL(%q) = %q keeps userinfo %q", raw, out, r.User)
			}
		}
		for _, item := range strings.FieldsFunc(r.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
			if _, v, ok := strings.Cut(item, "="); item != redact.Mask && (!ok || v != redact.Mask) {
				t.Fatalf("URL(%q) = %q keeps query item %q", raw, out, item)
			}
		}
		if r.Fragment != "" && r.Fragment != redact.Mask {
			t.Fatalf("URL(%q) = %q keeps fragment %q", raw, out, r.Fragment)
		}
	})
}

// quotable reports whether s is one URL that Text would find whole in a
// quoted message: a letter first, one "://", no character that ends a URL
// in text and no trailing punctuation.
func quotable(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') || strings.Count(s, "://") != 1 {
		return false
	}
	if strings.ContainsAny(s, " \t\n\r\"'`<>") || strings.ContainsAny(s[len(s)-1:], ".,:;)]}") {
		return false
	}
	i := strings.Index(s, "://")
	for j := 0; j < i; j++ {
		c := s[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return i+3 < len(s)
}
