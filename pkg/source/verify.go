package source

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// ErrUnverified means a source's content could not be shown to be
// authentic: it is not signed, signed by a key that is not trusted, or its
// signature does not match it. Nothing of it may be applied. Every kind
// that verifies signatures wraps it.
var ErrUnverified = errors.New("signature verification failed")

// VerifyMode says which Git objects a GitVerification checks, as Flux's
// GitRepository .spec.verify.mode.
type VerifyMode string

// The verification modes, with Flux's names.
const (
	// VerifyHEAD checks the commit that is checked out.
	VerifyHEAD VerifyMode = "HEAD"
	// VerifyTag checks the annotated tag the ref selects (ref.tag,
	// ref.semver or a ref.name under refs/tags/).
	VerifyTag VerifyMode = "Tag"
	// VerifyTagAndHEAD checks that tag and the commit it points to.
	VerifyTagAndHEAD VerifyMode = "TagAndHEAD"
)

// ParseVerifyMode returns the mode s names. Flux's older "head" is
// "HEAD"; the empty string is "HEAD" too, Flux's default.
func ParseVerifyMode(s string) (VerifyMode, error) {
	switch s {
	case "", "head", string(VerifyHEAD):
		return VerifyHEAD, nil
	case string(VerifyTag), string(VerifyTagAndHEAD):
		return VerifyMode(s), nil
	}
	return "", fmt.Errorf("verify mode %q: want HEAD, Tag or TagAndHEAD", s)
}

// tag reports whether the mode checks a tag.
func (m VerifyMode) tag() bool { return m == VerifyTag || m == VerifyTagAndHEAD }

// head reports whether the mode checks the commit.
func (m VerifyMode) head() bool { return m == VerifyHEAD || m == VerifyTagAndHEAD || m == "" }

// GitVerification makes Fetch check signatures before anything is checked
// out. A commit or tag that is not signed, is signed by a key not in Keys,
// or whose signature does not match it fails the fetch with ErrUnverified.
type GitVerification struct {
	// Mode says what to check. Default (""): VerifyHEAD.
	Mode VerifyMode
	// Keys are the trusted public keys. Required.
	Keys VerificationKeys
	// Tag names the tag to check in the tag modes when Ref selects a
	// commit: PinGit sets it when it pins a tag revision (a rollback), so
	// that the tag is still checked. Default: the tag Ref selects.
	Tag string
}

// VerificationKeys are trusted public keys: OpenPGP keys and SSH keys.
// The zero value trusts no key.
type VerificationKeys struct {
	pgp openpgp.EntityList
	ssh []trustedSSHKey
}

// trustedSSHKey is an SSH public key and where it was read from.
type trustedSSHKey struct {
	key ssh.PublicKey
	// from is "<Secret key>:<line>", for error messages.
	from string
}

// Suffixes of verification Secret keys, as Flux reads them.
const (
	suffixPGP = ".asc"
	suffixSSH = ".sshpub"
)

// VerificationKeysFromSecret reads the public keys of a verification
// Secret's data, as Flux's source-controller does: a key ending in ".asc"
// holds armored OpenPGP public keys, one ending in ".sshpub" holds SSH
// public keys, one per line in authorized_keys or allowed_signers form
// (principals, options and comments are read past, not evaluated). A key
// with another name is read as OpenPGP keys when it holds an armored
// OpenPGP block, else as SSH key lines (Flux reads every other key as
// OpenPGP). Anything that does not parse is an error naming the Secret
// key and line: a Secret with a broken entry is refused rather than
// trusted in part. RSA keys under 2048 bits are refused.
func VerificationKeysFromSecret(data map[string][]byte) (VerificationKeys, error) {
	var k VerificationKeys
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := data[name]
		asPGP := strings.HasSuffix(name, suffixPGP) ||
			!strings.HasSuffix(name, suffixSSH) && bytes.Contains(v, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
		if asPGP {
			list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(v))
			if err != nil {
				return VerificationKeys{}, fmt.Errorf("%s: not armored OpenPGP public keys: %w", name, err)
			}
			k.pgp = append(k.pgp, list...)
			continue
		}
		keys, err := parseSSHKeys(name, v)
		if err != nil {
			return VerificationKeys{}, err
		}
		k.ssh = append(k.ssh, keys...)
	}
	if k.empty() {
		return VerificationKeys{}, errors.New("holds no public keys (OpenPGP keys under *.asc, SSH keys under *.sshpub)")
	}
	return k, nil
}

// empty reports whether k trusts no key.
func (k VerificationKeys) empty() bool { return len(k.pgp) == 0 && len(k.ssh) == 0 }

// parseSSHKeys reads SSH public keys, one per line: "[principals]
// [options] type base64 [comment]". Blank lines and # comments are
// skipped.
func parseSSHKeys(name string, data []byte) ([]trustedSSHKey, error) {
	var out []trustedSSHKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := parseSSHKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, n, err)
		}
		if err := checkKeyStrength(key); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, n, err)
		}
		out = append(out, trustedSSHKey{key: key, from: fmt.Sprintf("%s:%d", name, n)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// parseSSHKeyLine finds the key in one authorized_keys or allowed_signers
// line: the first field that names a key type and is followed by the
// base64 of a key of that type. Fields before it (principals, options)
// are not evaluated.
func parseSSHKeyLine(line string) (ssh.PublicKey, error) {
	fields := strings.Fields(line)
	for i := 0; i+1 < len(fields); i++ {
		raw, err := base64.StdEncoding.DecodeString(fields[i+1])
		if err != nil {
			continue
		}
		key, err := ssh.ParsePublicKey(raw)
		if err != nil || key.Type() != fields[i] {
			continue
		}
		return key, nil
	}
	return nil, errors.New("no SSH public key (want authorized_keys or allowed_signers lines: [principals] [options] type base64 [comment])")
}

// sshNamespace is the SSHSIG namespace Git signs commits and tags in.
const sshNamespace = "git"

// signed is a Git object that may carry a signature: a commit or a tag.
type signed struct {
	// what names the object in messages: "commit <id>" or "tag <name>".
	what      string
	signature string
	// payload returns the bytes the signature covers: the object without
	// its signature.
	payload func() ([]byte, error)
}

// signedCommit describes c for verification.
func signedCommit(c *object.Commit) signed {
	return signed{
		what:      "commit " + c.Hash.String(),
		signature: c.PGPSignature,
		payload: func() ([]byte, error) {
			o := &plumbing.MemoryObject{}
			if err := c.EncodeWithoutSignature(o); err != nil {
				return nil, err
			}
			return readObject(o)
		},
	}
}

// signedTag describes t for verification.
func signedTag(t *object.Tag) signed {
	return signed{
		what:      "tag " + t.Name,
		signature: t.PGPSignature,
		payload: func() ([]byte, error) {
			o := &plumbing.MemoryObject{}
			if err := t.EncodeWithoutSignature(o); err != nil {
				return nil, err
			}
			return readObject(o)
		},
	}
}

// readObject returns the content of o.
func readObject(o plumbing.EncodedObject) ([]byte, error) {
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	return io.ReadAll(r)
}

// verify checks the signature of obj against k and returns the id of the
// key that made it: the OpenPGP primary key's fingerprint (40 hex digits)
// or the SSH key's SHA256 fingerprint. Its errors wrap ErrUnverified and
// name the object and, when the signature names one, the key.
func (k VerificationKeys) verify(obj signed) (string, error) {
	sig := strings.TrimSpace(obj.signature)
	if sig == "" {
		return "", fmt.Errorf("%s is not signed: %w", obj.what, ErrUnverified)
	}
	payload, err := obj.payload()
	if err != nil {
		return "", fmt.Errorf("%s: %w", obj.what, err)
	}
	var id string
	switch {
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		id, err = k.verifyPGP(sig, payload)
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		id, err = k.verifySSH(sig, payload)
	default:
		first, _, _ := strings.Cut(sig, "\n")
		err = fmt.Errorf("the signature is of an unsupported kind (%.40q); OpenPGP and SSH signatures are supported", first)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w: %w", obj.what, ErrUnverified, err)
	}
	return id, nil
}

// verifyPGP checks an armored OpenPGP signature.
func (k VerificationKeys) verifyPGP(sig string, payload []byte) (string, error) {
	issuer := pgpIssuer(sig)
	if len(k.pgp) == 0 {
		return "", fmt.Errorf("signed with OpenPGP key %s, and no OpenPGP key is trusted (the verification Secret holds no *.asc keys)", issuer)
	}
	signer, err := openpgp.CheckArmoredDetachedSignature(k.pgp, bytes.NewReader(payload), strings.NewReader(sig), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return "", fmt.Errorf("signed with OpenPGP key %s, which is not a trusted key", issuer)
	case err != nil:
		return "", fmt.Errorf("the signature by OpenPGP key %s does not match: %w", issuer, err)
	}
	return fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint), nil
}

// pgpIssuer returns the key an armored OpenPGP signature names as its
// issuer: its fingerprint when the signature carries one, else its 16-hex
// key id; "(unknown)" when it names none or does not parse.
func pgpIssuer(sig string) string {
	block, err := armor.Decode(strings.NewReader(sig))
	if err != nil {
		return "(unknown)"
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return "(unknown)"
	}
	s, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return "(unknown)"
	case len(s.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "(unknown)"
}

// verifySSH checks an armored SSHSIG signature in the "git" namespace.
func (k VerificationKeys) verifySSH(sig string, payload []byte) (string, error) {
	s, err := sshsig.Unarmor([]byte(sig))
	if err != nil {
		return "", fmt.Errorf("the SSH signature does not parse: %w", err)
	}
	fp := ssh.FingerprintSHA256(s.PublicKey)
	var trusted ssh.PublicKey
	for _, t := range k.ssh {
		if bytes.Equal(t.key.Marshal(), s.PublicKey.Marshal()) {
			trusted = t.key
			break
		}
	}
	if trusted == nil {
		return "", fmt.Errorf("signed with SSH key %s, which is not a trusted key", fp)
	}
	if err := checkKeyStrength(trusted); err != nil {
		return "", fmt.Errorf("signed with SSH key %s: %w", fp, err)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), s, trusted, s.HashAlgorithm, sshNamespace); err != nil {
		return "", fmt.Errorf("the signature by SSH key %s does not match: %w", fp, err)
	}
	return fp, nil
}

// verify checks the signatures GitOptions.Verify asks for, on the objects
// the attempt fetched, and returns the ids of the keys that made them.
func (f *fetcher) verify(res fetched) (string, error) {
	v := f.c.opts.Verify
	if v == nil {
		return "", nil
	}
	var ids []string
	if v.Mode.tag() {
		name := res.target.ref
		if !name.IsTag() {
			// validateExtras allows only refs that select a tag.
			return "", fmt.Errorf("verify mode %s: the ref selected no tag: %w", v.Mode, ErrUnverified)
		}
		ref, err := f.repo.Reference(fetchedRef, false)
		if err != nil {
			return "", fmt.Errorf("tag %s: %w", name.Short(), err)
		}
		tag, err := f.repo.TagObject(ref.Hash())
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return "", fmt.Errorf("tag %s is a lightweight tag, which cannot be signed (verify mode %s needs an annotated, signed tag): %w",
				name.Short(), v.Mode, ErrUnverified)
		}
		if err != nil {
			return "", fmt.Errorf("tag %s: %w", name.Short(), err)
		}
		id, err := v.Keys.verify(signedTag(tag))
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if v.Mode.head() {
		c, err := f.repo.CommitObject(res.commit)
		if err != nil {
			return "", fmt.Errorf("commit %s: %w", res.commit, err)
		}
		id, err := v.Keys.verify(signedCommit(c))
		if err != nil {
			return "", err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return strings.Join(ids, ","), nil
}
