package source_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

func TestAuthFromSecret(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
		want source.Auth
	}{
		{"empty", nil, source.Auth{}},
		{
			"basic",
			map[string][]byte{"username": []byte("u"), "password": []byte("p"), "other": []byte("x")},
			source.Auth{Username: "u", Password: "p"},
		},
		{"bearer", map[string][]byte{"bearerToken": []byte("t")}, source.Auth{BearerToken: "t"}},
		{
			"ssh with passphrase",
			map[string][]byte{"identity": []byte("KEY"), "password": []byte("pp"), "known_hosts": []byte("KH")},
			source.Auth{Identity: []byte("KEY"), Password: "pp", IdentityPassphrase: []byte("pp"), KnownHosts: []byte("KH")},
		},
		{"ca.crt", map[string][]byte{"ca.crt": []byte("CA"), "caFile": []byte("OLD")}, source.Auth{CAFile: []byte("CA")}},
		{"caFile", map[string][]byte{"caFile": []byte("OLD")}, source.Auth{CAFile: []byte("OLD")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, source.AuthFromSecret(tt.data)); diff != "" {
				t.Errorf("AuthFromSecret (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHTTPS fetches over HTTPS with basic auth and a bearer token, trusting
// the server's private CA, and checks the failures.
func TestHTTPS(t *testing.T) {
	s := startServer(t, gitserver.Options{Username: "alice", Password: "s3cret", BearerToken: "tok3n"})
	r := createRepo(t, s, "private")
	id := commit(t, r, "one", map[string]string{"a.yaml": "a: 1\n"})
	ca := s.CACert()
	want := source.Revision("main@sha1:" + id)

	ok := []struct {
		name string
		url  string
		auth source.Auth
		opt  func(*source.GitOptions)
	}{
		{name: "basic", url: s.HTTPSURL("private"), auth: source.Auth{Username: "alice", Password: "s3cret", CAFile: ca}},
		{name: "bearer", url: s.HTTPSURL("private"), auth: source.Auth{BearerToken: "tok3n", CAFile: ca}},
		{name: "from secret", url: s.HTTPSURL("private"), auth: source.AuthFromSecret(map[string][]byte{
			"username": []byte("alice"), "password": []byte("s3cret"), "ca.crt": ca,
		})},
		{name: "plain http with insecure", url: s.HTTPURL("private"), auth: source.Auth{Username: "alice", Password: "s3cret"},
			opt: func(o *source.GitOptions) { o.Insecure = true }},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			opts := source.GitOptions{URL: tt.url, Auth: tt.auth}
			if tt.opt != nil {
				tt.opt(&opts)
			}
			rev, err := source.Resolve(t.Context(), opts)
			check(t, "Resolve", err)
			art, err := fetch(t, opts)
			check(t, "Fetch", err)
			if rev != want || art.Revision != want {
				t.Errorf("Resolve = %s, Fetch = %s, want %s", rev, art.Revision, want)
			}
			if got := readTree(t, art.Dir)["a.yaml"]; got != "a: 1\n" {
				t.Errorf("a.yaml = %q", got)
			}
		})
	}

	denied := []struct {
		name string
		auth source.Auth
		is   error // go-git's error, besides ErrAuthentication
	}{
		{"no credentials", source.Auth{CAFile: ca}, transport.ErrAuthenticationRequired},
		{"wrong password", source.Auth{Username: "alice", Password: "nope", CAFile: ca}, transport.ErrAuthenticationRequired},
		{"wrong token", source.Auth{BearerToken: "nope", CAFile: ca}, transport.ErrAuthenticationRequired},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			opts := source.GitOptions{URL: s.HTTPSURL("private"), Auth: tt.auth}
			_, err := source.Resolve(t.Context(), opts)
			if !errors.Is(err, source.ErrAuthentication) || !errors.Is(err, tt.is) {
				t.Errorf("Resolve = %v, want ErrAuthentication and %v", err, tt.is)
			}
			_, err = fetch(t, opts)
			if !errors.Is(err, source.ErrAuthentication) {
				t.Errorf("Fetch = %v, want ErrAuthentication", err)
			}
		})
	}

	t.Run("unknown CA", func(t *testing.T) {
		opts := source.GitOptions{URL: s.HTTPSURL("private"), Auth: source.Auth{Username: "alice", Password: "s3cret"}}
		_, err := source.Resolve(t.Context(), opts)
		var unknownCA x509.UnknownAuthorityError
		if !errors.As(err, &unknownCA) {
			t.Errorf("Resolve = %v, want an x509.UnknownAuthorityError", err)
		}
		if errors.Is(err, source.ErrAuthentication) {
			t.Errorf("a TLS failure is not an authentication failure: %v", err)
		}
		_, err = fetch(t, opts)
		if !errors.As(err, &unknownCA) {
			t.Errorf("Fetch = %v, want an x509.UnknownAuthorityError", err)
		}
	})
}

// TestSSH fetches over SSH with the server's host key known, and checks that
// unknown or wrong host keys and a wrong identity are refused.
func TestSSH(t *testing.T) {
	s := startServer(t, gitserver.Options{})
	r := createRepo(t, s, "team/app")
	id := commit(t, r, "one", map[string]string{"a.yaml": "a: 1\n"})
	want := source.Revision("main@sha1:" + id)
	url := s.SSHURL("team/app")

	t.Run("known host", func(t *testing.T) {
		opts := source.GitOptions{URL: url, Auth: source.AuthFromSecret(map[string][]byte{
			"identity": s.ClientKey(), "known_hosts": s.KnownHosts(),
		})}
		rev, err := source.Resolve(t.Context(), opts)
		check(t, "Resolve", err)
		art, err := fetch(t, opts)
		check(t, "Fetch", err)
		if rev != want || art.Revision != want {
			t.Errorf("Resolve = %s, Fetch = %s, want %s", rev, art.Revision, want)
		}
		if got := readTree(t, art.Dir)["a.yaml"]; got != "a: 1\n" {
			t.Errorf("a.yaml = %q", got)
		}
	})

	t.Run("commit not a tip", func(t *testing.T) {
		// Over SSH upload-pack is not stateless: fetching by id works only
		// because the server allows reachable commits in want.
		commit(t, r, "two", map[string]string{"b.yaml": "b: 2\n"})
		opts := source.GitOptions{URL: url, Ref: source.GitRef{Commit: id}, Auth: source.Auth{
			Identity: s.ClientKey(), KnownHosts: s.KnownHosts(),
		}}
		art, err := fetch(t, opts)
		check(t, "Fetch", err)
		if art.Commit != id || !art.Shallow {
			t.Errorf("Fetch = %+v, want commit %s, shallow", art, id)
		}
	})

	otherKey := func() ssh.PublicKey {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		check(t, "GenerateKey", err)
		k, err := ssh.NewPublicKey(pub)
		check(t, "NewPublicKey", err)
		return k
	}
	addr := knownhosts.Normalize(s.SSHAddr())
	refused := []struct {
		name       string
		identity   []byte
		knownHosts []byte
		want       error
		msg        string
	}{
		{"wrong host key", s.ClientKey(), []byte(knownhosts.Line([]string{addr}, otherKey()) + "\n"), source.ErrHostKey, "key mismatch"},
		{"host not listed", s.ClientKey(), []byte(knownhosts.Line([]string{"[127.0.0.2]:22"}, s.HostKey()) + "\n"), source.ErrHostKey, "known_hosts has no key for"},
		{"no known_hosts", s.ClientKey(), nil, source.ErrInvalidOptions, "SSH needs known_hosts"},
		{"unauthorized identity", newIdentity(t), s.KnownHosts(), source.ErrAuthentication, "unable to authenticate"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			opts := source.GitOptions{URL: url, Auth: source.Auth{Identity: tt.identity, KnownHosts: tt.knownHosts}}
			_, err := source.Resolve(t.Context(), opts)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), url) {
				t.Errorf("Resolve = %v, want %v containing %q and the URL", err, tt.want, tt.msg)
			}
			_, err = fetch(t, opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("Fetch = %v, want %v", err, tt.want)
			}
		})
	}
}

// newIdentity returns a fresh OpenSSH private key the server does not know.
func newIdentity(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	check(t, "GenerateKey", err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	check(t, "MarshalPrivateKey", err)
	return pem.EncodeToMemory(block)
}

// TestSSHEncryptedIdentity checks that an encrypted identity works with its
// passphrase and is refused clearly without it.
func TestSSHEncryptedIdentity(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	check(t, "GenerateKey", err)
	pub, err := ssh.NewPublicKey(priv.Public())
	check(t, "NewPublicKey", err)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	check(t, "MarshalPrivateKeyWithPassphrase", err)
	key := pem.EncodeToMemory(block)

	s := startServer(t, gitserver.Options{AuthorizedKeys: []ssh.PublicKey{pub}})
	r := createRepo(t, s, "enc")
	id := commit(t, r, "one", map[string]string{"a": "a"})

	secret := map[string][]byte{"identity": key, "password": []byte("pass"), "known_hosts": s.KnownHosts()}
	rev, err := source.Resolve(t.Context(), source.GitOptions{URL: s.SSHURL("enc"), Auth: source.AuthFromSecret(secret)})
	check(t, "Resolve", err)
	if want := source.Revision("main@sha1:" + id); rev != want {
		t.Errorf("Resolve = %s, want %s", rev, want)
	}

	delete(secret, "password")
	_, err = source.Resolve(t.Context(), source.GitOptions{URL: s.SSHURL("enc"), Auth: source.AuthFromSecret(secret)})
	if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "identity is encrypted") {
		t.Errorf("Resolve without passphrase = %v, want ErrInvalidOptions saying the identity is encrypted", err)
	}
}
