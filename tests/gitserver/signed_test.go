package gitserver_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitclient "github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// fakeSignature records the payload it is given and returns a fixed
// armored block: the helpers place signatures, they do not make them, so
// this shows what they sign and where the signature lands.
func fakeSignature(got *[]byte) gitserver.Signer {
	return func(payload []byte) ([]byte, error) {
		*got = bytes.Clone(payload)
		return []byte("-----BEGIN SSH SIGNATURE-----\nU0lHTkVE\n-----END SSH SIGNATURE-----\n"), nil
	}
}

// payloadOf returns what a signature of o covers.
func payloadOf(t *testing.T, encode func(o plumbing.EncodedObject) error) []byte {
	t.Helper()
	o := &plumbing.MemoryObject{}
	if err := encode(o); err != nil {
		t.Fatal(err)
	}
	r, err := o.Reader()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignHeadAndSignedTag writes signatures where Git reads them: the
// commit's gpgsig header and after the tag's message, over the payload
// that a verifier recomputes.
func TestSignHeadAndSignedTag(t *testing.T) {
	s := start(t, gitserver.Options{})
	r, unsigned := seed(t, s, "app")
	var commitPayload, tagPayload []byte
	id, err := r.SignHead(t.Context(), fakeSignature(&commitPayload))
	if err != nil {
		t.Fatal(err)
	}
	tagID, err := r.SignedTag(t.Context(), "v1", "release", fakeSignature(&tagPayload))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := clone(t.Context(), s.HTTPURL("app"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(id))
	if err != nil {
		t.Fatal(err)
	}
	if id == unsigned || !strings.HasPrefix(c.PGPSignature, "-----BEGIN SSH SIGNATURE-----\nU0lHTkVE") {
		t.Errorf("signed head %s (unsigned %s) has signature %q", id, unsigned, c.PGPSignature)
	}
	if got := payloadOf(t, c.EncodeWithoutSignature); !bytes.Equal(got, commitPayload) {
		t.Errorf("the commit's payload is\n%s\nthe Signer was given\n%s", got, commitPayload)
	}
	ref, err := repo.Reference(plumbing.NewTagReferenceName("v1"), false)
	if err != nil || ref.Hash().String() != tagID {
		t.Fatalf("tag v1: %v, %v; want %s", ref, err, tagID)
	}
	tag, err := repo.TagObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if tag.Target.String() != id || tag.Message != "release\n" || !strings.HasPrefix(tag.PGPSignature, "-----BEGIN SSH SIGNATURE-----") {
		t.Errorf("tag: target %s, message %q, signature %q", tag.Target, tag.Message, tag.PGPSignature)
	}
	if got := payloadOf(t, tag.EncodeWithoutSignature); !bytes.Equal(got, tagPayload) {
		t.Errorf("the tag's payload is\n%s\nthe Signer was given\n%s", got, tagPayload)
	}
}

// TestGitlink writes a submodule entry.
func TestGitlink(t *testing.T) {
	s := start(t, gitserver.Options{})
	_, libID := seed(t, s, "lib")
	r, _ := seed(t, s, "app")
	id, err := r.CommitEntries(t.Context(), "submodule", gitserver.Entry{Path: "vendor/lib", Content: libID, Mode: gitserver.Gitlink})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := clone(t.Context(), s.HTTPURL("app"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(id))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	e, err := tree.FindEntry("vendor/lib")
	if err != nil || e.Mode != filemode.Submodule || e.Hash.String() != libID {
		t.Errorf("vendor/lib: %+v, %v; want a gitlink to %s", e, err, libID)
	}
}

// TestNoFilter leaves the filter capability out of the advertisement.
func TestNoFilter(t *testing.T) {
	for _, noFilter := range []bool{false, true} {
		s := start(t, gitserver.Options{NoFilter: noFilter})
		seed(t, s, "app")
		ep, err := transport.NewEndpoint(s.HTTPURL("app"))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := gitclient.NewClient(ep)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := cl.NewUploadPackSession(ep, nil)
		if err != nil {
			t.Fatal(err)
		}
		ar, err := sess.AdvertisedReferencesContext(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := ar.Capabilities.Supports(capability.Filter); got == noFilter {
			t.Errorf("NoFilter %v: the server advertises filter: %v", noFilter, got)
		}
		_ = sess.Close()
	}
}
