package oci_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/tests/helmrepo"
	"github.com/gitsync/gitsync/tests/sigstoretest"
)

// TestSignedCertificateTimestamps: when the trusted root lists a CT log,
// the Fulcio certificate must carry a signed certificate timestamp of
// it, in both layouts: a valid SCT verifies; a missing one, or one the
// log did not sign, is refused.
func TestSignedCertificateTimestamps(t *testing.T) {
	reg, creds := startRegistry(t, helmrepo.RegistryOptions{})
	r := bundleRegistry{"referrers tag", reg.Host(), registry.Client{Auth: creds}, creds}
	vs := sigstoretest.New(t).WithCTLog(t)
	trusted := vs.TrustedRoot(t)
	for _, tt := range []struct {
		name string
		by   *sigstoretest.VirtualSigstore
		want string // "" to verify
	}{
		{"valid SCT", vs, ""},
		{"no SCT", vs.WithoutSCT(), "SCT"},
		{"forged SCT", vs.WithForgedSCT(), "SCT"},
	} {
		for _, layout := range []string{"bundle", "sig"} {
			t.Run(tt.name+"/"+layout, func(t *testing.T) {
				repo := strings.ToLower(strings.ReplaceAll(tt.name, " ", "-")) + "-" + layout
				d := r.push(t, repo)
				if layout == "bundle" {
					r.pushBundle(t, repo, d, tt.by.SignBundle(t, bundleSubject, bundleIssuer, sigstoretest.CosignStatement(t, d, "")))
				} else {
					p := sigstoretest.SimpleSigning(t, d)
					sigstoretest.PushSignature(t, reg, user, password, repo, d, p, tt.by.Sign(t, bundleSubject, bundleIssuer, p))
				}
				art, _, err := fetch(t, oci.Options{URL: r.url(repo), Auth: creds,
					Verify: &oci.Verification{Provider: oci.ProviderCosign, Identities: bundleIdentity, TrustedRoot: trusted}})
				if tt.want == "" {
					if err != nil {
						t.Fatalf("a certificate with a valid SCT: %v", err)
					}
					return
				}
				if !errors.Is(err, source.ErrVerification) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want ErrVerification saying %q", err, tt.want)
				}
				t.Log(err)
				if art != nil {
					t.Errorf("an artifact was returned: %+v", art)
				}
			})
		}
	}
}
