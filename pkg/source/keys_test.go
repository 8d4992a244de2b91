package source_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// pgpKey is a generated OpenPGP key pair.
type pgpKey struct {
	entity *openpgp.Entity
}

// newPGPKey generates an OpenPGP key for name.
func newPGPKey(t *testing.T, name string) pgpKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@gitsync.invalid", nil)
	check(t, "openpgp.NewEntity", err)
	return pgpKey{entity: e}
}

// fingerprint is the key's fingerprint as Fetch reports it.
func (k pgpKey) fingerprint() string { return fmt.Sprintf("%X", k.entity.PrimaryKey.Fingerprint) }

// public returns the armored public key, what a verification Secret holds.
func (k pgpKey) public(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	check(t, "armor.Encode", err)
	check(t, "Serialize", k.entity.Serialize(w))
	check(t, "armor close", w.Close())
	return b.Bytes()
}

// signer signs Git payloads with the key.
func (k pgpKey) signer() gitserver.Signer {
	return func(payload []byte) ([]byte, error) {
		var b bytes.Buffer
		err := openpgp.ArmoredDetachSign(&b, k.entity, bytes.NewReader(payload), nil)
		return b.Bytes(), err
	}
}

// sshKey is a generated SSH key pair.
type sshKey struct {
	signer ssh.Signer
}

// newSSHKey generates an ed25519 SSH key.
func newSSHKey(t *testing.T) sshKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	check(t, "ed25519", err)
	s, err := ssh.NewSignerFromKey(priv)
	check(t, "ssh signer", err)
	return sshKey{signer: s}
}

// fingerprint is the key's SHA256 fingerprint, as Fetch reports it.
func (k sshKey) fingerprint() string { return ssh.FingerprintSHA256(k.signer.PublicKey()) }

// authorizedKey is the public key as an authorized_keys line.
func (k sshKey) authorizedKey() []byte { return ssh.MarshalAuthorizedKey(k.signer.PublicKey()) }

// gitSigner signs Git payloads with the key, as `git -c gpg.format=ssh`
// does: SSHSIG, namespace "git", SHA-512.
func (k sshKey) gitSigner() gitserver.Signer {
	return func(payload []byte) ([]byte, error) {
		sig, err := sshsig.Sign(bytes.NewReader(payload), k.signer, sshsig.HashSHA512, "git")
		if err != nil {
			return nil, err
		}
		return sshsig.Armor(sig), nil
	}
}

// tampered returns a Signer that signs other bytes than it is given: its
// signature is by the right key and does not match the object.
func tampered(s gitserver.Signer) gitserver.Signer {
	return func(payload []byte) ([]byte, error) {
		return s(append(bytes.Clone(payload), "tampered\n"...))
	}
}

// keysOf parses a verification Secret's data.
func keysOf(t *testing.T, data map[string][]byte) source.VerificationKeys {
	t.Helper()
	k, err := source.VerificationKeysFromSecret(data)
	check(t, "VerificationKeysFromSecret", err)
	return k
}
