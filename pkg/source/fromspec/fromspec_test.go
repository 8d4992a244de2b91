package fromspec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/fromspec"
	"github.com/gitsync/gitsync/pkg/spec"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func gitSource(url string) spec.Source {
	return spec.Source{Git: &spec.GitSource{URL: url, Ref: spec.GitRef{Branch: "main"}}}
}

func TestKey(t *testing.T) {
	a := gitSource("https://g/r.git")
	same := gitSource("https://g/r.git")
	otherRef := gitSource("https://g/r.git")
	otherRef.Git.Ref = spec.GitRef{Tag: "v1"}
	withSecret := gitSource("https://g/r.git")
	withSecret.Git.SecretRef = &spec.LocalObjectReference{Name: "creds"}
	chart := spec.Source{Helm: &spec.HelmSource{URL: "https://g/r.git", Chart: "r"}}

	k := fromspec.Key(a, "")
	if fromspec.Key(same, "") != k {
		t.Error("equal specs have different keys")
	}
	for name, other := range map[string]string{
		"another ref":    fromspec.Key(otherRef, ""),
		"a secretRef":    fromspec.Key(withSecret, ""),
		"another kind":   fromspec.Key(chart, ""),
		"pinned":         fromspec.Key(a, "sha1:"+commit),
		"another pin":    fromspec.Key(a, "main@sha1:"+commit),
		"another scheme": fromspec.Key(gitSource("http://g/r.git"), ""),
	} {
		if other == k {
			t.Errorf("%s: same key %s", name, k)
		}
	}
	if !strings.HasPrefix(k, "git:") || !strings.HasPrefix(fromspec.Key(chart, ""), "helm:") {
		t.Errorf("keys %s, %s do not start with their kind", k, fromspec.Key(chart, ""))
	}
	if withToken := fromspec.Key(gitSource("https://TOKEN@g/r.git"), ""); strings.Contains(withToken, "TOKEN") {
		t.Errorf("the key %s shows the URL's token", withToken)
	}
}

func TestNew(t *testing.T) {
	for name, s := range map[string]spec.Source{
		"git":  gitSource("https://g/r.git"),
		"helm": {Helm: &spec.HelmSource{URL: "oci://r.example/charts", Chart: "app", Version: "1.x"}},
		"oci":  {OCI: &spec.OCISource{URL: "oci://r.example/app", Ref: spec.OCIRef{Tag: "v1"}}},
	} {
		if src, err := fromspec.New(s, source.Credentials{}, fromspec.Options{}); err != nil || src == nil {
			t.Errorf("%s: New = %v, %v", name, src, err)
		}
	}
	if _, err := fromspec.New(spec.Source{}, source.Credentials{}, fromspec.Options{}); err == nil || !strings.Contains(err.Error(), "spec.source") {
		t.Errorf("New without a kind: %v, want an error naming spec.source", err)
	}

	// Pins: a Git pin needs a commit, a chart pin a version.
	for _, tc := range []struct {
		s   spec.Source
		pin source.Revision
		ok  bool
	}{
		{gitSource("https://g/r.git"), "main@sha1:" + commit, true},
		{gitSource("https://g/r.git"), "1.2.3", false},
		{spec.Source{Helm: &spec.HelmSource{URL: "https://c.example", Chart: "app"}}, "1.2.3", true},
		{spec.Source{Helm: &spec.HelmSource{URL: "https://c.example", Chart: "app"}}, "sha1:" + commit, false},
		{spec.Source{OCI: &spec.OCISource{URL: "oci://r.example/app"}}, source.Revision("v1@sha256:" + strings.Repeat("ab", 32)), true},
		{spec.Source{OCI: &spec.OCISource{URL: "oci://r.example/app"}}, "v1", false},
	} {
		_, err := fromspec.New(tc.s, source.Credentials{}, fromspec.Options{Pin: tc.pin})
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, source.ErrInvalidOptions) {
			t.Errorf("New(%s, pin %s) = %v, want ok %v (else ErrInvalidOptions)", tc.s.Kind(), tc.pin, err, tc.ok)
		}
	}
}

// TestNewGitExtras reads the verification keys from Options.Secrets and
// names the field when a Secret is missing or holds no keys.
func TestNewGitExtras(t *testing.T) {
	s := gitSource("https://g/r.git")
	s.Git.Verify = &spec.GitVerify{Mode: "head", SecretRef: spec.LocalObjectReference{Name: "signers"}}
	s.Git.Include = []spec.GitInclude{{Repository: spec.GitIncludeRepository{URL: "https://g/base.git",
		Ref: spec.GitRef{Branch: "main"}, SecretRef: &spec.LocalObjectReference{Name: "base"}}}}
	key := []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ci\n")
	for _, tc := range []struct {
		name    string
		secrets map[string]map[string][]byte
		want    string
	}{
		{"ok", map[string]map[string][]byte{"signers": {"ci.sshpub": key}, "base": {}}, ""},
		{"keys not read", map[string]map[string][]byte{"base": {}}, "spec.source.git.verify.secretRef: Secret signers was not read"},
		{"no keys", map[string]map[string][]byte{"signers": {}, "base": {}}, "spec.source.git.verify.secretRef: Secret signers: holds no public keys"},
		{"include credentials not read", map[string]map[string][]byte{"signers": {"ci.sshpub": key}},
			"spec.source.git.include[0].repository.secretRef: Secret base was not read"},
	} {
		_, err := fromspec.New(s, source.Credentials{}, fromspec.Options{Secrets: tc.secrets})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: New = %v, want error %q", tc.name, err, tc.want)
		}
	}
}
