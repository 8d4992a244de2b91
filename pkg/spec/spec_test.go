package spec

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// cmpOpts lets go-cmp see Duration's unexported field.
var cmpOpts = cmp.AllowUnexported(Duration{})

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errorStrings returns the messages of the field errors Parse reported, or
// the single message of any other error.
func errorStrings(err error) []string {
	if err == nil {
		return nil
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range agg.Errors() {
		out = append(out, e.Error())
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestParseValid(t *testing.T) {
	tests := []struct {
		file string
		want *Sync
	}{{
		file: "minimal.yaml",
		want: &Sync{
			TypeMeta:   metav1.TypeMeta{APIVersion: "gitsync.io/v1alpha1", Kind: "Sync"},
			ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
			Spec: SyncSpec{
				Source: Source{Git: &GitSource{
					URL:     "https://example.com/stefanprodan/podinfo",
					Timeout: NewDuration(60 * time.Second),
				}},
				Path:     "./deploy",
				Schedule: "*/5 * * * *",
				Prune:    ptr(true),
				Timeout:  NewDuration(5 * time.Minute),
			},
		},
	}, {
		file: "full.yaml",
		want: &Sync{
			TypeMeta:   metav1.TypeMeta{APIVersion: "gitsync.io/v1alpha1", Kind: "Sync"},
			ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "team-a"},
			Spec: SyncSpec{
				Source: Source{Git: &GitSource{
					URL:       "ssh://git@git.example.com:2222/platform/apps.git",
					Ref:       GitRef{SemVer: ">=1.0.0 <2"},
					SecretRef: &LocalObjectReference{Name: "apps-git"},
					Timeout:   NewDuration(90 * time.Second),
				}},
				Path:            "./clusters/prod",
				Schedule:        "*/10 * * * *",
				TargetNamespace: "apps",
				NamePrefix:      "prod-",
				NameSuffix:      "-v1",
				CommonMetadata: &CommonMetadata{
					Labels:      map[string]string{"team": "a"},
					Annotations: map[string]string{"example.com/owner": "team-a"},
				},
				Patches: []Patch{{
					Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
				}, {
					Patch: "- op: replace\n  path: /spec/replicas\n  value: 2\n",
					Target: &Selector{
						Group: "apps", Version: "v1", Kind: "Deployment", Name: "worker", Namespace: "apps",
						LabelSelector: "tier=backend", AnnotationSelector: "example.com/scale=true",
					},
				}},
				Images: []Image{
					// An unquoted 1.10 is kept as written, not read as 1.1.
					{Name: "ghcr.io/example/web", NewTag: "1.10"},
					{
						Name:    "nginx",
						NewName: "registry.example.com/mirror/nginx",
						Digest:  "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					},
				},
				Components: []string{"../../components/monitoring"},
				PostBuild: &PostBuild{
					Substitute: map[string]string{"cluster_name": "prod", "replicas": "3"},
					SubstituteFrom: []SubstituteReference{
						{Kind: "ConfigMap", Name: "cluster-vars"},
						{Kind: "Secret", Name: "cluster-secrets", Optional: true},
					},
				},
				Prune:      ptr(false),
				AllowEmpty: true,
				Force:      true,
				Wait:       true,
				Timeout:    NewDuration(10 * time.Minute),
				HealthChecks: []HealthCheck{
					{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "apps"},
					{Kind: "Namespace", Name: "apps"},
				},
				ServiceAccountName: "apps-deployer",
			},
		},
	}, {
		file: "scp-like.yaml",
		want: &Sync{
			TypeMeta:   metav1.TypeMeta{APIVersion: "gitsync.io/v1alpha1", Kind: "Sync"},
			ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "flux-system"},
			Spec: SyncSpec{
				Source: Source{Git: &GitSource{
					URL:       "git@github.com:example/infra.git",
					Ref:       GitRef{Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567"},
					SecretRef: &LocalObjectReference{Name: "infra-ssh"},
					Timeout:   NewDuration(time.Minute),
				}},
				Path:     "./",
				Schedule: "*/5 * * * *",
				Prune:    ptr(true),
				Timeout:  NewDuration(5 * time.Minute),
			},
		},
	}, {
		file: "http-insecure.yaml",
		want: &Sync{
			TypeMeta:   metav1.TypeMeta{APIVersion: "gitsync.io/v1alpha1", Kind: "Sync"},
			ObjectMeta: metav1.ObjectMeta{Name: "local"},
			Spec: SyncSpec{
				Source: Source{Git: &GitSource{
					URL:      "http://gitea.gitea.svc:3000/org/repo.git",
					Insecure: true,
					Ref:      GitRef{Tag: "v1.2.0"},
					Timeout:  NewDuration(time.Minute),
				}},
				Path:     "./",
				Schedule: "*/5 * * * *",
				Prune:    ptr(true),
				Timeout:  NewDuration(5 * time.Minute),
			},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readFile(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// syncDoc returns a Sync document named web whose spec is body, indented
// under spec:.
func syncDoc(body string) string {
	var b strings.Builder
	b.WriteString("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata:\n  name: web\nspec:\n")
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// gitSpec is a valid spec body around a git source body.
func gitSpec(git string) string {
	var b strings.Builder
	b.WriteString("source:\n  git:\n")
	for _, line := range strings.Split(strings.TrimSpace(git), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return syncDoc(b.String())
}

const okSource = "source: {git: {url: https://example.com/r.git}}\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		// Unknown and mistyped fields.
		{"unknown field", syncDoc(okSource + "foo: 1"), []string{
			`spec.foo: Forbidden: unknown field`,
		}},
		{"unknown field deep inside a list", syncDoc(okSource + `
patches:
  - patch: "- {op: remove, path: /x}"
    target: {kind: Deployment, nmae: web}`), []string{
			`spec.patches[0].target.nmae: Forbidden: unknown field (did you mean "name"?)`,
		}},
		{"unknown field with other case", syncDoc(okSource + "targetnamespace: apps"), []string{
			`spec.targetnamespace: Forbidden: unknown field (did you mean "targetNamespace"?)`,
		}},
		{"flux interval", syncDoc(okSource + "interval: 5m"), []string{
			`spec.interval: Forbidden: unknown field (gitsync runs on a cron schedule: use spec.schedule)`,
		}},
		{"flux ignore rules", syncDoc(okSource + "ignore: [{paths: [/spec/replicas]}]"), []string{
			`spec.ignore: Forbidden: unknown field (a Sync corrects drift in every field it applies; ignore rules and driftDetection are read from the Flux Kustomizations and HelmReleases of its tree (docs/flux.md, Ignore rules); file exclusions are spec.source.*.ignore)`,
		}},
		{"flux driftDetection", syncDoc(okSource + "driftDetection: {mode: warn}"), []string{
			`spec.driftDetection: Forbidden: unknown field (a Sync corrects drift in every field it applies; ignore rules and driftDetection are read from the Flux Kustomizations and HelmReleases of its tree (docs/flux.md, Ignore rules); file exclusions are spec.source.*.ignore)`,
		}},
		{"flux git field", gitSpec("url: https://example.com/r.git\nproxySecretRef: {name: proxy}"), []string{
			`spec.source.git.proxySecretRef: Forbidden: unknown field (not supported by this version of gitsync)`,
		}},
		{"unknown metadata field", strings.Replace(syncDoc(okSource), "name: web", "name: web\n  labelz: {}", 1), []string{
			`metadata.labelz: Forbidden: unknown field`,
		}},
		{"wrong types, all reported with list indices", syncDoc(okSource + `
prune: "yes"
images:
  - {name: a, newTag: v1}
  - {name: true, newTag: v2}
components: ./c`), []string{
			`spec.components: Invalid value: "./c": must be a list`,
			`spec.images[1].name: Invalid value: true: must be a string (quote it)`,
			`spec.prune: Invalid value: "yes": must be a boolean (true or false)`,
		}},
		{"object where a string belongs", gitSpec("url: {host: x}"), []string{
			`spec.source.git.url: Invalid value: an object: must be a string`,
		}},

		// Type and metadata.
		{"wrong apiVersion hides everything else", strings.Replace(syncDoc("foo: 1"), "gitsync.io/v1alpha1", "gitsync.io/v1", 1), []string{
			`apiVersion: Unsupported value: "gitsync.io/v1": supported values: "gitsync.io/v1alpha1"`,
		}},
		{"missing kind", strings.Replace(syncDoc(okSource), "kind: Sync\n", "", 1), []string{
			`kind: Required value: must be Sync`,
		}},
		{"missing name", strings.Replace(syncDoc(okSource), "  name: web\n", "  namespace: apps\n", 1), []string{
			`metadata.name: Required value: the sync's name`,
		}},
		{"invalid name", strings.Replace(syncDoc(okSource), "name: web", "name: Web.App", 1), []string{
			`metadata.name: Invalid value: "Web.App": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
		{"name too long for the CronJob", strings.Replace(syncDoc(okSource), "name: web", "name: "+strings.Repeat("a", 45), 1), []string{
			`metadata.name: Invalid value: "` + strings.Repeat("a", 45) + `": must be no more than 44 characters: the CronJob gitsync-` + strings.Repeat("a", 45) + ` may have at most 52`,
		}},
		{"metadata beyond name and namespace", strings.Replace(syncDoc(okSource), "name: web", "name: web\n  labels: {a: b}\n  annotations: {c: d}", 1), []string{
			`metadata.annotations: Forbidden: only name and namespace may be set`,
			`metadata.labels: Forbidden: only name and namespace may be set`,
		}},
		{"invalid namespace", strings.Replace(syncDoc(okSource), "name: web", "name: web\n  namespace: Team_A", 1), []string{
			`metadata.namespace: Invalid value: "Team_A": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},

		// Source.
		{"no source", syncDoc("path: ./"), []string{
			`spec.source: Required value: set exactly one source kind: git or helm or oci or bucket`,
		}},
		{"no url", gitSpec("ref: {branch: main}"), []string{
			`spec.source.git.url: Required value: the repository URL`,
		}},
		{"http without insecure", gitSpec("url: http://example.com/r.git"), []string{
			`spec.source.git.url: Invalid value: "http://example.com/r.git": plain http:// is allowed only with insecure: true; use https://`,
		}},
		{"insecure with https", gitSpec("url: https://example.com/r.git\ninsecure: true"), []string{
			`spec.source.git.insecure: Forbidden: only allowed with an http:// URL: it permits plain HTTP and does not disable TLS verification`,
		}},
		{"ssh without secretRef", gitSpec("url: ssh://git@example.com/r.git"), []string{
			`spec.source.git.secretRef: Required value: an SSH URL needs a Secret with identity and known_hosts`,
		}},
		{"scp-like without secretRef", gitSpec("url: git@example.com:org/r.git"), []string{
			`spec.source.git.secretRef: Required value: an SSH URL needs a Secret with identity and known_hosts`,
		}},
		{"provider github without a Secret", gitSpec("url: https://github.com/org/r.git\nprovider: github"), []string{
			`spec.source.git.secretRef: Required value: provider github needs a Secret with githubAppID, githubAppInstallationID (or githubAppInstallationOwner) and githubAppPrivateKey`,
		}},
		{"provider github over SSH", gitSpec("url: ssh://git@github.com/org/r.git\nprovider: github\nsecretRef: {name: app}"), []string{
			`spec.source.git.provider: Invalid value: "github": a GitHub App authenticates over HTTPS only: use an https:// URL`,
		}},
		{"cloud provider", gitSpec("url: https://dev.azure.com/org/r\nprovider: azure"), []string{
			`spec.source.git.provider: Unsupported value: "azure": supported values: "generic", "github"`,
		}},
		{"unsupported scheme", gitSpec("url: git://example.com/r.git"), []string{
			`spec.source.git.url: Invalid value: "git://example.com/r.git": scheme git is not supported: use https://, ssh:// or scp-like [user@]host:path`,
		}},
		{"local path", gitSpec("url: /srv/git/r.git"), []string{
			`spec.source.git.url: Invalid value: "/srv/git/r.git": must be an https://, ssh://, scp-like ([user@]host:path) or, with insecure: true, http:// URL`,
		}},
		{"password in url", gitSpec("url: https://bob:hunter2@example.com/r.git"), []string{
			`spec.source.git.url: Invalid value: "https://xxxxx@example.com/r.git": must not contain a password: the spec is stored in a ConfigMap; put credentials in the Secret named by secretRef`,
		}},
		{"url without host", gitSpec("url: https:///r.git"), []string{
			`spec.source.git.url: Invalid value: "https:///r.git": must name a host`,
		}},
		{"empty secretRef name", gitSpec("url: https://example.com/r.git\nsecretRef: {name: ''}"), []string{
			`spec.source.git.secretRef.name: Required value`,
		}},
		{"bad git timeout", gitSpec("url: https://example.com/r.git\ntimeout: 1 minute"), []string{
			`spec.source.git.timeout: Invalid value: "1 minute": must be a duration such as "90s" or "1m30s"`,
		}},

		// Ref.
		{"semver", gitSpec("url: https://example.com/r.git\nref: {semver: latest}"), []string{
			`spec.source.git.ref.semver: Invalid value: "latest": not a semver range`,
		}},
		{"short commit", gitSpec("url: https://example.com/r.git\nref: {commit: 0123abc}"), []string{
			`spec.source.git.ref.commit: Invalid value: "0123abc": must be a full 40-character lowercase hex SHA-1`,
		}},
		{"two ref kinds", gitSpec("url: https://example.com/r.git\nref: {tag: v1, semver: '>=1'}"), []string{
			`spec.source.git.ref: Invalid value: {"tag":"v1","semver":"\u003e=1"}: set one of branch, tag, semver, name or commit (commit may be combined with branch), not tag and semver`,
		}},
		{"commit with tag", gitSpec("url: https://example.com/r.git\nref: {tag: v1, commit: 0123456789abcdef0123456789abcdef01234567}"), []string{
			`spec.source.git.ref: Invalid value: {"tag":"v1","commit":"0123456789abcdef0123456789abcdef01234567"}: set one of branch, tag, semver, name or commit (commit may be combined with branch), not tag and commit`,
		}},
		{"bad branch", gitSpec("url: https://example.com/r.git\nref: {branch: 'feature..x'}"), []string{
			`spec.source.git.ref.branch: Invalid value: "feature..x": not a valid Git branch name`,
		}},
		{"bad tag", gitSpec("url: https://example.com/r.git\nref: {tag: 'v1^{}'}"), []string{
			`spec.source.git.ref.tag: Invalid value: "v1^{}": not a valid Git tag name`,
		}},
		{"short ref name", gitSpec("url: https://example.com/r.git\nref: {name: main}"), []string{
			`spec.source.git.ref.name: Invalid value: "main": must be HEAD or a valid full Git reference such as refs/heads/main or refs/pull/1/head`,
		}},

		// Kustomization fields.
		{"absolute path", syncDoc(okSource + "path: /deploy"), []string{
			`spec.path: Invalid value: "/deploy": must be a relative path inside the source: no leading / and no .. above the root`,
		}},
		{"path escaping the root", syncDoc(okSource + "path: deploy/../../etc"), []string{
			`spec.path: Invalid value: "deploy/../../etc": must be a relative path inside the source: no leading / and no .. above the root`,
		}},
		{"component escaping the root", syncDoc(okSource + "path: ./deploy\ncomponents: [../c, ../../c, /c, '']"), []string{
			`spec.components[1]: Invalid value: "../../c": must be a path relative to spec.path that stays inside the source`,
			`spec.components[2]: Invalid value: "/c": must be a path relative to spec.path that stays inside the source`,
			`spec.components[3]: Required value: a path relative to spec.path`,
		}},
		{"schedule", syncDoc(okSource + "schedule: every day"), []string{
			`spec.schedule: Invalid value: "every day": not a cron schedule: expected exactly 5 fields, found 2: [every day]`,
		}},
		{"schedule with time zone", syncDoc(okSource + "schedule: CRON_TZ=Europe/Berlin 0 3 * * *"), []string{
			`spec.schedule: Invalid value: "CRON_TZ=Europe/Berlin 0 3 * * *": may not set a time zone (TZ= or CRON_TZ=)`,
		}},
		{"targetNamespace", syncDoc(okSource + "targetNamespace: apps.prod"), []string{
			`spec.targetNamespace: Invalid value: "apps.prod": must not contain dots`,
		}},
		{"name prefix and suffix", syncDoc(okSource + "namePrefix: -x\nnameSuffix: X"), []string{
			`spec.namePrefix: Invalid value: "-x": may contain only lowercase letters, digits, '-' and '.', and must start with a letter or digit`,
			`spec.nameSuffix: Invalid value: "X": may contain only lowercase letters, digits, '-' and '.', and must end with a letter or digit`,
		}},
		{"name prefix too long", syncDoc(okSource + "namePrefix: " + strings.Repeat("a", 201)), []string{
			`spec.namePrefix: Too long: may not be more than 200 bytes`,
		}},
		{"common labels", syncDoc(okSource + "commonMetadata: {labels: {'a b': x}}"), []string{
			`spec.commonMetadata.labels: Invalid value: "a b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		}},
		{"timeouts", syncDoc(okSource + "timeout: 0s"), []string{
			`spec.timeout: Invalid value: "0s": must be greater than 0`,
		}},
		{"negative timeout", syncDoc(okSource + "timeout: -1m"), []string{
			`spec.timeout: Invalid value: "-1m0s": must be greater than 0`,
		}},
		{"timeout without unit", syncDoc(okSource + "timeout: 300"), []string{
			`spec.timeout: Invalid value: "300": must be a duration such as "90s" or "1m30s"`,
		}},
		{"serviceAccountName", syncDoc(okSource + "serviceAccountName: Deployer"), []string{
			`spec.serviceAccountName: Invalid value: "Deployer": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		}},

		// Patches.
		{"empty patch", syncDoc(okSource + "patches: [{patch: ''}]"), []string{
			`spec.patches[0].patch: Required value: a strategic merge patch or a JSON 6902 patch`,
		}},
		{"patch not YAML", syncDoc(okSource + "patches: [{patch: '{a: [', target: {kind: Deployment}}]"), []string{
			`spec.patches[0].patch: Invalid value: not valid YAML: yaml: line 1: did not find expected node content`,
		}},
		{"patch is a scalar", syncDoc(okSource + "patches: [{patch: hello, target: {kind: Deployment}}]"), []string{
			`spec.patches[0].patch: Invalid value: must be a strategic merge patch (a YAML mapping) or a JSON 6902 patch (a YAML list of operations)`,
		}},
		{"json 6902 without target", syncDoc(okSource + "patches: [{patch: '[{op: remove, path: /x}]'}]"), []string{
			`spec.patches[0].target: Required value: a JSON 6902 patch needs a target`,
		}},
		{"json 6902 operations", syncDoc(okSource + `
patches:
  - target: {kind: Deployment}
    patch: |
      - {op: add, path: /a}
      - {op: move, path: /b}
      - {op: frob, path: /c}
      - {op: remove, path: d}
      - {op: replace, path: /e, value: 1}`), []string{
			`spec.patches[0].patch: Invalid value: operation 0: add needs a value`,
			`spec.patches[0].patch: Invalid value: operation 1: move needs from`,
			`spec.patches[0].patch: Invalid value: operation 2: op "frob" is not one of add, remove, replace, move, copy, test`,
			`spec.patches[0].patch: Invalid value: operation 3: path "d" must be a JSON pointer starting with /`,
		}},
		{"strategic merge patch naming nothing", syncDoc(okSource + "patches: [{patch: 'spec: {replicas: 1}'}]"), []string{
			`spec.patches[0].target: Required value: a strategic merge patch without kind and metadata.name needs a target`,
		}},
		{"bad selectors", syncDoc(okSource + "patches: [{patch: 'spec: {}', target: {labelSelector: 'a in (', annotationSelector: '!!'}}]"), []string{
			`spec.patches[0].target.labelSelector: Invalid value: "a in (": unable to parse requirement: found '', expected: ',', ')' or identifier`,
			`spec.patches[0].target.annotationSelector: Invalid value: "!!": unable to parse requirement: found '!', expected: identifier`,
		}},

		// Images.
		{"images", syncDoc(okSource + `
images:
  - newTag: v1
  - name: web
  - {name: db, newTag: 'v1:2'}
  - {name: db, digest: sha256:abc}
  - {name: 'Web:1', newName: 'Reg/X'}`), []string{
			`spec.images[0].name: Required value: the image name to replace, without tag or digest`,
			`spec.images[1]: Required value: set newName, newTag or digest`,
			`spec.images[2].newTag: Invalid value: "v1:2": not a valid image tag`,
			`spec.images[3].name: Duplicate value: "db"`,
			`spec.images[3].digest: Invalid value: "sha256:abc": must be sha256:<64 hex digits> or sha512:<128 hex digits>`,
			`spec.images[4].name: Invalid value: "Web:1": not an image name without tag or digest`,
			`spec.images[4].newName: Invalid value: "Reg/X": not an image name without tag or digest`,
		}},

		// Post-build substitution.
		{"substitution", syncDoc(okSource + `
postBuild:
  substitute: {ok_1: a, 1st: b, a-b: c}
  substituteFrom:
    - {kind: Secret, name: vars}
    - {kind: ConfigMaps, name: vars}
    - {kind: Secret}
    - {kind: Secret, name: vars}`), []string{
			`spec.postBuild.substitute[1st]: Invalid value: "1st": must be a variable name: a letter or _, then letters, digits or _`,
			`spec.postBuild.substitute[a-b]: Invalid value: "a-b": must be a variable name: a letter or _, then letters, digits or _`,
			`spec.postBuild.substituteFrom[1].kind: Unsupported value: "ConfigMaps": supported values: "ConfigMap", "Secret"`,
			`spec.postBuild.substituteFrom[2].name: Required value`,
			`spec.postBuild.substituteFrom[3]: Duplicate value: "Secret/vars"`,
		}},

		// Health checks.
		{"health checks", syncDoc(okSource + `
healthChecks:
  - {apiVersion: apps/v1, kind: Deployment, name: web}
  - {apiVersion: a/b/c, namespace: Apps}`), []string{
			`spec.healthChecks[1].apiVersion: Invalid value: "a/b/c": must be version or group/version`,
			`spec.healthChecks[1].kind: Required value: the kind of the object to check`,
			`spec.healthChecks[1].name: Required value: the name of the object to check`,
			`spec.healthChecks[1].namespace: Invalid value: "Apps": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors; got %+v", s)
			}
			if s != nil {
				t.Errorf("Parse returned a Sync with an error")
			}
			if diff := cmp.Diff(tt.want, errorStrings(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\ndocument:\n%s", diff, tt.doc)
			}
		})
	}
}

func TestParseFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{{
		file: "many-errors.yaml",
		want: []string{
			`spec.interval: Forbidden: unknown field (gitsync runs on a cron schedule: use spec.schedule)`,
			`spec.patches[0].target.lableSelector: Forbidden: unknown field (did you mean "labelSelector"?)`,
			`metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`spec.source.git.url: Invalid value: "http://example.com/repo.git": plain http:// is allowed only with insecure: true; use https://`,
			`spec.source.git.ref: Invalid value: {"tag":"v1","semver":"\u003e=1"}: set one of branch, tag, semver, name or commit (commit may be combined with branch), not tag and semver`,
			`spec.source.git.timeout: Invalid value: "soon": must be a duration such as "90s" or "1m30s"`,
			`spec.path: Invalid value: "../outside": must be a relative path inside the source: no leading / and no .. above the root`,
			`spec.postBuild.substitute[bad-name]: Invalid value: "bad-name": must be a variable name: a letter or _, then letters, digits or _`,
			`spec.postBuild.substituteFrom[0].kind: Unsupported value: "Secrets": supported values: "ConfigMap", "Secret"`,
			`spec.healthChecks[0].name: Required value: the name of the object to check`,
		},
	}, {
		file: "not-a-sync.yaml",
		want: []string{
			`apiVersion: Unsupported value: "kustomize.toolkit.fluxcd.io/v1": supported values: "gitsync.io/v1alpha1"`,
			`kind: Unsupported value: "Kustomization": supported values: "Sync"`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Parse(readFile(t, tt.file))
			if diff := cmp.Diff(tt.want, errorStrings(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDocuments(t *testing.T) {
	minimal := string(readFile(t, "minimal.yaml"))
	tests := []struct {
		name string
		in   string
		want []string // nil: Parse must succeed
	}{
		{"leading and trailing separators", "---\n" + minimal + "---\n", nil},
		{"two documents", minimal + "---\n" + minimal, []string{
			`2 YAML documents: a Sync spec is exactly one document`,
		}},
		{"empty", "", []string{`no Sync document: the input is empty`}},
		{"only a comment", "# nothing\n", []string{`no Sync document: the input is empty`}},
		{"a list", "- a\n- b\n", []string{`a Sync document must be a YAML mapping`}},
		{"syntax error", "spec: [\n", []string{
			`parse YAML: yaml: line 1: did not find expected node content`,
		}},
		{"duplicate key", minimal + "kind: Sync\n", []string{
			"parse YAML: yaml: unmarshal errors:\n  line 11: mapping key \"kind\" already defined at line 3",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if diff := cmp.Diff(tt.want, errorStrings(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		in   SyncSpec
		want SyncSpec
	}{{
		name: "empty",
		in:   SyncSpec{Source: Source{Git: &GitSource{URL: "https://h/r"}}},
		want: SyncSpec{
			Source:   Source{Git: &GitSource{URL: "https://h/r", Timeout: NewDuration(DefaultGitTimeout)}},
			Path:     "./",
			Schedule: DefaultSchedule,
			Prune:    ptr(true),
			Timeout:  NewDuration(DefaultTimeout),
		},
	}, {
		name: "set values are kept, path is normalised",
		in: SyncSpec{
			Source:   Source{Git: &GitSource{URL: "https://h/r", Ref: GitRef{Tag: "v1"}, Timeout: NewDuration(time.Second)}},
			Path:     "deploy/./prod/",
			Schedule: "@hourly",
			Prune:    ptr(false),
			Timeout:  NewDuration(time.Hour),
		},
		want: SyncSpec{
			Source:   Source{Git: &GitSource{URL: "https://h/r", Ref: GitRef{Tag: "v1"}, Timeout: NewDuration(time.Second)}},
			Path:     "./deploy/prod",
			Schedule: "@hourly",
			Prune:    ptr(false),
			Timeout:  NewDuration(time.Hour),
		},
	}, {
		name: "an invalid path is left for Validate",
		in:   SyncSpec{Path: "../x"},
		want: SyncSpec{Path: "../x", Schedule: DefaultSchedule, Prune: ptr(true), Timeout: NewDuration(DefaultTimeout)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Sync{Spec: tt.in}
			s.Default()
			if diff := cmp.Diff(tt.want, s.Spec, cmpOpts); diff != "" {
				t.Errorf("Default (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPruneEnabled(t *testing.T) {
	for _, tt := range []struct {
		prune *bool
		want  bool
	}{{nil, true}, {ptr(true), true}, {ptr(false), false}} {
		s := SyncSpec{Prune: tt.prune}
		if got := s.PruneEnabled(); got != tt.want {
			t.Errorf("PruneEnabled with Prune %v = %v, want %v", tt.prune, got, tt.want)
		}
	}
}

// TestValidateBuiltInGo checks that a spec built in Go validates without
// Default: unset fields with defaults are not errors.
func TestValidateBuiltInGo(t *testing.T) {
	s := New("web", "apps")
	s.Spec.Source.Git = &GitSource{URL: "https://example.com/r.git"}
	if errs := s.Validate(); len(errs) > 0 {
		t.Errorf("Validate: %v", errs)
	}
	s.Spec.Source.Git = nil
	want := []string{`spec.source: Required value: set exactly one source kind: git or helm or oci or bucket`}
	if diff := cmp.Diff(want, errorStrings(s.Validate().ToAggregate())); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
}

var digestFormat = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestDigest(t *testing.T) {
	base := `apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata:
  name: web
  namespace: apps
spec:
  source:
    git:
      url: https://example.com/r.git
      ref:
        branch: main
  path: deploy
  timeout: 90s
  postBuild:
    substitute:
      a: "1"
      b: "2"
`
	digest := func(t *testing.T, doc string) string {
		t.Helper()
		s, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("Parse: %v\n%s", err, doc)
		}
		d := s.Digest()
		if !digestFormat.MatchString(d) {
			t.Fatalf("Digest = %q, want sha256:<64 hex>", d)
		}
		return d
	}
	want := digest(t, base)

	t.Run("same spec written differently", func(t *testing.T) {
		for name, doc := range map[string]string{
			"flow style, other key order, other duration spelling, explicit defaults": `
kind: Sync
apiVersion: gitsync.io/v1alpha1
metadata: {namespace: apps, name: web}
spec:
  postBuild: {substitute: {b: "2", a: "1"}}
  timeout: 1m30s
  prune: true
  schedule: "*/5 * * * *"
  path: ./deploy/
  source: {git: {timeout: 1m, ref: {branch: main}, url: "https://example.com/r.git"}}
`,
			"other metadata":   strings.Replace(base, "name: web", "name: other", 1),
			"unquoted numbers": strings.Replace(strings.Replace(base, `a: "1"`, `a: 1`, 1), `b: "2"`, `b: 2`, 1),
		} {
			if got := digest(t, doc); got != want {
				t.Errorf("%s: digest %s, want %s", name, got, want)
			}
		}
	})
	t.Run("changed spec", func(t *testing.T) {
		for name, change := range map[string][2]string{
			"url":         {"r.git", "s.git"},
			"branch":      {"branch: main", "branch: dev"},
			"path":        {"path: deploy", "path: deploy/prod"},
			"timeout":     {"timeout: 90s", "timeout: 91s"},
			"value":       {`b: "2"`, `b: "3"`},
			"prune":       {"  path: deploy", "  path: deploy\n  prune: false"},
			"new field":   {"  path: deploy", "  path: deploy\n  wait: true"},
			"schedule":    {"  path: deploy", "  path: deploy\n  schedule: '@hourly'"},
			"git timeout": {"        branch: main", "        branch: main\n      timeout: 2m"},
		} {
			doc := strings.Replace(base, change[0], change[1], 1)
			if doc == base {
				t.Fatalf("%s: change %q did not apply", name, change[0])
			}
			if got := digest(t, doc); got == want {
				t.Errorf("%s: digest unchanged (%s)", name, got)
			}
		}
	})
	t.Run("without Default", func(t *testing.T) {
		s := New("web", "apps")
		s.Spec.Source.Git = &GitSource{URL: "https://example.com/r.git", Ref: GitRef{Branch: "main"}}
		s.Spec.Path = "deploy"
		s.Spec.Timeout = NewDuration(90 * time.Second)
		s.Spec.PostBuild = &PostBuild{Substitute: map[string]string{"a": "1", "b": "2"}}
		if got := s.Digest(); got != want {
			t.Errorf("digest %s, want %s", got, want)
		}
		if s.Spec.Prune != nil {
			t.Errorf("Digest changed the spec")
		}
	})
}

func TestMarshal(t *testing.T) {
	for _, file := range []string{"minimal.yaml", "full.yaml"} {
		t.Run(file, func(t *testing.T) {
			s, err := Parse(readFile(t, file))
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(file, ".yaml")+".canonical.yaml.golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(out)); diff != "" {
				t.Errorf("Marshal (-want +got):\n%s", diff)
			}
			// The canonical form parses back to the same Sync and digest.
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Marshal): %v", err)
			}
			if diff := cmp.Diff(s, back, cmpOpts); diff != "" {
				t.Errorf("Parse(Marshal) (-want +got):\n%s", diff)
			}
			if back.Digest() != s.Digest() {
				t.Errorf("digest changed through Marshal")
			}
		})
	}
	t.Run("defaults without changing the receiver", func(t *testing.T) {
		s := New("web", "")
		s.Spec.Source.Git = &GitSource{URL: "https://example.com/r.git"}
		out, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want := `apiVersion: gitsync.io/v1alpha1
kind: Sync
metadata:
  name: web
spec:
  path: ./
  prune: true
  schedule: '*/5 * * * *'
  source:
    git:
      timeout: 1m0s
      url: https://example.com/r.git
  timeout: 5m0s
`
		if diff := cmp.Diff(want, string(out)); diff != "" {
			t.Errorf("Marshal (-want +got):\n%s", diff)
		}
		if s.Spec.Prune != nil || s.Spec.Source.Git.Timeout != nil {
			t.Errorf("Marshal changed the Sync")
		}
	})
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		ref  GitRef
		want string
	}{
		{GitRef{}, "default branch"},
		{GitRef{Branch: "main"}, "branch main"},
		{GitRef{Tag: "v1.2.0"}, "tag v1.2.0"},
		{GitRef{SemVer: ">=1.0.0 <2"}, "semver >=1.0.0 <2"},
		{GitRef{Name: "refs/pull/1/head"}, "ref refs/pull/1/head"},
		{GitRef{Commit: "0123456789abcdef0123456789abcdef01234567"}, "commit 0123456789ab"},
		{GitRef{Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567"}, "commit 0123456789ab on branch main"},
		// Flux's precedence decides what an invalid combination describes.
		{GitRef{Branch: "main", Tag: "v1", SemVer: "1.x"}, "semver 1.x"},
		{GitRef{Tag: "v1", Name: "refs/tags/v2"}, "ref refs/tags/v2"},
	}
	for _, tt := range tests {
		if got := tt.ref.Describe(); got != tt.want {
			t.Errorf("%+v.Describe() = %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestScheme(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"https://github.com/org/repo", SchemeHTTPS},
		{"HTTPS://github.com/org/repo", SchemeHTTPS},
		{"http://gitea:3000/org/repo.git", SchemeHTTP},
		{"ssh://git@github.com/org/repo.git", SchemeSSH},
		{"ssh://git@[::1]:2222/repo.git", SchemeSSH},
		{"git@github.com:org/repo.git", SchemeSSH},
		{"github.com:org/repo.git", SchemeSSH},
		{"git@[::1]:repo.git", SchemeSSH},
		{"host:/srv/repo.git", SchemeSSH},
		{"https://token@github.com/org/repo", SchemeHTTPS},
		{"https://u:p@github.com/org/repo", ""},
		{"file:///srv/repo.git", ""},
		{"git://github.com/org/repo", ""},
		{"/srv/repo.git", ""},
		{"repo.git", ""},
		{"git@github.com:", ""},
		{"https://github.com/org/my repo", ""},
		{"host://x", ""},
	}
	for _, tt := range tests {
		g := GitSource{URL: tt.url}
		if got := g.Scheme(); got != tt.want {
			t.Errorf("Scheme(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestConfigMapName(t *testing.T) {
	if got, want := ConfigMapName("web"), "gitsync-web"; got != want {
		t.Errorf("ConfigMapName = %q, want %q", got, want)
	}
	if MaxNameLength+len(ConfigMapName("")) != 52 {
		t.Errorf("MaxNameLength %d does not leave gitsync-NAME at 52 characters", MaxNameLength)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in       string
		want     time.Duration
		wantJSON string
		invalid  bool
	}{
		{`"90s"`, 90 * time.Second, `"1m30s"`, false},
		{`"1h0m"`, time.Hour, `"1h0m0s"`, false},
		{`"1.5s"`, 1500 * time.Millisecond, `"1.5s"`, false},
		// Invalid input is kept, for Validate to report and Marshal to keep.
		{`"soon"`, 0, `"soon"`, true},
		{`300`, 0, `300`, true},
		{`{"a":1}`, 0, `{"a":1}`, true},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalJSON([]byte(tt.in)); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", tt.in, err)
		}
		if d.Duration != tt.want || (d.invalid != "") != tt.invalid {
			t.Errorf("UnmarshalJSON(%s) = %v (invalid %q), want %v (invalid %v)", tt.in, d.Duration, d.invalid, tt.want, tt.invalid)
		}
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if string(out) != tt.wantJSON {
			t.Errorf("MarshalJSON after %s = %s, want %s", tt.in, out, tt.wantJSON)
		}
	}
}

// TestParseAccepts checks values at the edges of what validation allows.
func TestParseAccepts(t *testing.T) {
	for name, doc := range map[string]string{
		"schedule descriptor":   syncDoc(okSource + "schedule: '@hourly'"),
		"schedule every":        syncDoc(okSource + "schedule: '@every 10m'"),
		"schedule with ranges":  syncDoc(okSource + "schedule: '0 8-18/2 * * MON-FRI'"),
		"ref HEAD":              gitSpec("url: https://example.com/r.git\nref: {name: HEAD}"),
		"ref pull request":      gitSpec("url: https://example.com/r.git\nref: {name: refs/pull/1/head}"),
		"semver wildcard":       gitSpec("url: https://example.com/r.git\nref: {semver: 1.x}"),
		"https user name":       gitSpec("url: https://token@example.com/r.git\nsecretRef: {name: git-token}"),
		"component above path":  syncDoc(okSource + "path: ./apps/prod\ncomponents: [../../components/a]"),
		"json 6902 with target": syncDoc(okSource + "patches: [{patch: '[{op: copy, from: /a, path: /b}]', target: {kind: Deployment}}]"),
		"empty lists and maps":  syncDoc(okSource + "patches: []\nimages: []\ncommonMetadata: {}\npostBuild: {substitute: {}}"),
		"null values":           syncDoc(okSource + "path:\ntargetNamespace: ~"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); err != nil {
				t.Errorf("Parse: %v\n%s", err, doc)
			}
		})
	}
}
