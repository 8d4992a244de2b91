package sops

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"time"
)

// ErrMACMismatch is wrapped by the error Decrypt returns when the file's
// values do not match its MAC: the ciphertext was tampered with, values
// were added, removed or reordered, or the MAC belongs to another file.
var ErrMACMismatch = errors.New("MAC mismatch: the file was modified after it was encrypted")

// ErrUnsupported is wrapped by the error Decrypt returns for SOPS features
// this package does not implement.
var ErrUnsupported = errors.New("not supported")

// metadata is the "sops" entry of a file, with SOPS's field names.
type metadata struct {
	Age               []ageStanza `yaml:"age" json:"age"`
	PGP               []pgpStanza `yaml:"pgp" json:"pgp"`
	KeyGroups         []keyGroup  `yaml:"key_groups" json:"key_groups"`
	ShamirThreshold   int         `yaml:"shamir_threshold" json:"shamir_threshold"`
	KMS               []any       `yaml:"kms" json:"kms"`
	GCPKMS            []any       `yaml:"gcp_kms" json:"gcp_kms"`
	HCKMS             []any       `yaml:"hckms" json:"hckms"`
	AzureKV           []any       `yaml:"azure_kv" json:"azure_kv"`
	Vault             []any       `yaml:"hc_vault" json:"hc_vault"`
	LastModified      string      `yaml:"lastmodified" json:"lastmodified"`
	MAC               string      `yaml:"mac" json:"mac"`
	UnencryptedSuffix string      `yaml:"unencrypted_suffix" json:"unencrypted_suffix"`
	EncryptedSuffix   string      `yaml:"encrypted_suffix" json:"encrypted_suffix"`
	UnencryptedRegex  string      `yaml:"unencrypted_regex" json:"unencrypted_regex"`
	EncryptedRegex    string      `yaml:"encrypted_regex" json:"encrypted_regex"`
	UnencryptedCRegex string      `yaml:"unencrypted_comment_regex" json:"unencrypted_comment_regex"`
	EncryptedCRegex   string      `yaml:"encrypted_comment_regex" json:"encrypted_comment_regex"`
	MACOnlyEncrypted  bool        `yaml:"mac_only_encrypted" json:"mac_only_encrypted"`
	Version           string      `yaml:"version" json:"version"`
}

type ageStanza struct {
	Recipient string `yaml:"recipient" json:"recipient"`
	Enc       string `yaml:"enc" json:"enc"`
}

type pgpStanza struct {
	Fingerprint string `yaml:"fp" json:"fp"`
	Enc         string `yaml:"enc" json:"enc"`
	CreatedAt   string `yaml:"created_at" json:"created_at"`
}

type keyGroup struct {
	Age     []ageStanza `yaml:"age" json:"age"`
	PGP     []pgpStanza `yaml:"pgp" json:"pgp"`
	KMS     []any       `yaml:"kms" json:"kms"`
	GCPKMS  []any       `yaml:"gcp_kms" json:"gcp_kms"`
	HCKMS   []any       `yaml:"hckms" json:"hckms"`
	AzureKV []any       `yaml:"azure_kv" json:"azure_kv"`
	Vault   []any       `yaml:"hc_vault" json:"hc_vault"`
}

// macOnlyEncryptedInit starts the hash when mac_only_encrypted is set, so
// such a MAC never equals one over all values (SOPS's constant).
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3,
	0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2,
	0x7d, 0x69}

// check refuses metadata this package cannot honour and compiles the
// encryption rules.
func (m *metadata) check() (*rules, error) {
	if m.MAC == "" {
		return nil, errors.New("sops metadata has no mac")
	}
	if m.LastModified == "" {
		return nil, errors.New("sops metadata has no lastmodified")
	}
	if m.UnencryptedCRegex != "" || m.EncryptedCRegex != "" {
		return nil, fmt.Errorf("encrypted_comment_regex and unencrypted_comment_regex are %w", ErrUnsupported)
	}
	if len(m.KeyGroups) > 1 && (m.ShamirThreshold < 0 || m.ShamirThreshold > len(m.KeyGroups) || m.ShamirThreshold == 1) {
		return nil, fmt.Errorf("sops metadata: shamir_threshold %d does not fit %d key groups", m.ShamirThreshold, len(m.KeyGroups))
	}
	r := &rules{m: m}
	var err error
	if m.UnencryptedRegex != "" {
		if r.unencRE, err = regexp.Compile(m.UnencryptedRegex); err != nil {
			return nil, fmt.Errorf("sops metadata: unencrypted_regex: %w", err)
		}
	}
	if m.EncryptedRegex != "" {
		if r.encRE, err = regexp.Compile(m.EncryptedRegex); err != nil {
			return nil, fmt.Errorf("sops metadata: encrypted_regex: %w", err)
		}
	}
	return r, nil
}

// ageStanzas and pgpStanzas list the recipients of the only key group,
// wherever the file keeps it.
func (m *metadata) ageStanzas() []ageStanza {
	s := m.Age
	for _, g := range m.KeyGroups {
		s = append(s, g.Age...)
	}
	return s
}

func (m *metadata) pgpStanzas() []pgpStanza {
	s := m.PGP
	for _, g := range m.KeyGroups {
		s = append(s, g.PGP...)
	}
	return s
}

// otherKeys names the key services the file was also encrypted for.
func (m *metadata) otherKeys() []string {
	all := keyGroup{KMS: m.KMS, GCPKMS: m.GCPKMS, HCKMS: m.HCKMS, AzureKV: m.AzureKV, Vault: m.Vault}
	for _, g := range m.KeyGroups {
		all.KMS = append(all.KMS, g.KMS...)
		all.GCPKMS = append(all.GCPKMS, g.GCPKMS...)
		all.HCKMS = append(all.HCKMS, g.HCKMS...)
		all.AzureKV = append(all.AzureKV, g.AzureKV...)
		all.Vault = append(all.Vault, g.Vault...)
	}
	return groupOtherKeys(all)
}

// groupOtherKeys counts the cloud key services of one key group.
func groupOtherKeys(g keyGroup) []string {
	var out []string
	add := func(name string, n int) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, name))
		}
	}
	add("AWS KMS", len(g.KMS))
	add("GCP KMS", len(g.GCPKMS))
	add("HuaweiCloud KMS", len(g.HCKMS))
	add("Azure Key Vault", len(g.AzureKV))
	add("HashiCorp Vault", len(g.Vault))
	return out
}

// rules decide, as SOPS does, which values of a file are encrypted.
type rules struct {
	m       *metadata
	unencRE *regexp.Regexp
	encRE   *regexp.Regexp
}

// encrypted reports whether the value at path is encrypted. The rules
// look at every key of the path; later rules override earlier ones, in
// SOPS's order.
func (r *rules) encrypted(path []string) bool {
	enc := true
	if s := r.m.UnencryptedSuffix; s != "" {
		for _, k := range path {
			if strings.HasSuffix(k, s) {
				enc = false
				break
			}
		}
	}
	if s := r.m.EncryptedSuffix; s != "" {
		enc = false
		for _, k := range path {
			if strings.HasSuffix(k, s) {
				enc = true
				break
			}
		}
	}
	if r.unencRE != nil {
		for _, k := range path {
			if r.unencRE.MatchString(k) {
				enc = false
				break
			}
		}
	}
	if r.encRE != nil {
		enc = false
		for _, k := range path {
			if r.encRE.MatchString(k) {
				enc = true
				break
			}
		}
	}
	return enc
}

// walker decrypts the values of one file in document order and keeps the
// running MAC.
type walker struct {
	key   []byte
	rules *rules
	mac   hash.Hash
}

// walker checks the file's metadata, opens its data key with k and
// returns the walker over its values: the first steps of every format's
// decryption.
func (k *Keys) walker(md *metadata) (*walker, error) {
	r, err := md.check()
	if err != nil {
		return nil, err
	}
	key, err := k.dataKey(md)
	if err != nil {
		return nil, err
	}
	return newWalker(key, r), nil
}

func newWalker(key []byte, r *rules) *walker {
	w := &walker{key: key, rules: r, mac: sha512.New()}
	if r.m.MACOnlyEncrypted {
		w.mac.Write(macOnlyEncryptedInit)
	}
	return w
}

// pathString is the additional data of a value at path.
func pathString(path []string) string {
	return strings.Join(path, ":") + ":"
}

// leaf decrypts v, the value at path as the file holds it (nil values are
// not passed here: SOPS neither encrypts nor authenticates them), and adds
// its plaintext to the MAC.
func (w *walker) leaf(path []string, v any) (any, error) {
	enc := w.rules.encrypted(path)
	if enc {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: value is not encrypted, but the file's rules say it must be", displayPath(path))
		}
		var err error
		if v, err = decryptValue(s, w.key, pathString(path)); err != nil {
			return nil, fmt.Errorf("%s: %w", displayPath(path), err)
		}
	}
	if !w.rules.m.MACOnlyEncrypted || enc {
		b, err := macBytes(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", displayPath(path), err)
		}
		w.mac.Write(b)
	}
	return v, nil
}

// verify compares the running MAC with the file's.
func (w *walker) verify() error {
	lm, err := time.Parse(time.RFC3339, w.rules.m.LastModified)
	if err != nil {
		return fmt.Errorf("sops metadata: lastmodified: %w", err)
	}
	stored, err := decryptValue(w.rules.m.MAC, w.key, lm.Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("%w: mac: %w", ErrMACMismatch, err)
	}
	s, ok := stored.(string)
	want := fmt.Sprintf("%X", w.mac.Sum(nil))
	if !ok || subtle.ConstantTimeCompare([]byte(s), []byte(want)) != 1 {
		return ErrMACMismatch
	}
	return nil
}

// displayPath names a value for messages: its keys, never the value.
func displayPath(path []string) string {
	if len(path) == 0 {
		return "(top)"
	}
	return strings.Join(path, ".")
}
