package imageupdate

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// SigningKey signs the commit: the pushed commit verifies with the public
// key.
func TestRunSignsTheCommit(t *testing.T) {
	_, r, o := setup(t, gitserver.Options{})
	e, err := openpgp.NewEntity("gitsync", "", "gitsync@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	o.SigningKey = e
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(res.Commit))
	if err != nil {
		t.Fatal(err)
	}
	if c.PGPSignature == "" {
		t.Fatal("commit is not signed")
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if _, err := c.Verify(pub.String()); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
}
