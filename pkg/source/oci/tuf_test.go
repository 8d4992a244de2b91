package oci_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/helm/helmexec"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck"
	"github.com/gitsync/gitsync/pkg/source/oci/sigcheck/sigexec"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// TestKeylessPublicGoodRoot verifies keyless signatures without a trusted
// root of their own, as Flux does: the trusted root is fetched through TUF
// from a mirror (a real TUF repository served by the test, named by
// sigcheck.EnvTUFURL and sigcheck.EnvTUFRoot), with the package's checker.
func TestKeylessPublicGoodRoot(t *testing.T) {
	testPublicGoodRoot(t)
}

// TestKeylessPublicGoodRootChild is TestKeylessPublicGoodRoot with the
// checks in the child program, as sync-job makes them: the TUF settings
// reach it although its environment is filtered, and a mirror that does
// not answer fails with the child's message, before the parent's deadline.
func TestKeylessPublicGoodRootChild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), helmexec.Program)
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/gitsync/gitsync/cmd/sync-job-helm").CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", helmexec.Program, err, out)
	}
	oci.UseChecker(sigexec.Checker{Path: bin})
	t.Cleanup(func() { oci.UseChecker(inProcess) })
	testPublicGoodRoot(t)
}

func testPublicGoodRoot(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	vs := sigstoretest.New(t)
	mirror := sigstoretest.ServeTUF(t, vs.TrustedRoot(t))
	t.Setenv(sigcheck.EnvTUFURL, mirror.URL)
	t.Setenv(sigcheck.EnvTUFRoot, mirror.RootPath)

	const subject, issuer = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com"
	good := []oci.OIDCIdentity{{Issuer: `^https://token\.actions\.githubusercontent\.com$`, Subject: `^https://github\.com/org/app/`}}
	// opts is what fromspec makes of verify without secretRef and
	// without trustedRootSecretRef.
	opts := func(repo string, ids []oci.OIDCIdentity) oci.Options {
		return oci.Options{URL: reg.URL(repo), Auth: creds,
			Verify: &oci.Verification{Provider: oci.ProviderCosign, Keyless: true, Identities: ids}}
	}
	push := func(repo string) string {
		d, err := reg.PushArtifact(repo, "latest", helmrepo.Artifact{Files: map[string]string{"repo.txt": repo}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	signed := push("signed")
	payload := sigstoretest.SimpleSigning(t, signed)
	sigstoretest.PushSignature(t, reg, user, password, "signed", signed, payload, vs.Sign(t, subject, issuer, payload))
	bundled := push("bundled")
	ref := sigstoretest.PushBundle(t, registry.Client{Auth: creds}, reg.Host(), "bundled", bundled, vs.SignBundle(t, subject, issuer, sigstoretest.CosignStatement(t, bundled, "")))

	by := "cosign keyless issuer=" + issuer + " subject=" + subject
	for _, tt := range []struct {
		name, repo string
		ids        []oci.OIDCIdentity
		want       string
	}{
		{"identity", "signed", good, by},
		{"any identity", "signed", nil, by},
		{"bundle", "bundled", good, by + " (sigstore bundle " + ref + ")"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := mirror.TrustedRootServed()
			art, _, err := fetch(t, opts(tt.repo, tt.ids))
			if err != nil {
				t.Fatalf("verified with the trusted root from TUF: %v", err)
			}
			if art.VerifiedBy != tt.want {
				t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, tt.want)
			}
			if mirror.TrustedRootServed() == before {
				t.Errorf("the mirror did not serve the trusted root")
			}
			if got := tree(t, art.Dir); len(got) == 0 {
				t.Errorf("nothing extracted from a verified artifact")
			}
		})
	}

	// The signatures do not verify: the run fails naming the trust.
	other := sigstoretest.ServeTUF(t, sigstoretest.New(t).TrustedRoot(t))
	for _, tt := range []struct {
		name, repo, mirror string
		ids                []oci.OIDCIdentity
		want               []string
	}{
		{"wrong identity", "signed", mirror.URL, []oci.OIDCIdentity{{Issuer: good[0].Issuer, Subject: `^https://github\.com/org/other/`}},
			[]string{"no signature verifies", "org/other", "public-good"}},
		{"bundle without identities", "bundled", mirror.URL, nil,
			[]string{"no sigstore bundle verifies", "matchOIDCIdentity", "identities: any"}},
		{"another instance's root", "signed", other.URL, good, []string{"no signature verifies"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mirror != mirror.URL {
				t.Setenv(sigcheck.EnvTUFURL, tt.mirror)
				t.Setenv(sigcheck.EnvTUFRoot, other.RootPath)
			}
			mustRefuse(t, opts(tt.repo, tt.ids), tt.want...)
		})
	}

	// The trusted root cannot be had: the fetch fails naming the mirror,
	// and nothing is extracted.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	missing := filepath.Join(t.TempDir(), "root.json")
	for _, tt := range []struct {
		name, url, root string
		want            []string
	}{
		{"unreachable mirror", closed.URL, mirror.RootPath, []string{"TUF repository " + closed.URL, "connection refused"}},
		{"mirror not answering", hang.URL, mirror.RootPath, []string{"TUF repository " + hang.URL, "deadline exceeded"}},
		{"mirror signed by other keys", mirror.URL, other.RootPath, []string{"TUF repository " + mirror.URL, "TUF root " + other.RootPath}},
		{"no TUF root", mirror.URL, missing, []string{sigcheck.EnvTUFRoot + " (" + missing + ")"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(sigcheck.EnvTUFURL, tt.url)
			t.Setenv(sigcheck.EnvTUFRoot, tt.root)
			o := opts("signed", good)
			o.Timeout = 3 * time.Second
			src := oci.NewSource(o)
			rev, err := src.Resolve(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "art")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			art, err := src.Fetch(t.Context(), rev, dir)
			if err == nil {
				t.Fatalf("fetched without a trusted root: %+v", art)
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s, beyond the source's timeout", d)
			}
			if got := tree(t, dir); len(got) != 0 {
				t.Errorf("extracted without verification: %v", got)
			}
		})
	}
}
