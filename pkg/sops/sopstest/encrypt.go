// Package sopstest encrypts files in SOPS's format for tests. It is written
// from SOPS's documented format, apart from package sops's decryption, so
// that a test of the one against the other can fail: a misread detail of
// the format on either side shows up as a MAC or decryption error.
package sopstest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	yaml "go.yaml.in/yaml/v3"
)

// Options say whom to encrypt for and which values.
type Options struct {
	// Age recipients, e.g. from age.GenerateX25519Identity().Recipient().
	Age []*age.X25519Recipient
	// PGP entities with public keys.
	PGP openpgp.EntityList
	// UnencryptedSuffix leaves values below keys ending in it in clear;
	// "" means SOPS's default, "_unencrypted".
	UnencryptedSuffix string
	// EncryptedRegex, when set, encrypts only values below matching keys
	// (Flux's docs use ^(data|stringData)$).
	EncryptedRegex string
	// LastModified defaults to now.
	LastModified time.Time
	// KeyGroups, when there are two or more, replace Age: the data key is
	// split by Shamir's secret sharing into one share per group, each
	// wrapped for its group's age recipients, and ShamirThreshold shares
	// (0: all) are needed to decrypt.
	KeyGroups       [][]*age.X25519Recipient
	ShamirThreshold int
}

// enc is the state of one encryption: data key and running MAC.
type enc struct {
	o   *Options
	key []byte
	mac hash.Hash
}

func newEnc(o *Options) (*enc, error) {
	if o.UnencryptedSuffix == "" && o.EncryptedRegex == "" {
		o.UnencryptedSuffix = "_unencrypted"
	}
	if o.LastModified.IsZero() {
		o.LastModified = time.Now()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &enc{o: o, key: key, mac: sha512.New()}, nil
}

func (e *enc) shouldEncrypt(path []string) bool {
	for _, k := range path {
		if e.o.EncryptedRegex != "" {
			continue
		}
		if strings.HasSuffix(k, e.o.UnencryptedSuffix) {
			return false
		}
	}
	if e.o.EncryptedRegex != "" {
		re := strings.Trim(e.o.EncryptedRegex, "^$()")
		for _, k := range path {
			for _, alt := range strings.Split(re, "|") {
				if k == alt {
					return true
				}
			}
		}
		return false
	}
	return true
}

// seal encrypts plaintext bytes of the given type with ad.
func (e *enc) seal(plain []byte, typ, ad string) (string, error) {
	block, err := aes.NewCipher(e.key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, 32)
	if err != nil {
		return "", err
	}
	iv := make([]byte, 32)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	sealed := gcm.Seal(nil, iv, plain, []byte(ad))
	data, tag := sealed[:len(sealed)-16], sealed[len(sealed)-16:]
	b := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]", b(data), b(iv), b(tag), typ), nil
}

// value returns the encryption type, the encrypted plaintext and the MAC
// bytes of a scalar.
func value(v any) (typ string, plain, mac []byte, err error) {
	switch v := v.(type) {
	case string:
		return "str", []byte(v), []byte(v), nil
	case int:
		s := []byte(strconv.Itoa(v))
		return "int", s, s, nil
	case float64:
		s := []byte(strconv.FormatFloat(v, 'f', -1, 64))
		return "float", s, s, nil
	case bool:
		m := "False"
		if v {
			m = "True"
		}
		return "bool", []byte(strconv.FormatBool(v)), []byte(m), nil
	}
	return "", nil, nil, fmt.Errorf("sopstest: cannot encrypt %T", v)
}

// leaf encrypts one value at path and returns what to store.
func (e *enc) leaf(path []string, v any) (string, bool, error) {
	typ, plain, mac, err := value(v)
	if err != nil {
		return "", false, err
	}
	e.mac.Write(mac)
	if !e.shouldEncrypt(path) {
		return "", false, nil
	}
	if len(plain) == 0 {
		return "", true, nil
	}
	s, err := e.seal(plain, typ, strings.Join(path, ":")+":")
	return s, true, err
}

// wrapAge encrypts secret for every age recipient.
func wrapAge(secret []byte, rs []*age.X25519Recipient) ([]map[string]string, error) {
	var ages []map[string]string
	for _, r := range rs {
		var buf bytes.Buffer
		aw := armor.NewWriter(&buf)
		w, err := age.Encrypt(aw, r)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(secret); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
		ages = append(ages, map[string]string{"recipient": r.String(), "enc": buf.String()})
	}
	return ages, nil
}

// recipients encrypts the data key for every recipient.
func (e *enc) recipients() (ages, pgps []map[string]string, err error) {
	if ages, err = wrapAge(e.key, e.o.Age); err != nil {
		return nil, nil, err
	}
	for _, ent := range e.o.PGP {
		var buf bytes.Buffer
		aw, err := pgparmor.Encode(&buf, "PGP MESSAGE", nil)
		if err != nil {
			return nil, nil, err
		}
		w, err := openpgp.Encrypt(aw, openpgp.EntityList{ent}, nil, nil, nil)
		if err != nil {
			return nil, nil, err
		}
		if _, err := w.Write(e.key); err != nil {
			return nil, nil, err
		}
		if err := w.Close(); err != nil {
			return nil, nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, nil, err
		}
		pgps = append(pgps, map[string]string{"fp": fmt.Sprintf("%X", ent.PrimaryKey.Fingerprint),
			"enc": buf.String(), "created_at": e.o.LastModified.UTC().Format(time.RFC3339)})
	}
	return ages, pgps, nil
}

// metadata returns the sops entry's fields in SOPS's order.
func (e *enc) metadata() (map[string]any, error) {
	lm := e.o.LastModified.UTC().Format(time.RFC3339)
	mac, err := e.seal([]byte(fmt.Sprintf("%X", e.mac.Sum(nil))), "str", lm)
	if err != nil {
		return nil, err
	}
	ages, pgps, err := e.recipients()
	if err != nil {
		return nil, err
	}
	m := map[string]any{"lastmodified": lm, "mac": mac, "version": "3.10.2"}
	if len(ages) > 0 {
		m["age"] = ages
	}
	if len(pgps) > 0 {
		m["pgp"] = pgps
	}
	if len(e.o.KeyGroups) > 1 {
		t := e.o.ShamirThreshold
		if t == 0 {
			t = len(e.o.KeyGroups)
		}
		shares, err := split(e.key, len(e.o.KeyGroups), t)
		if err != nil {
			return nil, err
		}
		var groups []map[string]any
		for i, g := range e.o.KeyGroups {
			ages, err := wrapAge(shares[i], g)
			if err != nil {
				return nil, err
			}
			groups = append(groups, map[string]any{"age": ages})
		}
		m["key_groups"] = groups
		m["shamir_threshold"] = t
	}
	if e.o.EncryptedRegex != "" {
		m["encrypted_regex"] = e.o.EncryptedRegex
	} else {
		m["unencrypted_suffix"] = e.o.UnencryptedSuffix
	}
	return m, nil
}

// YAML encrypts every document of plain, a YAML file of mappings.
func YAML(plain []byte, o Options) ([]byte, error) {
	e, err := newEnc(&o)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(plain))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
	var walk func(n *yaml.Node, path []string) error
	walk = func(n *yaml.Node, path []string) error {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i < len(n.Content); i += 2 {
				p := append(append([]string{}, path...), n.Content[i].Value)
				if err := walk(n.Content[i+1], p); err != nil {
					return err
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if err := walk(c, path); err != nil {
					return err
				}
			}
		case yaml.ScalarNode:
			var v any
			if err := n.Decode(&v); err != nil {
				return err
			}
			if v == nil {
				return nil
			}
			s, ok, err := e.leaf(path, v)
			if err != nil {
				return err
			}
			if ok {
				n.Tag, n.Value, n.Style = "!!str", s, 0
			}
		}
		return nil
	}
	for _, d := range docs {
		if err := walk(d.Content[0], nil); err != nil {
			return nil, err
		}
	}
	md, err := e.metadata()
	if err != nil {
		return nil, err
	}
	var mdNode yaml.Node
	if err := mdNode.Encode(md); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := yaml.NewEncoder(&out)
	for _, d := range docs {
		m := d.Content[0]
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "sops"}, &mdNode)
		if err := w.Encode(d); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), w.Close()
}

// Dotenv encrypts a KEY=VALUE file.
func Dotenv(plain []byte, o Options) ([]byte, error) {
	e, err := newEnc(&o)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, l := range strings.Split(string(plain), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		s, ok, err := e.leaf([]string{k}, v)
		if err != nil {
			return nil, err
		}
		if !ok {
			s = v
		}
		out.WriteString(k + "=" + s + "\n")
	}
	md, err := e.metadata()
	if err != nil {
		return nil, err
	}
	esc := func(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
	ages, _ := md["age"].([]map[string]string)
	for i, a := range ages {
		fmt.Fprintf(&out, "sops_age__list_%d__map_enc=%s\nsops_age__list_%d__map_recipient=%s\n", i, esc(a["enc"]), i, a["recipient"])
	}
	fmt.Fprintf(&out, "sops_lastmodified=%s\nsops_mac=%s\nsops_unencrypted_suffix=%s\nsops_version=%s\n",
		md["lastmodified"], md["mac"], md["unencrypted_suffix"], md["version"])
	return out.Bytes(), nil
}
