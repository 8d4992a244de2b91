package sops_test

import (
	"errors"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gitsync/gitsync/pkg/sops"
	"github.com/gitsync/gitsync/pkg/sops/sopstest"
)

func TestINI(t *testing.T) {
	id, keys := ageKey(t)
	plain := "top = level-secret\n[database]\nuser = admin\npassword = p4ss;word#x\npadded =   \nnote_unencrypted = visible\n[cache]\nurl = redis://c:6379\n"
	enc, err := sopstest.INI([]byte(plain), sopstest.Options{Age: []*age.X25519Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	if !sops.IsEncrypted(sops.INI, enc) || strings.Contains(string(enc), "p4ss") || strings.Contains(string(enc), "level-secret") {
		t.Fatalf("not encrypted:\n%s", enc)
	}
	out, err := sops.Decrypt(sops.INI, enc, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := "top = level-secret\n\n[database]\nuser             = admin\npassword         = `p4ss;word#x`\npadded           = \nnote_unencrypted = visible\n\n[cache]\nurl = redis://c:6379\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}

	for _, tc := range []struct {
		name, from, to string
		is             error
		want           string
	}{
		{"clear value changed", "note_unencrypted = visible", "note_unencrypted = changed", sops.ErrMACMismatch, "MAC mismatch"},
		{"key removed", "\nuser = ", "\nx_unencrypted = y\n#", sops.ErrMACMismatch, "MAC mismatch"},
		{"section renamed", "[cache]", "[cache2]", nil, "cache2.url: AES-GCM authentication failed"},
		{"repeated key", "[cache]\n", "[cache]\nurl = a\n", nil, "[cache] url: repeated key"},
		{"second sops section", "[sops]", "[sops]\n[sops]", nil, "more than one [sops] section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(enc), tc.from, tc.to, 1)
			if bad == string(enc) {
				t.Fatal("nothing replaced")
			}
			out, err := sops.Decrypt(sops.INI, []byte(bad), keys)
			if err == nil || out != nil {
				t.Fatalf("Decrypt = %q, %v; want an error and nothing else", out, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			for _, s := range []string{"p4ss", "level-secret", "admin", "redis"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error quotes a value: %v", err)
				}
			}
		})
	}
}

// TestKeyGroups: a data key split into three groups' shares with
// threshold 2 opens with the keys of any two groups, and not with one.
func TestKeyGroups(t *testing.T) {
	ids := make([]*age.X25519Identity, 3)
	var groups [][]*age.X25519Recipient
	for i := range ids {
		var err error
		if ids[i], err = age.GenerateX25519Identity(); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, []*age.X25519Recipient{ids[i].Recipient()})
	}
	keysOf := func(idx ...int) *sops.Keys {
		var lines []string
		for _, i := range idx {
			lines = append(lines, ids[i].String())
		}
		k, err := sops.ParseKeys(map[string][]byte{"k.agekey": []byte(strings.Join(lines, "\n"))})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, f := range []struct {
		format sops.Format
		enc    func([]byte, sopstest.Options) ([]byte, error)
		plain  string
	}{
		{sops.YAML, sopstest.YAML, "password: hunter2-plaintext\n"},
		{sops.INI, sopstest.INI, "[db]\npassword = hunter2-plaintext\n"},
	} {
		enc, err := f.enc([]byte(f.plain), sopstest.Options{KeyGroups: groups, ShamirThreshold: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][]int{{0, 1}, {0, 2}, {1, 2}, {0, 1, 2}} {
			out, err := sops.Decrypt(f.format, enc, keysOf(pair...))
			if err != nil || !strings.Contains(string(out), "hunter2-plaintext") {
				t.Errorf("%s, keys of groups %v: %q, %v", f.format, pair, out, err)
			}
		}
		for _, one := range []int{0, 1, 2} {
			out, err := sops.Decrypt(f.format, enc, keysOf(one))
			e, ok := errors.AsType[*sops.NoKeyError](err)
			if out != nil || !ok {
				t.Fatalf("%s, keys of group %d: %q, %v; want a *NoKeyError", f.format, one, out, err)
			}
			if e.Threshold != 2 || len(e.Groups) != 3 || !e.Decrypted[one] {
				t.Errorf("%s: NoKeyError %+v", f.format, e)
			}
			msg := err.Error()
			for i, id := range ids {
				if !strings.Contains(msg, id.Recipient().String()) {
					t.Errorf("%s: %q does not name group %d's recipient", f.format, msg, i+1)
				}
			}
			if !strings.Contains(msg, "open 1 of the file's 3 key groups, and its shamir_threshold needs 2") {
				t.Errorf("%s: message %q", f.format, msg)
			}
		}
	}
}
