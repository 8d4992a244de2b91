package source_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// signedRepo is a repository whose branches and tags are signed in every
// way verification must tell apart:
//
//	main      commit signed by alice (OpenPGP)
//	          tags: v1 signed by alice, v1-tampered (alice's signature over
//	          other bytes), v1-unsigned (annotated), v1-light (lightweight),
//	          v1-mallory signed by mallory (OpenPGP, not trusted)
//	ssh       commit signed by bob (SSH); tag v2 signed by bob
//	unsigned  commit without signature; tag v3 signed by alice
//	mallory   commit signed by mallory (OpenPGP, not trusted)
//	eve       commit signed by eve (SSH, not trusted)
//	tampered  commit with alice's signature over other bytes
type signedRepo struct {
	url            string
	alice, mallory pgpKey
	bob, eve       sshKey
	keys           source.VerificationKeys
	commits        map[string]string // branch → commit id
}

func newSignedRepo(t *testing.T, s *gitserver.Server, name string) *signedRepo {
	t.Helper()
	ctx := t.Context()
	r := createRepo(t, s, name)
	sr := &signedRepo{
		url:   s.HTTPURL(name),
		alice: newPGPKey(t, "alice"), mallory: newPGPKey(t, "mallory"),
		bob: newSSHKey(t), eve: newSSHKey(t),
		commits: map[string]string{},
	}
	sr.keys = keysOf(t, map[string][]byte{"alice.asc": sr.alice.public(t), "bob.sshpub": sr.bob.authorizedKey()})
	signed := func(branch, file string, sign gitserver.Signer) {
		if branch != gitserver.DefaultBranch {
			check(t, "Checkout main", r.Checkout(ctx, gitserver.DefaultBranch))
			check(t, "Branch "+branch, r.Branch(ctx, branch))
		}
		commit(t, r, branch, map[string]string{"deploy/" + file: "kind: ConfigMap\n"})
		id, err := r.Head(ctx)
		if sign != nil {
			id, err = r.SignHead(ctx, sign)
		}
		check(t, "sign "+branch, err)
		sr.commits[branch] = id
	}
	tag := func(name string, sign gitserver.Signer) {
		_, err := r.SignedTag(ctx, name, "release "+name, sign)
		check(t, "SignedTag "+name, err)
	}
	signed("main", "main.yaml", sr.alice.signer())
	tag("v1", sr.alice.signer())
	tag("v1-tampered", tampered(sr.alice.signer()))
	tag("v1-mallory", sr.mallory.signer())
	_, err := r.AnnotatedTag(ctx, "v1-unsigned", "not signed")
	check(t, "AnnotatedTag", err)
	_, err = r.Tag(ctx, "v1-light")
	check(t, "Tag", err)
	signed("ssh", "ssh.yaml", sr.bob.gitSigner())
	tag("v2", sr.bob.gitSigner())
	signed("unsigned", "unsigned.yaml", nil)
	tag("v3", sr.alice.signer())
	signed("mallory", "mallory.yaml", sr.mallory.signer())
	signed("eve", "eve.yaml", sr.eve.gitSigner())
	signed("tampered", "tampered.yaml", tampered(sr.alice.signer()))
	return sr
}

// TestVerify fetches signed, unsigned and badly signed commits and tags in
// each mode: what verifies is checked out and names its key; everything
// else fails with ErrUnverified, names the commit or tag and the key, and
// checks nothing out.
func TestVerify(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	sr := newSignedRepo(t, s, "signed")
	a, b := sr.alice.fingerprint(), sr.bob.fingerprint()
	tests := []struct {
		name     string
		ref      source.GitRef
		mode     source.VerifyMode
		wantBy   string   // VerifiedBy on success
		wantFile string   // a file the checkout holds on success
		wantErr  []string // message parts on failure (ErrUnverified)
	}{
		{"HEAD signed with OpenPGP", source.GitRef{Branch: "main"}, source.VerifyHEAD, a, "deploy/main.yaml", nil},
		{"HEAD signed with SSH", source.GitRef{Branch: "ssh"}, source.VerifyHEAD, b, "deploy/ssh.yaml", nil},
		{"mode defaults to HEAD", source.GitRef{Branch: "ssh"}, "", b, "deploy/ssh.yaml", nil},
		{"Flux's head", source.GitRef{Branch: "main"}, "head", a, "deploy/main.yaml", nil},
		{"HEAD unsigned", source.GitRef{Branch: "unsigned"}, source.VerifyHEAD, "", "",
			[]string{"commit " + sr.commits["unsigned"] + " is not signed"}},
		{"HEAD by an unknown OpenPGP key", source.GitRef{Branch: "mallory"}, source.VerifyHEAD, "", "",
			[]string{"commit " + sr.commits["mallory"], "OpenPGP key " + sr.mallory.fingerprint(), "not a trusted key"}},
		{"HEAD by an unknown SSH key", source.GitRef{Branch: "eve"}, source.VerifyHEAD, "", "",
			[]string{"commit " + sr.commits["eve"], "SSH key " + sr.eve.fingerprint(), "not a trusted key"}},
		{"HEAD tampered", source.GitRef{Branch: "tampered"}, source.VerifyHEAD, "", "",
			[]string{"commit " + sr.commits["tampered"], "signature by OpenPGP key " + a + " does not match"}},
		{"HEAD of a commit ref", source.GitRef{Commit: sr.commits["ssh"]}, source.VerifyHEAD, b, "deploy/ssh.yaml", nil},
		{"Tag signed", source.GitRef{Tag: "v1"}, source.VerifyTag, a, "deploy/main.yaml", nil},
		{"Tag signed with SSH", source.GitRef{Tag: "v2"}, source.VerifyTag, b, "deploy/ssh.yaml", nil},
		{"Tag by name", source.GitRef{Name: "refs/tags/v2"}, source.VerifyTag, b, "deploy/ssh.yaml", nil},
		{"Tag on an unsigned commit", source.GitRef{Tag: "v3"}, source.VerifyTag, a, "deploy/unsigned.yaml", nil},
		{"TagAndHEAD on an unsigned commit", source.GitRef{Tag: "v3"}, source.VerifyTagAndHEAD, "", "",
			[]string{"commit " + sr.commits["unsigned"] + " is not signed"}},
		{"TagAndHEAD", source.GitRef{Tag: "v1"}, source.VerifyTagAndHEAD, a, "deploy/main.yaml", nil},
		{"Tag tampered", source.GitRef{Tag: "v1-tampered"}, source.VerifyTag, "", "",
			[]string{"tag v1-tampered", "signature by OpenPGP key " + a + " does not match"}},
		{"Tag by an unknown key", source.GitRef{Tag: "v1-mallory"}, source.VerifyTag, "", "",
			[]string{"tag v1-mallory", "OpenPGP key " + sr.mallory.fingerprint(), "not a trusted key"}},
		{"Tag unsigned", source.GitRef{Tag: "v1-unsigned"}, source.VerifyTag, "", "", []string{"tag v1-unsigned is not signed"}},
		{"Tag lightweight", source.GitRef{Tag: "v1-light"}, source.VerifyTag, "", "", []string{"tag v1-light is a lightweight tag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := source.GitOptions{URL: sr.url, Insecure: true, Ref: tt.ref,
				Verify: &source.GitVerification{Mode: tt.mode, Keys: sr.keys}}
			art, err := source.Fetch(t.Context(), opts, dir)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Fetch: no error, verified by %q", art.VerifiedBy)
				}
				t.Logf("refused: %v", err)
				if !errors.Is(err, source.ErrUnverified) {
					t.Errorf("Fetch: %v; want ErrUnverified", err)
				}
				for _, part := range tt.wantErr {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("Fetch: %v; want it to say %q", err, part)
					}
				}
				if files := readTree(t, dir); len(files) > 0 {
					t.Errorf("a refused fetch checked out %d files: %v", len(files), files)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if art.VerifiedBy != tt.wantBy {
				t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, tt.wantBy)
			}
			if _, err := os.Stat(filepath.Join(dir, tt.wantFile)); err != nil {
				t.Errorf("checkout: %v", err)
			}
		})
	}
}

// TestVerifyTagAndHEADKeys reports both keys when a tag and its commit are
// signed by different ones.
func TestVerifyTagAndHEADKeys(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	ctx := t.Context()
	alice, bob := newPGPKey(t, "alice"), newSSHKey(t)
	r := createRepo(t, s, "two")
	commit(t, r, "c1", map[string]string{"a.yaml": "kind: ConfigMap\n"})
	_, err := r.SignHead(ctx, bob.gitSigner())
	check(t, "SignHead", err)
	_, err = r.SignedTag(ctx, "v1.0.0", "release", alice.signer())
	check(t, "SignedTag", err)
	keys := keysOf(t, map[string][]byte{"alice.asc": alice.public(t), "bob.sshpub": bob.authorizedKey()})
	art, err := fetch(t, source.GitOptions{URL: s.HTTPURL("two"), Insecure: true, Ref: source.GitRef{SemVer: "1.x"},
		Verify: &source.GitVerification{Mode: source.VerifyTagAndHEAD, Keys: keys}})
	check(t, "Fetch", err)
	if want := alice.fingerprint() + "," + bob.fingerprint(); art.VerifiedBy != want {
		t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, want)
	}
}

// TestVerifyThroughSource runs the tag modes through NewGit, whose Fetch
// fetches the resolved commit: the tag must still be fetched and checked,
// also after PinGit (a rollback), and a tag moved since is refused.
func TestVerifyThroughSource(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	sr := newSignedRepo(t, s, "signed")
	opts := source.GitOptions{URL: sr.url, Insecure: true, Ref: source.GitRef{Tag: "v1"},
		Verify: &source.GitVerification{Mode: source.VerifyTagAndHEAD, Keys: sr.keys}}
	src := source.NewGit(opts)
	rev, err := src.Resolve(t.Context())
	check(t, "Resolve", err)
	art, err := src.Fetch(t.Context(), rev, t.TempDir())
	check(t, "Fetch", err)
	if art.VerifiedBy != sr.alice.fingerprint() || art.Revision != rev {
		t.Errorf("Fetch = %s verified by %q; want %s by %s", art.Revision, art.VerifiedBy, rev, sr.alice.fingerprint())
	}

	pinned, err := source.PinGit(opts, rev)
	check(t, "PinGit", err)
	if pinned.Verify.Tag != "v1" {
		t.Errorf("PinGit: Verify.Tag = %q, want v1", pinned.Verify.Tag)
	}
	art, err = fetch(t, pinned)
	check(t, "Fetch pinned", err)
	if art.VerifiedBy != sr.alice.fingerprint() {
		t.Errorf("pinned: VerifiedBy = %q", art.VerifiedBy)
	}

	// A pin to a commit the tag no longer names.
	moved := opts
	moved.Ref = source.GitRef{Tag: "v2"}
	rev2 := source.Revision("v1@sha1:" + sr.commits["ssh"])
	pinned, err = source.PinGit(opts, rev2)
	check(t, "PinGit", err)
	if _, err := fetch(t, pinned); !errors.Is(err, source.ErrRefNotFound) || !strings.Contains(err.Error(), "tag v1 points to commit") {
		t.Errorf("Fetch of a pin the tag moved away from: %v; want ErrRefNotFound saying the tag moved", err)
	}
}

// TestVerifyOptions refuses what cannot be verified before any request.
func TestVerifyOptions(t *testing.T) {
	keys := keysOf(t, map[string][]byte{"k.sshpub": newSSHKey(t).authorizedKey()})
	for _, tt := range []struct {
		name string
		ref  source.GitRef
		v    source.GitVerification
		want string
	}{
		{"no keys", source.GitRef{Branch: "main"}, source.GitVerification{}, "no trusted public keys"},
		{"unknown mode", source.GitRef{Branch: "main"}, source.GitVerification{Mode: "Commit", Keys: keys}, `verify mode "Commit"`},
		{"Tag on a branch", source.GitRef{Branch: "main"}, source.GitVerification{Mode: source.VerifyTag, Keys: keys}, "checks a tag"},
		{"Tag on a branch name", source.GitRef{Name: "refs/heads/main"}, source.GitVerification{Mode: source.VerifyTag, Keys: keys}, "not under refs/tags/"},
		{"Tag on a commit", source.GitRef{Commit: strings.Repeat("a", 40)}, source.GitVerification{Mode: source.VerifyTagAndHEAD, Keys: keys}, "selects a commit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetch(t, source.GitOptions{URL: "https://127.0.0.1:1/r.git", Ref: tt.ref, Verify: &tt.v})
			if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Fetch: %v; want ErrInvalidOptions saying %q", err, tt.want)
			}
		})
	}
}

// TestVerificationKeysFromSecret reads keys as Flux names them, and
// allowed_signers lines, and refuses what does not parse.
func TestVerificationKeysFromSecret(t *testing.T) {
	alice, bob := newPGPKey(t, "alice"), newSSHKey(t)
	line := strings.TrimSpace(string(bob.authorizedKey()))
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	check(t, "rsa", err)
	weakPub, err := ssh.NewPublicKey(&weak.PublicKey)
	check(t, "ssh rsa", err)
	ok := []map[string][]byte{
		{"alice.asc": alice.public(t)},
		{"gpg-keys": alice.public(t)}, // Flux reads keys without a suffix as OpenPGP
		{"bob.sshpub": bob.authorizedKey()},
		{"bob.sshpub": []byte("# comment\n\nrestrict,command=\"x\" " + line + " bob@laptop\n")},
		{"allowed_signers": []byte("bob@example.com namespaces=\"git\" " + line + "\n")},
	}
	for _, data := range ok {
		if _, err := source.VerificationKeysFromSecret(data); err != nil {
			t.Errorf("VerificationKeysFromSecret(%v): %v", keysOfData(data), err)
		}
	}
	bad := []struct {
		data map[string][]byte
		want string
	}{
		{map[string][]byte{}, "holds no public keys"},
		{map[string][]byte{"a.asc": []byte("not a key")}, "a.asc: not armored OpenPGP public keys"},
		{map[string][]byte{"b.sshpub": []byte(line + "\nssh-ed25519 garbage\n")}, "b.sshpub: line 2: no SSH public key"},
		{map[string][]byte{"c.sshpub": ssh.MarshalAuthorizedKey(weakPub)}, "c.sshpub: line 1: the RSA key has 1024 bits"},
		{map[string][]byte{"README": []byte("trust these keys")}, "README: line 1"},
	}
	for _, tt := range bad {
		_, err := source.VerificationKeysFromSecret(tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("VerificationKeysFromSecret(%v): %v; want an error saying %q", keysOfData(tt.data), err, tt.want)
		}
	}
}

// keysOfData lists a Secret's keys for messages; the values are keys.
func keysOfData(data map[string][]byte) []string {
	var out []string
	for k := range data {
		out = append(out, k)
	}
	return out
}

// TestVerifyGitSignedCommit verifies a commit and a tag that git itself
// signed with an SSH key (`git -c gpg.format=ssh`): the payload Fetch
// checks is the one Git signs. It needs git and ssh-keygen.
func TestVerifyGitSignedCommit(t *testing.T) {
	for _, tool := range []string{"git", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	s := startServer(t, gitserver.Options{})
	work := t.TempDir()
	keyFile := filepath.Join(work, "signing_key")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@gitsync.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@gitsync.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(work, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", keyFile)
	repo := createRepo(t, s, "gitsigned")
	clone := filepath.Join(work, "clone")
	run(work, "git", "init", "-q", "-b", "main", clone)
	check(t, "write", os.WriteFile(filepath.Join(clone, "cm.yaml"), []byte("kind: ConfigMap\n"), 0o644))
	sign := []string{"git", "-c", "gpg.format=ssh", "-c", "user.signingkey=" + keyFile}
	run(clone, "git", "add", ".")
	run(clone, append(sign, "commit", "-q", "-S", "-m", "signed by git")...)
	run(clone, append(sign, "tag", "-s", "-m", "release", "v1.0.0")...)
	run(clone, "git", "push", "-q", s.HTTPURL(repo.Name()), "main", "v1.0.0")

	pub, err := os.ReadFile(keyFile + ".pub")
	check(t, "read public key", err)
	keys := keysOf(t, map[string][]byte{"ci.sshpub": pub})
	art, err := fetch(t, source.GitOptions{URL: s.HTTPURL(repo.Name()), Insecure: true, Ref: source.GitRef{Tag: "v1.0.0"},
		Verify: &source.GitVerification{Mode: source.VerifyTagAndHEAD, Keys: keys}})
	check(t, "Fetch", err)
	pk, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	check(t, "parse public key", err)
	if want := ssh.FingerprintSHA256(pk); art.VerifiedBy != want {
		t.Errorf("VerifiedBy = %q, want %q", art.VerifiedBy, want)
	}
}
