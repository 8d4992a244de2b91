package syncrun

import (
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gitsync/gitsync/pkg/sops/sopstest"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// Plaintexts of TestSOPSINIAndKeyGroups' files.
var iniGroupPlaintexts = []string{"INI-PLAINTEXT-4c2d", "GROUPS-PLAINTEXT-8a71"}

// TestSOPSINIAndKeyGroups: an encrypted INI file used through a
// secretGenerator's files becomes a Secret holding the INI text in clear,
// and a Secret whose data key is split over three key groups (threshold 2)
// is applied with the keys of two groups; with one group's key the run
// fails, names the groups and applies nothing. No plaintext appears in
// anything else the run writes.
func TestSOPSINIAndKeyGroups(t *testing.T) {
	var ids []*age.X25519Identity
	var groups [][]*age.X25519Recipient
	for range 3 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ids, groups = append(ids, id), append(groups, []*age.X25519Recipient{id.Recipient()})
	}
	ini, err := sopstest.INI([]byte("[db]\nuser = app\npassword = "+iniGroupPlaintexts[0]+"\n"),
		sopstest.Options{Age: []*age.X25519Recipient{ids[0].Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := sopstest.YAML([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: split}\nstringData:\n  password: "+
		iniGroupPlaintexts[1]+"\n"), sopstest.Options{KeyGroups: groups, ShamirThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"deploy/kustomization.yaml": "resources: [split.yaml, ok.yaml]\n" +
			"secretGenerator:\n- name: from-ini\n  files: [app.ini]\n  options: {disableNameSuffixHash: true}\n",
		"deploy/app.ini":    string(ini),
		"deploy/split.yaml": string(secret),
		"deploy/ok.yaml":    cm("ok", "1"),
	}
	noPlaintext := func(t *testing.T, written []string) {
		t.Helper()
		for _, w := range written {
			for _, p := range iniGroupPlaintexts {
				if strings.Contains(w, p) {
					t.Errorf("plaintext %s leaks: %.300s", p, w)
				}
			}
		}
	}

	t.Run("two groups' keys", func(t *testing.T) {
		f := newFixture(t, gitserver.Options{})
		createSecret(t, f.ns, "sops-keys", map[string][]byte{
			"a.agekey": []byte(ids[0].String() + "\n"), "c.agekey": []byte(ids[2].String() + "\n")})
		f.commit(files)
		f.install(f.git.HTTPURL("app"), "", sopsDecryption)
		res, log := f.runLogged()
		f.mustSucceed(res)
		secrets := secretsIn(t, f.ns)
		if got, want := string(secrets["from-ini"].Data["app.ini"]), "[db]\nuser     = app\npassword = "+iniGroupPlaintexts[0]+"\n"; got != want {
			t.Errorf("Secret from-ini app.ini = %q, want %q", got, want)
		}
		if got := string(secrets["split"].Data["password"]); got != iniGroupPlaintexts[1] {
			t.Errorf("Secret split password = %q", got)
		}
		noPlaintext(t, writings(t, f, log, res, "ok"))
	})

	t.Run("one group's key", func(t *testing.T) {
		f := newFixture(t, gitserver.Options{})
		createSecret(t, f.ns, "sops-keys", map[string][]byte{"a.agekey": []byte(ids[0].String() + "\n")})
		f.commit(files)
		f.install(f.git.HTTPURL("app"), "", sopsDecryption)
		res, log := f.runLogged()
		if res.Outcome != Failed {
			t.Fatalf("outcome %s, want Failed", res.Outcome)
		}
		for _, w := range []string{"deploy/split.yaml", "open 1 of the file's 3 key groups", "shamir_threshold needs 2",
			"group 2 (age " + ids[1].Recipient().String() + "): no matching key"} {
			if !strings.Contains(res.Err.Error(), w) {
				t.Errorf("error %q does not say %q", res.Err, w)
			}
		}
		f.mustNotHave("ok")
		if _, ok := secretsIn(t, f.ns)["from-ini"]; ok {
			t.Error("Secret from-ini applied from a failed run")
		}
		noPlaintext(t, writings(t, f, log, res))
	})
}
