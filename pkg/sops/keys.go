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
	// data is what ParseKeys parsed them from (see Data).
	data map[string][]byte
}

// ParseKeys reads the keys of a decryption Secret's data: every entry whose
// name ends in .agekey holds age identities (AGE-SECRET-KEY-1… lines, #
// comments allowed), every entry ending in .asc an armored OpenPGP private
// key ring. Other entries are ignored, as Flux ignores the cloud key
// services' entries it handles elsewhere. An entry that does not parse is
// an error naming the entry, never its content.
func ParseKeys(data map[string][]byte) (*Keys, error) {
	k := &Keys{data: maps.Clone(data)}
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

// Data returns the Secret entries the keys were parsed from (ParseKeys'
// input), for handing them to a child process that parses them again (the
// Helm renderer, pkg/helm/helmexec); nil for Keys not made by ParseKeys.
// They are secret: they go on a pipe, never to a file, log or message.
func (k *Keys) Data() map[string][]byte {
	if k == nil {
		return nil
	}
	return k.data
}

// Empty reports whether k holds no key.
func (k *Keys) Empty() bool {
	return k == nil || len(k.age) == 0 && len(k.pgp) == 0
}

// NoKeyError is returned when the Keys cannot recover a file's data key:
// none of them decrypts it, or, for a file with several key groups, they
// decrypt the shares of fewer groups than its shamir_threshold.
type NoKeyError struct {
	// Recipients are the key ids the file was encrypted for: age
	// recipients, OpenPGP fingerprints, and a count per cloud key service.
	Recipients []string
	// Groups, for a file with several key groups, are the recipients of
	// each group, in the file's order; Decrypted tells which groups' shares
	// the Keys decrypted, and Threshold how many are needed.
	Groups    [][]string
	Decrypted []bool
	Threshold int
	// GroupErrors hold, per group, why a matching key failed to unwrap
	// the group's share (a damaged file); nil where no key matched.
	GroupErrors []error
}

func (e *NoKeyError) Error() string {
	if len(e.Groups) > 1 {
		n := 0
		parts := make([]string, len(e.Groups))
		for i, g := range e.Groups {
			state := "no matching key"
			if i < len(e.Decrypted) && e.Decrypted[i] {
				state, n = "decrypted", n+1
			} else if i < len(e.GroupErrors) && e.GroupErrors[i] != nil {
				state = "failed: " + e.GroupErrors[i].Error()
			}
			parts[i] = fmt.Sprintf("group %d (%s): %s", i+1, strings.Join(g, ", "), state)
		}
		return fmt.Sprintf("the decryption keys open %d of the file's %d key groups, and its shamir_threshold needs %d: %s",
			n, len(e.Groups), e.Threshold, strings.Join(parts, "; "))
	}
	if len(e.Recipients) == 0 {
		return "no decryption key matches: the file names no recipient"
	}
	return "no decryption key matches any recipient of the file: " + strings.Join(e.Recipients, ", ")
}

// dataKey returns the file's 32-byte data key: decrypted with the first
// matching key, or, for a file with several key groups, combined from the
// shares of the groups the Keys decrypt.
func (k *Keys) dataKey(m *metadata) ([]byte, error) {
	if len(m.KeyGroups) <= 1 {
		g := keyGroup{Age: m.ageStanzas(), PGP: m.pgpStanzas()}
		key, recipients, err := k.groupKey(g, dataKeySize)
		if err != nil || key != nil {
			return key, err
		}
		return nil, &NoKeyError{Recipients: append(recipients, m.otherKeys()...)}
	}
	threshold := m.ShamirThreshold
	if threshold == 0 {
		// SOPS reads a missing threshold as "every group".
		threshold = len(m.KeyGroups)
	}
	e := &NoKeyError{Threshold: threshold, Decrypted: make([]bool, len(m.KeyGroups)), GroupErrors: make([]error, len(m.KeyGroups))}
	var shares [][]byte
	for i, g := range m.KeyGroups {
		share, recipients, err := k.groupKey(g, dataKeySize+1)
		if err != nil {
			// As SOPS does, a group that fails does not stop the
			// others: the threshold may be reached without it.
			e.GroupErrors[i] = err
			recipients = recipientsOf(g)
		}
		recipients = append(recipients, groupOtherKeys(g)...)
		e.Recipients = append(e.Recipients, recipients...)
		e.Groups = append(e.Groups, recipients)
		if share != nil {
			e.Decrypted[i] = true
			shares = append(shares, share)
		}
	}
	if len(shares) < threshold {
		return nil, e
	}
	return combineShares(shares)
}

// dataKeySize is the length of SOPS's data key; a Shamir share is one
// byte longer.
const dataKeySize = 32

// recipientsOf names the age and OpenPGP recipients of a key group.
func recipientsOf(g keyGroup) []string {
	var out []string
	for _, s := range g.Age {
		out = append(out, "age "+s.Recipient)
	}
	for _, s := range g.PGP {
		out = append(out, "pgp "+s.Fingerprint)
	}
	return out
}

// groupKey decrypts what the key group g holds for the file (the data key,
// or a share of it) with the first matching key. It returns the group's
// recipients, and a nil key when none of the Keys matches.
func (k *Keys) groupKey(g keyGroup, size int) ([]byte, []string, error) {
	var recipients []string
	for _, s := range g.Age {
		recipients = append(recipients, "age "+s.Recipient)
		if k == nil || len(k.age) == 0 {
			continue
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(s.Enc)), k.age...)
		if err != nil {
			if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
				continue
			}
			return nil, nil, fmt.Errorf("age recipient %s: %w", s.Recipient, err)
		}
		key, err := readKey(r, "age recipient "+s.Recipient, size)
		return key, recipients, err
	}
	for _, s := range g.PGP {
		recipients = append(recipients, "pgp "+s.Fingerprint)
		if k == nil || len(k.pgp) == 0 {
			continue
		}
		block, err := pgparmor.Decode(strings.NewReader(s.Enc))
		if err != nil {
			return nil, nil, fmt.Errorf("pgp key %s: encrypted data key is not armored", s.Fingerprint)
		}
		md, err := openpgp.ReadMessage(block.Body, k.pgp, nil, nil)
		if err != nil {
			// A message for another key fails with ErrKeyIncorrect
			// or an unknown-issuer error: try the next recipient.
			continue
		}
		key, err := readKey(md.UnverifiedBody, "pgp key "+s.Fingerprint, size)
		return key, recipients, err
	}
	return nil, recipients, nil
}

func readKey(r io.Reader, who string, size int) ([]byte, error) {
	key, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	if len(key) != size {
		return nil, fmt.Errorf("%s: data key has %d bytes, want %d", who, len(key), size)
	}
	return key, nil
}
