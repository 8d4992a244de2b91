package syncrun

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// secret creates or replaces Secret name in the fixture's namespace.
func (f *fixture) secret(name string, data map[string][]byte) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Data: data}
	secrets := env.Client().CoreV1().Secrets(f.ns)
	_ = secrets.Delete(f.t.Context(), name, metav1.DeleteOptions{})
	if _, err := secrets.Create(f.t.Context(), s, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// signedCommit commits files and signs the commit with sign (nil: not
// signed).
func (f *fixture) signedCommit(files map[string]string, sign gitserver.Signer) string {
	f.t.Helper()
	id := f.commit(files)
	if sign == nil {
		return id
	}
	id, err := f.repo.SignHead(f.t.Context(), sign)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// pgpSigner generates an OpenPGP key and returns its armored public key,
// its fingerprint and a Signer.
func pgpSigner(t *testing.T, name string) (public []byte, fingerprint string, sign gitserver.Signer) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@gitsync.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err == nil {
		err = e.Serialize(w)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	sign = func(payload []byte) ([]byte, error) {
		var sig bytes.Buffer
		err := openpgp.ArmoredDetachSign(&sig, e, bytes.NewReader(payload), nil)
		return sig.Bytes(), err
	}
	return b.Bytes(), fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), sign
}

// sshSigner generates an SSH key and returns its authorized_keys line, its
// fingerprint and a Signer that signs as Git does.
func sshSigner(t *testing.T) (public []byte, fingerprint string, sign gitserver.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sign = func(payload []byte) ([]byte, error) {
		sig, err := sshsig.Sign(bytes.NewReader(payload), s, sshsig.HashSHA512, "git")
		if err != nil {
			return nil, err
		}
		return sshsig.Armor(sig), nil
	}
	return ssh.MarshalAuthorizedKey(s.PublicKey()), ssh.FingerprintSHA256(s.PublicKey()), sign
}

// TestVerifiedRun applies signed commits, records the key that signed
// them, and applies nothing of an unsigned commit or one signed by an
// unknown key: the objects and the applied state stay as they were.
func TestVerifiedRun(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	alicePub, aliceFP, alice := pgpSigner(t, "alice")
	bobPub, bobFP, bob := sshSigner(t)
	_, malloryFP, mallory := pgpSigner(t, "mallory")
	f.secret("signers", map[string][]byte{"alice.asc": alicePub, "bob.sshpub": bobPub})
	f.signedCommit(map[string]string{"deploy/a.yaml": cm("a", "1")}, alice)
	var logs lockedBuffer
	runLogged := func() *Result {
		t.Helper()
		return f.runWith(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	}
	f.install(f.git.HTTPURL("app"), "branch: main\n      verify: {mode: HEAD, secretRef: {name: signers}}", "")

	res := runLogged()
	f.mustSucceed(res)
	if res.VerifiedBy != aliceFP || f.inventory().Record.LastRun.VerifiedBy != aliceFP {
		t.Errorf("verified by %q, recorded %q; want %s", res.VerifiedBy, f.inventory().Record.LastRun.VerifiedBy, aliceFP)
	}
	if !strings.Contains(logs.String(), `"verifiedBy":"`+aliceFP+`"`) {
		t.Errorf("the log does not name the key:\n%s", logs.String())
	}
	res = f.run()
	f.mustSucceed(res)
	if res.Rendered || res.VerifiedBy != aliceFP {
		t.Errorf("unchanged revision: rendered %v, verified by %q; want no render and the recorded key", res.Rendered, res.VerifiedBy)
	}

	f.signedCommit(map[string]string{"deploy/a.yaml": cm("a", "2")}, bob)
	res = f.run()
	f.mustSucceed(res)
	if a, _ := f.configMap("a"); a.Data["value"] != "2" || res.VerifiedBy != bobFP {
		t.Errorf("SSH-signed commit: a=%q, verified by %q; want 2 by %s", a.Data["value"], res.VerifiedBy, bobFP)
	}

	applied := f.inventory().Record
	before, _ := f.configMap("a")
	for _, tc := range []struct {
		name string
		sign gitserver.Signer
		want []string
	}{
		{"unsigned", nil, []string{"is not signed"}},
		{"unknown key", mallory, []string{"OpenPGP key " + malloryFP, "not a trusted key"}},
	} {
		id := f.signedCommit(map[string]string{"deploy/a.yaml": cm("a", tc.name), "deploy/b.yaml": cm("b", tc.name)}, tc.sign)
		res := f.run()
		if res.Outcome != Failed {
			t.Fatalf("%s commit: outcome %s, want Failed", tc.name, res.Outcome)
		}
		for _, w := range append(tc.want, "commit "+id) {
			if !strings.Contains(res.Message, w) {
				t.Errorf("%s commit: message %q does not say %q", tc.name, res.Message, w)
			}
		}
		after, _ := f.configMap("a")
		if after.ResourceVersion != before.ResourceVersion || after.Data["value"] != "2" {
			t.Errorf("%s commit: ConfigMap a changed to %q", tc.name, after.Data["value"])
		}
		f.mustNotHave("b")
		rec := f.inventory().Record
		if rec.LastAppliedRevision != applied.LastAppliedRevision || rec.LastAppliedSetDigest != applied.LastAppliedSetDigest ||
			rec.LastRun.Result != inventory.ResultFailed || rec.LastRun.VerifiedBy != "" {
			t.Errorf("%s commit: record %+v; want the applied state unchanged and a failed run verified by no key", tc.name, rec)
		}
		if entries := f.inventory().Entries; len(entries) != 1 || entries[0].ID.Name != "a" {
			t.Errorf("%s commit: inventory %v, want a alone", tc.name, entries)
		}
	}
}

// TestVerifiedTagRun verifies a signed tag and its commit, and refuses a
// tag whose signature does not match it.
func TestVerifiedTagRun(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	alicePub, aliceFP, alice := pgpSigner(t, "alice")
	bobPub, bobFP, bob := sshSigner(t)
	f.secret("signers", map[string][]byte{"alice.asc": alicePub, "bob.sshpub": bobPub})
	f.signedCommit(map[string]string{"deploy/a.yaml": cm("a", "1")}, bob)
	if _, err := f.repo.SignedTag(t.Context(), "v1.0.0", "release", alice); err != nil {
		t.Fatal(err)
	}
	f.install(f.git.HTTPURL("app"), "semver: '>=1.0.0'\n      verify: {mode: TagAndHEAD, secretRef: {name: signers}}", "")
	res := f.run()
	f.mustSucceed(res)
	if want := aliceFP + "," + bobFP; res.VerifiedBy != want {
		t.Errorf("verified by %q, want %q", res.VerifiedBy, want)
	}

	f.signedCommit(map[string]string{"deploy/a.yaml": cm("a", "2")}, bob)
	tamper := func(payload []byte) ([]byte, error) { return alice(append(bytes.Clone(payload), 'x')) }
	if _, err := f.repo.SignedTag(t.Context(), "v1.1.0", "release", tamper); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	if res.Outcome != Failed || !strings.Contains(res.Message, "tag v1.1.0") || !strings.Contains(res.Message, "does not match") {
		t.Errorf("tampered tag: %s %q; want a failure naming tag v1.1.0", res.Outcome, res.Message)
	}
	if a, _ := f.configMap("a"); a.Data["value"] != "1" {
		t.Errorf("tampered tag applied a=%q", a.Data["value"])
	}
}

// TestIncludeIgnoreSubmodulesRun renders included repositories and
// submodules, read with their Secrets, filtered by ignore rules; a change
// in an included repository alone renders again.
func TestIncludeIgnoreSubmodulesRun(t *testing.T) {
	f := newFixture(t, gitserver.Options{Username: "git", Password: "s3cret"})
	ctx := t.Context()
	base, err := f.git.CreateRepo(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Commit(ctx, "b1", map[string]string{"manifests/b.yaml": cm("b", "1"), "manifests/logo.png": "png"}); err != nil {
		t.Fatal(err)
	}
	lib, err := f.git.CreateRepo(ctx, "lib")
	if err != nil {
		t.Fatal(err)
	}
	libID, err := lib.Commit(ctx, "l1", map[string]string{"l.yaml": cm("l", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.CommitEntries(ctx, "app",
		gitserver.Entry{Path: "deploy/a.yaml", Content: cm("a", "1")},
		gitserver.Entry{Path: "deploy/skipped.yaml", Content: cm("skipped", "1")},
		gitserver.Entry{Path: "deploy/dropped.yaml", Content: cm("dropped", "1")},
		gitserver.Entry{Path: "deploy/.sourceignore", Content: "skipped.yaml\n"},
		gitserver.Entry{Path: ".gitmodules", Content: "[submodule \"lib\"]\n\tpath = deploy/lib\n\turl = ../lib.git\n"},
		gitserver.Entry{Path: "deploy/lib", Content: libID, Mode: gitserver.Gitlink},
	); err != nil {
		t.Fatal(err)
	}
	creds := map[string][]byte{"username": []byte("git"), "password": []byte("s3cret"), "ca.crt": f.git.CACert()}
	f.secret("app-git", creds)
	f.secret("base-git", creds)
	f.install(f.git.HTTPSURL("app"), `branch: main
      secretRef: {name: app-git}
      ignore: "/deploy/dropped.yaml"
      sparseCheckout: [deploy]
      recurseSubmodules: true
      include:
      - repository: {url: '`+f.git.HTTPSURL("base")+`', ref: {branch: main}, secretRef: {name: base-git}}
        fromPath: manifests
        toPath: deploy/base`, "")

	res := f.run()
	f.mustSucceed(res)
	f.mustHave("a", "b", "l")
	f.mustNotHave("skipped", "dropped")
	names := []string{}
	for _, e := range f.inventory().Entries {
		names = append(names, e.ID.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b", "l"}) {
		t.Errorf("inventory %v, want a, b, l", names)
	}

	// The included repository changes; this one does not.
	rev := res.Revision
	if _, err := base.Commit(ctx, "b2", map[string]string{"manifests/b.yaml": cm("b", "2")}); err != nil {
		t.Fatal(err)
	}
	res = f.run()
	f.mustSucceed(res)
	if b, _ := f.configMap("b"); !res.Rendered || res.Revision != rev || b.Data["value"] != "2" {
		t.Errorf("after a commit to the include: rendered %v, revision %s (was %s), b=%q; want a render of the same revision with b=2",
			res.Rendered, res.Revision, rev, b.Data["value"])
	}
	if res = f.run(); res.Rendered {
		t.Errorf("nothing changed, and the run rendered again")
	}
}

// TestIncludeOverHTTP: an include of a plain http:// repository runs when
// it says insecure: true (as the sync's own source does), and the run
// renders what it copied.
func TestIncludeOverHTTP(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	base, err := f.git.CreateRepo(t.Context(), "base")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Commit(t.Context(), "b1", map[string]string{"manifests/b.yaml": cm("included", "1")}); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), `branch: main
      include:
      - repository: {url: '`+f.git.HTTPURL("base")+`', insecure: true, ref: {branch: main}}
        fromPath: manifests
        toPath: deploy/base`, "")
	f.mustSucceed(f.run())
	f.mustHave("a", "included")
}
