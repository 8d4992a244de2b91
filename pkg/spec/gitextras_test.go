package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGitExtras parses verify, ignore, sparseCheckout, recurseSubmodules
// and include, with their defaults, and lists their Secrets.
func TestGitExtras(t *testing.T) {
	s, err := Parse([]byte(gitSpec(`
url: https://example.com/app.git
secretRef: {name: git}
verify: {mode: TagAndHEAD, secretRef: {name: signers}}
ref: {tag: v1.0.0}
ignore: |
  /*
  !/deploy
sparseCheckout: [deploy, ./base]
recurseSubmodules: true
include:
- repository: {url: 'https://example.com/org/base.git', secretRef: {name: base-git}}
  fromPath: manifests
  toPath: deploy/base
- repository: {url: 'git@example.com:org/common.git', ref: {tag: v2}, secretRef: {name: git}}`)))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Spec.Source.Git
	want := GitSource{
		URL: "https://example.com/app.git", Ref: GitRef{Tag: "v1.0.0"}, SecretRef: &LocalObjectReference{Name: "git"},
		Timeout:           NewDuration(DefaultGitTimeout),
		Verify:            &GitVerify{Mode: VerifyTagAndHEAD, SecretRef: LocalObjectReference{Name: "signers"}},
		Ignore:            new("/*\n!/deploy\n"),
		SparseCheckout:    []string{"deploy", "./base"},
		RecurseSubmodules: true,
		Include: []GitInclude{
			{Repository: GitIncludeRepository{URL: "https://example.com/org/base.git", Ref: GitRef{},
				SecretRef: &LocalObjectReference{Name: "base-git"}}, FromPath: "manifests", ToPath: "deploy/base"},
			{Repository: GitIncludeRepository{URL: "git@example.com:org/common.git", Ref: GitRef{Tag: "v2"},
				SecretRef: &LocalObjectReference{Name: "git"}}},
		},
	}
	if diff := cmp.Diff(&want, g, cmpOpts); diff != "" {
		t.Errorf("spec.source.git (-want +got):\n%s", diff)
	}
	if got := g.Include[1].IncludeToPath(); got != "common" {
		t.Errorf("default toPath = %q, want common", got)
	}
	if diff := cmp.Diff([]string{"base-git", "git", "signers"}, s.SecretNames()); diff != "" {
		t.Errorf("SecretNames (-want +got):\n%s", diff)
	}
	wantUses := []SecretUse{
		{"signers", "spec.source.git.verify.secretRef"},
		{"base-git", "spec.source.git.include[0].repository.secretRef"},
		{"git", "spec.source.git.include[1].repository.secretRef"},
	}
	if diff := cmp.Diff(wantUses, s.Spec.Source.MoreSecrets()); diff != "" {
		t.Errorf("MoreSecrets (-want +got):\n%s", diff)
	}
	if rules, ok := s.Spec.Source.IgnoreRules(); !ok || rules == nil || *rules != "/*\n!/deploy\n" {
		t.Errorf("IgnoreRules = %v, %v", rules, ok)
	}
	helm := Source{Helm: &HelmSource{URL: "https://charts.example.com", Chart: "web"}}
	if _, ok := helm.IgnoreRules(); ok {
		t.Errorf("a chart source has ignore rules")
	}
}

// TestGitExtrasErrors refuses what cannot be verified, checked out or
// included, naming the field.
func TestGitExtrasErrors(t *testing.T) {
	tests := []struct {
		name, git string
		want      []string
	}{
		{"verify without a Secret", "url: https://e.com/r.git\nverify: {mode: HEAD}",
			[]string{"spec.source.git.verify.secretRef.name: Required value: a Secret with the trusted public keys"}},
		{"unknown mode", "url: https://e.com/r.git\nverify: {mode: Commit, secretRef: {name: k}}",
			[]string{`spec.source.git.verify.mode: Unsupported value: "Commit": supported values: "HEAD", "Tag", "TagAndHEAD"`}},
		{"tag mode on a branch", "url: https://e.com/r.git\nref: {branch: main}\nverify: {mode: Tag, secretRef: {name: k}}",
			[]string{`spec.source.git.verify.mode: Invalid value: "Tag": verifies a tag: set ref.tag, ref.semver or a ref.name under refs/tags/`}},
		{"sparse outside", "url: https://e.com/r.git\nsparseCheckout: ['../x', '', .git]", []string{
			`spec.source.git.sparseCheckout[0]: Invalid value: "../x": must be a directory inside the repository`,
			`spec.source.git.sparseCheckout[1]: Required value: a directory of the repository`,
			`spec.source.git.sparseCheckout[2]: Invalid value: ".git": must be a directory inside the repository`,
		}},
		{"include errors", `url: https://e.com/r.git
include:
- repository: {url: 'http://e.com/base.git'}
- repository: {url: 'ssh://git@e.com/base.git', ref: {branch: main, tag: v1}}
  fromPath: ../up
  toPath: /abs
- repository: {url: ''}
  toPath: .git/x
- repository: {url: 'https://e.com/x.git', insecure: true}`, []string{
			`spec.source.git.include[0].repository.url: Invalid value: "http://e.com/base.git": plain http:// is allowed only with insecure: true; use https://`,
			`spec.source.git.include[1].repository.secretRef: Required value: an SSH URL needs a Secret with identity and known_hosts`,
			`spec.source.git.include[1].repository.ref: Invalid value`,
			`spec.source.git.include[1].fromPath: Invalid value: "../up": must be a path inside the included repository`,
			`spec.source.git.include[1].toPath: Invalid value: "/abs": must be a path inside the checkout`,
			`spec.source.git.include[2].repository.url: Required value: the included repository's URL`,
			`spec.source.git.include[2].toPath: Invalid value: ".git/x"`,
			`spec.source.git.include[3].repository.insecure: Forbidden: only allowed with an http:// URL`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(gitSpec(tt.git)))
			if err == nil {
				t.Fatal("Parse: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse: %v\nwant it to say %q", err, w)
				}
			}
		})
	}
}
