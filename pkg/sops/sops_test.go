package sops_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/gitsync/gitsync/pkg/sops"
	"github.com/gitsync/gitsync/pkg/sops/sopstest"
)

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app
type: Opaque
stringData:
  password: hunter2-plaintext
  port: 5432
  ratio: 0.25
  enabled: true
  empty: ""
  nothing: null
  multi: |
    line one
    line two
  list:
    - a
    - 7
  note_unencrypted: visible
`

func ageKey(t *testing.T) (*age.X25519Identity, *sops.Keys) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sops.ParseKeys(map[string][]byte{"identity.agekey": []byte("# created: now\n" + id.String() + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	return id, keys
}

func decode(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAgeYAMLRoundTrip(t *testing.T) {
	id, keys := ageKey(t)
	for _, tc := range []struct {
		name string
		opts sopstest.Options
	}{
		{"all values", sopstest.Options{}},
		{"encrypted_regex", sopstest.Options{EncryptedRegex: "^(data|stringData)$"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Age = []*age.X25519Recipient{id.Recipient()}
			enc, err := sopstest.YAML([]byte(secretYAML), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(enc), "hunter2-plaintext") {
				t.Fatal("encryptor left the plaintext")
			}
			if !sops.IsEncrypted(sops.YAML, enc) {
				t.Fatal("IsEncrypted = false")
			}
			out, err := sops.Decrypt(sops.YAML, enc, keys)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if diff := cmp.Diff(decode(t, []byte(secretYAML)), decode(t, out)); diff != "" {
				t.Errorf("plaintext differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMultiDocumentYAML(t *testing.T) {
	id, keys := ageKey(t)
	plain := "a: 1\nb: x\n---\nc: y\n"
	enc, err := sopstest.YAML([]byte(plain), sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sops.Decrypt(sops.YAML, enc, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "a: 1\nb: x\n---\nc: y\n" {
		t.Errorf("got %q", got)
	}
}

func TestDotenv(t *testing.T) {
	id, keys := ageKey(t)
	plain := "USER=admin\nPASSWORD=s3cr3t=with=equals\nMULTI=a\\nb\nPLAIN_unencrypted=clear\n"
	enc, err := sopstest.Dotenv([]byte(plain), sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	if !sops.IsEncrypted(sops.Dotenv, enc) || strings.Contains(string(enc), "s3cr3t") {
		t.Fatalf("not encrypted:\n%s", enc)
	}
	out, err := sops.Decrypt(sops.Dotenv, enc, keys)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != plain {
		t.Errorf("got %q, want %q", out, plain)
	}
}

func TestPGP(t *testing.T) {
	ent, err := openpgp.NewEntity("gitsync test", "", "test@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var priv strings.Builder
	w, _ := pgparmor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := ent.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	keys, err := sops.ParseKeys(map[string][]byte{"sops.asc": []byte(priv.String())})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sopstest.YAML([]byte(secretYAML), sopstest.Options{PGP: openpgp.EntityList{ent}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sops.Decrypt(sops.YAML, enc, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "hunter2-plaintext") {
		t.Errorf("plaintext missing:\n%s", out)
	}
}

// TestFailures: each way a file can be wrong fails without returning any
// plaintext, and the error never quotes a value.
func TestFailures(t *testing.T) {
	id, keys := ageKey(t)
	_, otherKeys := ageKey(t)
	enc, err := sopstest.YAML([]byte(secretYAML), sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()},
		LastModified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(enc, &doc); err != nil {
		t.Fatal(err)
	}
	// edit returns enc with the scalar at path changed by f.
	edit := func(f func(m *yaml.Node)) []byte {
		var d yaml.Node
		if err := yaml.Unmarshal(enc, &d); err != nil {
			t.Fatal(err)
		}
		f(d.Content[0])
		out, err := yaml.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	get := func(m *yaml.Node, keys ...string) *yaml.Node {
		for _, k := range keys {
			for i := 0; i < len(m.Content); i += 2 {
				if m.Content[i].Value == k {
					m = m.Content[i+1]
					break
				}
			}
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		keys  *sops.Keys
		check func(error) bool
		want  string
	}{
		{"wrong key", enc, otherKeys, func(err error) bool {
			_, ok := errors.AsType[*sops.NoKeyError](err)
			return ok
		}, "age " + id.Recipient().String()},
		{"no keys", enc, &sops.Keys{}, func(err error) bool {
			_, ok := errors.AsType[*sops.NoKeyError](err)
			return ok
		}, "no decryption key matches"},
		{"clear value changed", edit(func(m *yaml.Node) {
			get(m, "stringData", "note_unencrypted").Value = "changed"
		}), keys, func(err error) bool { return errors.Is(err, sops.ErrMACMismatch) }, "MAC mismatch"},
		{"value removed", edit(func(m *yaml.Node) {
			sd := get(m, "stringData")
			sd.Content = sd.Content[2:]
		}), keys, func(err error) bool { return errors.Is(err, sops.ErrMACMismatch) }, "MAC mismatch"},
		{"lastmodified changed", edit(func(m *yaml.Node) {
			get(m, "sops", "lastmodified").Value = "2026-01-02T03:04:06Z"
		}), keys, func(err error) bool { return errors.Is(err, sops.ErrMACMismatch) }, "MAC mismatch"},
		{"ciphertext moved to another key", edit(func(m *yaml.Node) {
			sd := get(m, "stringData")
			sd.Content[1].Value, sd.Content[9].Value = sd.Content[9].Value, sd.Content[1].Value
		}), keys, func(err error) bool { return err != nil }, "AES-GCM authentication failed"},
		{"ciphertext flipped", edit(func(m *yaml.Node) {
			n := get(m, "stringData", "password")
			n.Value = strings.Replace(n.Value, "data:", "data:A", 1)
		}), keys, func(err error) bool { return err != nil }, "stringData.password"},
		{"value left in clear", edit(func(m *yaml.Node) {
			get(m, "stringData", "password").Value = "hunter2-plaintext"
		}), keys, func(err error) bool { return err != nil }, "stringData.password: not a SOPS-encrypted value"},
		{"comment regex", edit(func(m *yaml.Node) {
			s := get(m, "sops")
			s.Content = append(s.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "encrypted_comment_regex"},
				&yaml.Node{Kind: yaml.ScalarNode, Value: "x"})
		}), keys, func(err error) bool { return errors.Is(err, sops.ErrUnsupported) }, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sops.Decrypt(sops.YAML, tc.data, tc.keys)
			if err == nil || out != nil {
				t.Fatalf("Decrypt = %q, %v; want an error and no output", out, err)
			}
			if !tc.check(err) {
				t.Errorf("error %v has the wrong type", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			for _, secret := range []string{"hunter2", "5432", "line one", id.String()} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error quotes a secret: %v", err)
				}
			}
		})
	}
}

// TestSOPSFixtureTampered: a value of a file written by the real sops CLI,
// changed in clear, fails the MAC.
func TestSOPSFixtureTampered(t *testing.T) {
	asc, err := os.ReadFile("testdata/getsops/sops_functional_tests_key.asc")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sops.ParseKeys(map[string][]byte{"sops.asc": asc})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/getsops/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "remain in clear text\n", "remain in clear text!\n", 1)
	if bad == string(data) {
		t.Fatal("fixture changed: nothing to tamper with")
	}
	if _, err := sops.Decrypt(sops.YAML, []byte(bad), keys); !errors.Is(err, sops.ErrMACMismatch) {
		t.Errorf("err = %v, want ErrMACMismatch", err)
	}
	// Wrong key: the error names both recipients of the file.
	_, other := ageKey(t)
	_, err = sops.Decrypt(sops.YAML, data, other)
	if err == nil || !strings.Contains(err.Error(), "pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4") {
		t.Errorf("err = %v, want the recipients named", err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	for name, data := range map[string]string{
		"bad.agekey": "AGE-SECRET-KEY-1NOTAKEY",
		"bad.asc":    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnotbase64\n-----END PGP PRIVATE KEY BLOCK-----\n",
	} {
		_, err := sops.ParseKeys(map[string][]byte{name: []byte(data)})
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") || strings.Contains(err.Error(), "NOTAKEY") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	k, err := sops.ParseKeys(map[string][]byte{"sops.vault-token": []byte("x")})
	if err != nil || !k.Empty() {
		t.Errorf("other entries: %v, empty %v", err, k.Empty())
	}
}
