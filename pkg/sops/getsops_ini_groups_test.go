package sops

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The INI and key-group fixtures in testdata/getsops were written by the
// real sops CLI (v3.13.3) for three age keys made for these tests
// (group1..3.agekey); gen.sh says how to make them again.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/getsops", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// groupKeys returns the keys of the fixture groups numbered n (1-based),
// each as its own entry of a decryption Secret.
func groupKeys(t *testing.T, n ...int) *Keys {
	t.Helper()
	data := map[string][]byte{}
	for _, i := range n {
		name := "group" + string(rune('0'+i)) + ".agekey"
		data[name] = readFixture(t, name)
	}
	k, err := ParseKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixtureSecrets are plaintexts of the fixtures: no error may quote them.
var fixtureSecrets = []string{"ini-s3cr3t", "cache-s3cr3t", "multi-line-s3cr3t", "groups-s3cr3t", "groups-ini-s3cr3t", "AGE-SECRET-KEY"}

func noSecretIn(t *testing.T, err error) {
	t.Helper()
	for _, s := range fixtureSecrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error quotes a secret: %v", err)
		}
	}
}

// TestGetsopsINI: Decrypt prints what `sops decrypt` prints for the file.
func TestGetsopsINI(t *testing.T) {
	data := readFixture(t, "app.enc.ini")
	if !IsEncrypted(INI, data) || FormatFor("app.enc.ini") != INI {
		t.Fatal("not recognised as an encrypted INI file")
	}
	out, err := Decrypt(INI, data, groupKeys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := string(readFixture(t, "app.sops-decrypt.ini")); string(out) != want {
		t.Errorf("Decrypt:\n%s\nsops decrypt:\n%s", out, want)
	}

	for _, tc := range []struct {
		name, from, to string
		is             error
		want           string
	}{
		{"clear value changed", "host_unencrypted = db.internal", "host_unencrypted = db.external", ErrMACMismatch, "MAC mismatch"},
		{"value removed", "\nport ", "\n;port ", ErrMACMismatch, "MAC mismatch"},
		{"lastmodified changed", "lastmodified               = 2026", "lastmodified               = 2027", ErrMACMismatch, "MAC mismatch"},
		{"values swapped", "\nuser             = ENC[", "\nuser             = XENC[", nil, "database.user: not a SOPS-encrypted value"},
		{"section renamed", "[cache]", "[kache]", nil, "kache.url: AES-GCM authentication failed"},
		{"wrong key", "", "", nil, "no decryption key matches any recipient of the file: age age12vgn5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, keys := strings.Replace(string(data), tc.from, tc.to, 1), groupKeys(t, 1)
			if tc.from == "" {
				keys = groupKeys(t, 2)
			} else if bad == string(data) {
				t.Fatal("nothing replaced")
			}
			out, err := Decrypt(INI, []byte(bad), keys)
			if err == nil || out != nil {
				t.Fatalf("Decrypt = %q, %v; want an error and nothing else", out, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			noSecretIn(t, err)
		})
	}
}

// TestGetsopsKeyGroups: files whose data key sops split over two and three
// key groups (shamir_threshold 2) open with the keys of any two groups;
// with fewer the error names every group's recipient and what opened.
func TestGetsopsKeyGroups(t *testing.T) {
	for _, tc := range []struct {
		file   string
		groups int
		want   string
	}{
		{"groups2.enc.yaml", 2, "password: groups-s3cr3t\n"},
		{"groups3.enc.yaml", 3, "password: groups-s3cr3t\n"},
		{"groups3.enc.ini", 3, "password = groups-ini-s3cr3t\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data := readFixture(t, tc.file)
			f := FormatFor(tc.file)
			var pairs [][]int
			for a := 1; a <= tc.groups; a++ {
				for b := a + 1; b <= tc.groups; b++ {
					pairs = append(pairs, []int{a, b})
				}
			}
			for _, p := range append(pairs, []int{1, 2, 3}[:tc.groups]) {
				out, err := Decrypt(f, data, groupKeys(t, p...))
				if err != nil || !strings.Contains(string(out), tc.want) {
					t.Errorf("keys of groups %v: %q, %v", p, out, err)
				}
			}
			tampered := strings.Replace(string(data), `lastmodified: "2026-`, `lastmodified: "2025-`, 1)
			if tc.file == "groups3.enc.ini" {
				tampered = strings.Replace(string(data), "[db]", "[db]\nextra_unencrypted = 1", 1)
			}
			if tampered == string(data) {
				t.Fatal("nothing tampered")
			}
			if _, err := Decrypt(f, []byte(tampered), groupKeys(t, 1, 2)); !errors.Is(err, ErrMACMismatch) {
				t.Errorf("tampered: err = %v, want ErrMACMismatch", err)
			}
			for one := 1; one <= tc.groups; one++ {
				out, err := Decrypt(f, data, groupKeys(t, one))
				e, ok := errors.AsType[*NoKeyError](err)
				if out != nil || !ok {
					t.Fatalf("keys of group %d: %q, %v; want a *NoKeyError", one, out, err)
				}
				if e.Threshold != 2 || len(e.Groups) != tc.groups || !e.Decrypted[one-1] {
					t.Errorf("NoKeyError %+v", e)
				}
				for g := 1; g <= tc.groups; g++ {
					recipient := strings.TrimSpace(strings.SplitAfter(string(readFixture(t, "group"+string(rune('0'+g))+".agekey")), "# public key: ")[1])
					recipient = strings.SplitN(recipient, "\n", 2)[0]
					state := "no matching key"
					if g == one {
						state = "decrypted"
					}
					if w := "group " + string(rune('0'+g)) + " (age " + recipient + "): " + state; !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				noSecretIn(t, err)
			}
		})
	}
}

// TestGetsopsKeyGroupBroken: a key group whose wrapped share is damaged
// does not stop the others, as in SOPS; below the threshold the error
// says what was wrong with it.
func TestGetsopsKeyGroupBroken(t *testing.T) {
	data := string(readFixture(t, "groups3.enc.ini"))
	const stanza = "key_groups__list_1__map_age__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nYWdl"
	bad := strings.Replace(data, stanza, strings.TrimSuffix(stanza, "YWdl")+"AAAA", 1)
	if bad == data {
		t.Fatal("nothing damaged")
	}
	if out, err := Decrypt(INI, []byte(bad), groupKeys(t, 1, 2, 3)); err != nil || !strings.Contains(string(out), "groups-ini-s3cr3t") {
		t.Errorf("groups 1 and 3 should suffice: %q, %v", out, err)
	}
	_, err := Decrypt(INI, []byte(bad), groupKeys(t, 1, 2))
	t.Logf("with the keys of groups 1 and 2: %v", err)
	if _, ok := errors.AsType[*NoKeyError](err); !ok || !strings.Contains(err.Error(), "; group 2 (age age1qlqylpp4wd7lxyv2nddzvx8erdth8v3a9jwfyalyx9axyhtexgxq58nfxw): failed: age recipient age1") {
		t.Errorf("err = %v, want a *NoKeyError and group 2's failure", err)
	}
}
