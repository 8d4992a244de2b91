package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// TestStatusSourceKinds prints the status of a sync of each kind of
// source, detailed and as a table: the URL, what is taken from it, the
// digest of the last applied revision and the source's settings.
func TestStatusSourceKinds(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0a", 32)
	applied := goldenNow.Add(-10 * time.Minute)
	items := []action.SyncStatus{
		{Name: "app", Namespace: "team-c", Prune: true, Schedule: "*/5 * * * *",
			Source: action.SourceStatus{Kind: "git", URL: "https://git.example.com/app.git", Ref: "tag v1.2.0",
				Digest: "sha1:3f2a1b2c4d5e6f708192a3b4c5d6e7f801234567",
				Details: []string{"credentials from Secret git-creds", "verify TagAndHEAD signatures, keys from Secret git-keys",
					"sparse checkout: deploy, charts", "submodules",
					"include https://git.example.com/base.git (branch main): manifests -> deploy/base"}},
			LastAppliedRevision: "v1.2.0@sha1:3f2a1b2c4d5e6f708192a3b4c5d6e7f801234567", LastAppliedTime: &applied, Path: "./deploy"},
		{Name: "configs", Namespace: "team-b", Prune: true, Schedule: "*/5 * * * *",
			Source: action.SourceStatus{Kind: "bucket", URL: "https://minio.example.com:9000", Ref: "bucket configs, prefix apps/",
				Digest: digest, Details: []string{"credentials from Secret s3-keys", "region eu-west-1", "ignore rules: *.txt"}},
			LastAppliedRevision: digest, LastAppliedTime: &applied, Path: "./apps"},
		{Name: "web", Namespace: "team-a", Prune: true, Schedule: "*/5 * * * *",
			Source: action.SourceStatus{Kind: "oci", URL: "oci://ghcr.io/example/web-config", Ref: "semver >=1.0.0 <2, verified with cosign",
				Digest: digest, Details: []string{"credentials from Secret ghcr", "verify cosign signatures, keys from Secret cosign-keys"}},
			LastAppliedRevision: "v1.4.0@" + digest, LastAppliedTime: &applied, Path: "./deploy",
			LastRun: &inventory.Run{Revision: "v1.4.0@" + digest, Result: "Succeeded", Start: applied.Add(-4 * time.Second), End: applied}},
	}
	var out bytes.Buffer
	for _, st := range items {
		if err := printStatusDetail(&out, st, goldenNow); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	if err := printStatusTable(&out, items, goldenNow, true, false, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/status/sources.txt", out.String())
	// Independently of the golden file: the digest has its row, and the
	// settings continue under the first in the value column.
	for _, re := range []string{`(?m)^Digest: +` + digest + `$`,
		`(?m)^Source Settings: +credentials from Secret ghcr\n +verify cosign signatures, keys from Secret cosign-keys\n`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output does not match %s", re)
		}
	}
}
