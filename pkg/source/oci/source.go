package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/gitsync/gitsync/pkg/source"
)

// NewSource returns the artifact o names as a source.Source. Its Resolve
// is Resolve; its Fetch fetches the manifest digest of the revision it is
// given (a tag moved since does not matter). It is a
// source.ContentDigester when o.Verify is set: the digest of the trusted
// keys joins the run's input digest, so that a changed key set verifies
// the artifact again instead of trusting the last verification.
func NewSource(o Options) source.Source {
	if o.Verify != nil {
		return &verifiedSource{artifactSource{o: o}}
	}
	return &artifactSource{o: o}
}

// Pin returns o pinned to rev, a revision a run recorded (a rollback):
// Resolve then checks that the registry still has the manifest digest of
// rev and returns rev itself; Fetch fetches that manifest.
func Pin(o Options, rev source.Revision) (Options, error) {
	d := rev.Digest()
	if len(d) != len("sha256:")+64 || d[:7] != "sha256:" {
		return o, fmt.Errorf("revision %q: not of the form [tag@]sha256:<64 hex>: %w", rev, source.ErrInvalidOptions)
	}
	o.Ref = Ref{Digest: d}
	o.pinned = rev
	return o, nil
}

// artifactSource is an artifact as a source.Source.
type artifactSource struct{ o Options }

// Resolve returns the revision Resolve selects; for a pinned source, the
// pinned revision once the registry confirmed its digest.
func (s *artifactSource) Resolve(ctx context.Context) (source.Revision, error) {
	res, err := Resolve(ctx, s.o)
	if err != nil {
		return "", err
	}
	if s.o.pinned != "" {
		return s.o.pinned, nil
	}
	return res.Revision, nil
}

// Fetch fetches the manifest of rev into dir.
func (s *artifactSource) Fetch(ctx context.Context, rev source.Revision, dir string) (*source.Artifact, error) {
	return Fetch(ctx, s.o, rev, dir)
}

// verifiedSource is an artifactSource whose signature is verified.
type verifiedSource struct{ artifactSource }

// ContentDigest returns a digest of the verification provider and keys.
func (s *verifiedSource) ContentDigest(source.Revision) string {
	v := s.o.Verify
	names := make([]string, 0, len(v.Keys))
	for n := range v.Keys {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "verify %s\n", v.Provider)
	for _, n := range names {
		fmt.Fprintf(h, "%d:%s=%d:%s\n", len(n), n, len(v.Keys[n]), v.Keys[n])
	}
	if v.keyless() {
		// Keyless: the identities and the trusted root (none: the
		// public-good one, whose changes do not verify again).
		for _, id := range v.Identities {
			fmt.Fprintf(h, "identity %d:%s %d:%s\n", len(id.Issuer), id.Issuer, len(id.Subject), id.Subject)
		}
		fmt.Fprintf(h, "root %d:%s\n", len(v.TrustedRoot), v.TrustedRoot)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
