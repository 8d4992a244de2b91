package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
)

// Key file suffixes in a decryption Secret, as Flux's kustomize-controller
// reads them.
const (
	AgeKeySuffix = ".agekey"
	PGPKeySuffix = ".asc"
)

// Keys are the private keys a file may be decrypted with. The zero value
// holds none.
type Keys struct {
	age []age.Identity
	pgp openpgp.EntityList
}

// ParseKeys reads the keys of a decryption Secret's data: every entry whose
// name ends in .agekey holds age identities (AGE-SECRET-KEY-1… lines, #
// comments allowed), every entry ending in .asc an armored OpenPGP private
// key ring. Other entries are ignored, as Flux ignores the cloud key
// services' entries it handles elsewhere. An entry that does not parse is
// an error naming the entry, never its content.
func ParseKeys(data map[string][]byte) (*Keys, error) {
	k := &Keys{}
	for _, name := range slices.Sorted(maps.Keys(data)) {
		switch {
		case strings.HasSuffix(name, AgeKeySuffix):
			ids, err := age.ParseIdentities(bytes.NewReader(data[name]))
			if err != nil {
				// age's parse errors quote no key material, but say
				// only what kind of problem it is to be sure.
				return nil, fmt.Errorf("%s: not a list of age identities", name)
			}
			k.age = append(k.age, ids...)
		case strings.HasSuffix(name, PGPKeySuffix):
			ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data[name]))
			if err != nil {
				return nil, fmt.Errorf("%s: not an armored OpenPGP key ring", name)
			}
			for _, e := range ring {
				if e.PrivateKey == nil {
					return nil, fmt.Errorf("%s: OpenPGP key %X has no private key", name, e.PrimaryKey.Fingerprint)
				}
				if e.PrivateKey.Encrypted {
					return nil, fmt.Errorf("%s: OpenPGP key %X is protected by a passphrase", name, e.PrimaryKey.Fingerprint)
				}
			}
			k.pgp = append(k.pgp, ring...)
		}
	}
	return k, nil
}

// Empty reports whether k holds no key.
func (k *Keys) Empty() bool {
	return k == nil || len(k.age) == 0 && len(k.pgp) == 0
}

// NoKeyError is returned when none of the Keys decrypts a file's data key.
type NoKeyError struct {
	// Recipients are the key ids the file was encrypted for: age
	// recipients, OpenPGP fingerprints, and a count per cloud key service.
	Recipients []string
}

func (e *NoKeyError) Error() string {
	if len(e.Recipients) == 0 {
		return "no decryption key matches: the file names no recipient"
	}
	return "no decryption key matches any recipient of the file: " + strings.Join(e.Recipients, ", ")
}

// dataKey returns the file's 32-byte data key, decrypted with the first
// matching key.
func (k *Keys) dataKey(m *metadata) ([]byte, error) {
	var recipients []string
	for _, s := range m.ageStanzas() {
		recipients = append(recipients, "age "+s.Recipient)
		if k == nil || len(k.age) == 0 {
			continue
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(s.Enc)), k.age...)
		if err != nil {
			if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
				continue
			}
			return nil, fmt.Errorf("age recipient %s: %w", s.Recipient, err)
		}
		return readKey(r, "age recipient "+s.Recipient)
	}
	for _, s := range m.pgpStanzas() {
		recipients = append(recipients, "pgp "+s.Fingerprint)
		if k == nil || len(k.pgp) == 0 {
			continue
		}
		block, err := pgparmor.Decode(strings.NewReader(s.Enc))
		if err != nil {
			return nil, fmt.Errorf("pgp key %s: encrypted data key is not armored", s.Fingerprint)
		}
		md, err := openpgp.ReadMessage(block.Body, k.pgp, nil, nil)
		if err != nil {
			// A message for another key fails with ErrKeyIncorrect
			// or an unknown-issuer error: try the next recipient.
			continue
		}
		return readKey(md.UnverifiedBody, "pgp key "+s.Fingerprint)
	}
	return nil, &NoKeyError{Recipients: append(recipients, m.otherKeys()...)}
}

func readKey(r io.Reader, who string) ([]byte, error) {
	key, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%s: data key has %d bytes, want 32", who, len(key))
	}
	return key, nil
}
