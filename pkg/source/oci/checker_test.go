package oci_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sdk"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sigexec"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// inProcess is the package's signature checker: sigstore-go in the test
// process (as the plugin), or with GITSYNC_HELM_RENDERER set the child
// program `sync-job-helm verify` that sync-job uses, for every test.
var inProcess sigcheck.Checker = sdk.Checker{}

func init() {
	if os.Getenv(helmexec.EnvProgram) != "" {
		inProcess = sigexec.Checker{}
	}
	oci.UseChecker(inProcess)
}

// TestCheckerChild verifies signatures as sync-job does, with sigstore-go
// in the child process (cmd/sync-job-helm verify): a keyless cosign v2
// signature and a keyless bundle verify and say who signed; a wrong
// identity, an unusable trusted root and a broken child are refused, the
// root as invalid options, and nothing is extracted.
func TestCheckerChild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), helmexec.Program)
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", helmexec.Program, err, out)
	}
	oci.UseChecker(sigexec.Checker{Path: bin})
	t.Cleanup(func() { oci.UseChecker(inProcess) })

	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	vs := sigstoretest.New(t)
	const subject, issuer = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com"
	good := []oci.OIDCIdentity{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/app/`}}
	opts := func(repo string, trusted []byte, ids []oci.OIDCIdentity) oci.Options {
		return oci.Options{URL: reg.URL(repo), Auth: creds,
			Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: ids, TrustedRoot: trusted}}
	}
	push := func(repo string) string {
		d, err := reg.PushArtifact(repo, "latest", helmrepo.Artifact{Files: map[string]string{"repo.txt": repo}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	trusted := vs.TrustedRoot(t)

	legacy := push("legacy")
	payload := sigstoretest.SimpleSigning(t, legacy)
	sigstoretest.PushSignature(t, reg, user, password, "legacy", legacy, payload, vs.Sign(t, subject, issuer, payload))
	art, _, err := fetch(t, opts("legacy", trusted, good))
	if err != nil {
		t.Fatalf("a good keyless signature, checked in the child: %v", err)
	}
	if want := "cosign keyless issuer=" + issuer + " subject=" + subject; art.VerifiedBy != want {
		t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, want)
	}

	bundled := push("bundled")
	ref := sigstoretest.PushBundle(t, registry.Client{Auth: creds}, reg.Host(), "bundled", bundled, vs.SignBundle(t, subject, issuer, sigstoretest.CosignStatement(t, bundled, "")))
	art, _, err = fetch(t, opts("bundled", trusted, good))
	if err != nil {
		t.Fatalf("a good keyless bundle, checked in the child: %v", err)
	}
	if want := "cosign keyless issuer=" + issuer + " subject=" + subject + " (sigstore bundle " + ref + ")"; art.VerifiedBy != want {
		t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, want)
	}

	// A wrong identity: the child's answer is a problem, not an error.
	if _, _, err := fetch(t, opts("legacy", trusted, []oci.OIDCIdentity{{Issuer: good[0].Issuer, Subject: "^https://github\\.com/org/other/"}})); !errors.Is(err, source.ErrVerification) || !strings.Contains(err.Error(), "no signature verifies") {
		t.Errorf("wrong identity: %v, want ErrVerification", err)
	}
	// A trusted root that is JSON but no root: the child cannot parse it.
	if _, _, err := fetch(t, opts("legacy", []byte(`{"mediaType": "nothing"}`), good)); !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "trusted_root.json") {
		t.Errorf("unusable trusted root: %v, want ErrInvalidOptions naming trusted_root.json", err)
	}
	// A child that crashes or answers garbage fails the fetch, naming it.
	for _, tc := range []struct{ name, script, want string }{
		{"crash", "cat >/dev/null; echo 'panic: boom' >&2; exit 2", "exit status 2; stderr: panic: boom"},
		{"garbage", "cat >/dev/null; echo not-json", "invalid output"},
	} {
		p := filepath.Join(t.TempDir(), helmexec.Program)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		oci.UseChecker(sigexec.Checker{Path: p})
		art, _, err := fetch(t, opts("bundled", trusted, good))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v; want an error naming %s and %q", tc.name, err, p, tc.want)
		}
		if art != nil {
			t.Errorf("%s: an artifact was fetched: %+v", tc.name, art)
		}
	}
}
