package spec

import (
	"strings"
	"testing"
)

const imageUpdateDoc = `
source:
  git: {url: https://example.com/r.git, ref: {branch: main}}
imageUpdate:
  path: ./clusters/prod
  policies:
  - name: app
    imageRepository: {image: ghcr.io/org/app, secretRef: {name: regcred}, exclusionList: ["^latest$"]}
    policy: {semver: {range: ">=1.0.0"}}
    filterTags: {pattern: '^v(?P<v>.*)$', extract: '$v'}
  - name: ts
    namespace: other
    imageRepository: {image: ghcr.io/org/app}
    policy: {numerical: {order: asc}}
  git:
    commit:
      author: {name: gitsync, email: gitsync@example.com}
      messageTemplate: '{{ range .Changed.Changes }}{{ .NewValue }}{{ end }}'
      signingKey: {secretRef: {name: gpg}}
    push: {branch: image-updates, refspec: "refs/heads/main:refs/heads/auto"}
`

func TestParseImageUpdate(t *testing.T) {
	s, err := Parse([]byte(syncDoc(imageUpdateDoc)))
	if err != nil {
		t.Fatal(err)
	}
	u := s.Spec.ImageUpdate
	if u == nil || len(u.Policies) != 2 || u.Policies[0].Policy.SemVer.Range != ">=1.0.0" ||
		u.Policies[0].FilterTags.Extract != "$v" || u.PushBranch() != "image-updates" || u.Git.Push.Refspec == "" {
		t.Fatalf("parsed %+v", u)
	}
	var got []string
	for _, su := range s.Spec.ImageUpdateSecrets() {
		got = append(got, su.Name+" "+su.Field)
	}
	if strings.Join(got, ",") != "regcred spec.imageUpdate.policies[0].imageRepository.secretRef,gpg spec.imageUpdate.git.commit.signingKey.secretRef" {
		t.Errorf("ImageUpdateSecrets = %v", got)
	}
}

func TestImageUpdateErrorsNameTheField(t *testing.T) {
	tests := []struct{ from, to, want string }{
		{"ref: {branch: main}", "ref: {tag: v1}", "spec.imageUpdate: Invalid value"},
		{`range: ">=1.0.0"`, `range: ">= 1.0 <<"`, "spec.imageUpdate.policies[0].policy.semver.range"},
		{"order: asc", "order: up", "spec.imageUpdate.policies[1].policy.numerical.order"},
		{"pattern: '^v(?P<v>.*)$'", "pattern: '('", "spec.imageUpdate.policies[0].filterTags.pattern"},
		{`exclusionList: ["^latest$"]`, `exclusionList: ["["]`, "spec.imageUpdate.policies[0].imageRepository.exclusionList[0]"},
		{"image: ghcr.io/org/app, secretRef", "image: ghcr.io/org/app:1.0, secretRef", "spec.imageUpdate.policies[0].imageRepository.image"},
		{"name: ts\n    namespace: other", "name: app", "spec.imageUpdate.policies[1].name: Duplicate"},
		{"{semver: {range: \">=1.0.0\"}}", "{semver: {range: \">=1.0.0\"}, alphabetical: {}}", "spec.imageUpdate.policies[0].policy"},
		{"email: gitsync@example.com", "email: nope", "spec.imageUpdate.git.commit.author.email"},
		{"name: gitsync, ", "", "spec.imageUpdate.git.commit.author.name: Required"},
		{"'{{ range .Changed.Changes }}", "'{{ range ", "spec.imageUpdate.git.commit.messageTemplate"},
		{"branch: image-updates", "branch: refs/heads/x", "spec.imageUpdate.git.push.branch"},
		{`refspec: "refs/heads/main:refs/heads/auto"`, `refspec: "main"`, "spec.imageUpdate.git.push.refspec"},
		{"path: ./clusters/prod", "path: ../up", "spec.imageUpdate.path"},
		{"order: asc}}", "order: asc}}\n    digestReflectionPolicy: Sometimes", "spec.imageUpdate.policies[1].digestReflectionPolicy: Unsupported value"},
		{"  git: {url: https://example.com/r.git, ref: {branch: main}}", "  git: {url: https://example.com/r.git, sparseCheckout: [a]}", "sparseCheckout"},
	}
	for _, tt := range tests {
		doc := strings.Replace(imageUpdateDoc, tt.from, tt.to, 1)
		if doc == imageUpdateDoc {
			t.Fatalf("%q not in the document", tt.from)
		}
		_, err := Parse([]byte(syncDoc(doc)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s -> %s: Parse = %v, want an error containing %q", tt.from, tt.to, err, tt.want)
		}
	}
}
