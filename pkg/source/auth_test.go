package source_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
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

func TestCredentialsFromSecret(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
		want source.Credentials
	}{
		{"empty", nil, source.Credentials{}},
		{
			"basic",
			map[string][]byte{"username": []byte("u"), "password": []byte("p"), "other": []byte("x")},
			source.Credentials{Username: "u", Password: "p"},
		},
		{"bearer", map[string][]byte{"bearerToken": []byte("t")}, source.Credentials{BearerToken: "t"}},
		{
			"ssh with passphrase",
			map[string][]byte{"identity": []byte("KEY"), "password": []byte("pp"), "known_hosts": []byte("KH")},
			source.Credentials{Identity: []byte("KEY"), Password: "pp", IdentityPassphrase: []byte("pp"), KnownHosts: []byte("KH")},
		},
		{"ca.crt", map[string][]byte{"ca.crt": []byte("CA"), "caFile": []byte("OLD")}, source.Credentials{CAPEM: []byte("CA")}},
		{"caFile", map[string][]byte{"caFile": []byte("OLD")}, source.Credentials{CAPEM: []byte("OLD")}},
		{
			// Moved from pkg/helm's TestAuthFromSecret: the reader is shared.
			"helm keys",
			map[string][]byte{
				"username": []byte("u"), "password": []byte("p"), "bearerToken": []byte("t"),
				"certFile": []byte("C"), "keyFile": []byte("K"), "caFile": []byte("A"), "ca.crt": []byte("CA"),
				".dockerconfigjson": []byte("{}"), "other": []byte("x"),
			},
			source.Credentials{Username: "u", Password: "p", BearerToken: "t", CertPEM: []byte("C"), KeyPEM: []byte("K"),
				CAPEM: []byte("CA"), DockerConfigJSON: []byte("{}")},
		},
		{
			"tls.crt over certFile, bucket keys",
			map[string][]byte{"tls.crt": []byte("C"), "certFile": []byte("OLD"), "tls.key": []byte("K"),
				"accesskey": []byte("AK"), "secretkey": []byte("SK")},
			source.Credentials{CertPEM: []byte("C"), KeyPEM: []byte("K"), AccessKey: "AK", SecretKey: "SK"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, source.CredentialsFromSecret(tt.data)); diff != "" {
				t.Errorf("CredentialsFromSecret (-want +got):\n%s", diff)
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
		auth source.Credentials
		opt  func(*source.GitOptions)
	}{
		{name: "basic", url: s.HTTPSURL("private"), auth: source.Credentials{Username: "alice", Password: "s3cret", CAPEM: ca}},
		{name: "bearer", url: s.HTTPSURL("private"), auth: source.Credentials{BearerToken: "tok3n", CAPEM: ca}},
		{name: "from secret", url: s.HTTPSURL("private"), auth: source.CredentialsFromSecret(map[string][]byte{
			"username": []byte("alice"), "password": []byte("s3cret"), "ca.crt": ca,
		})},
		{name: "plain http with insecure", url: s.HTTPURL("private"), auth: source.Credentials{Username: "alice", Password: "s3cret"},
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
		auth source.Credentials
		is   error // go-git's error, besides ErrAuthentication
	}{
		{"no credentials", source.Credentials{CAPEM: ca}, transport.ErrAuthenticationRequired},
		{"wrong password", source.Credentials{Username: "alice", Password: "nope", CAPEM: ca}, transport.ErrAuthenticationRequired},
		{"wrong token", source.Credentials{BearerToken: "nope", CAPEM: ca}, transport.ErrAuthenticationRequired},
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
		opts := source.GitOptions{URL: s.HTTPSURL("private"), Auth: source.Credentials{Username: "alice", Password: "s3cret"}}
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
		opts := source.GitOptions{URL: url, Auth: source.CredentialsFromSecret(map[string][]byte{
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
		opts := source.GitOptions{URL: url, Ref: source.GitRef{Commit: id}, Auth: source.Credentials{
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
			opts := source.GitOptions{URL: url, Auth: source.Credentials{Identity: tt.identity, KnownHosts: tt.knownHosts}}
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
	rev, err := source.Resolve(t.Context(), source.GitOptions{URL: s.SSHURL("enc"), Auth: source.CredentialsFromSecret(secret)})
	check(t, "Resolve", err)
	if want := source.Revision("main@sha1:" + id); rev != want {
		t.Errorf("Resolve = %s, want %s", rev, want)
	}

	delete(secret, "password")
	_, err = source.Resolve(t.Context(), source.GitOptions{URL: s.SSHURL("enc"), Auth: source.CredentialsFromSecret(secret)})
	if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "identity is encrypted") {
		t.Errorf("Resolve without passphrase = %v, want ErrInvalidOptions saying the identity is encrypted", err)
	}
}

// TestSSHWeakRSAIdentity checks that an RSA identity under 2048 bits is
// refused before anything is dialled, with a message that says why, while
// the server would accept it; a 2048-bit RSA key of the same server works.
func TestSSHWeakRSAIdentity(t *testing.T) {
	rsaKey := func(bits int) (ssh.PublicKey, []byte) {
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		check(t, "GenerateKey", err)
		pub, err := ssh.NewPublicKey(&priv.PublicKey)
		check(t, "NewPublicKey", err)
		return pub, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	}
	weakPub, weak := rsaKey(1024)
	strongPub, strong := rsaKey(2048)
	s := startServer(t, gitserver.Options{AuthorizedKeys: []ssh.PublicKey{weakPub, strongPub}})
	r := createRepo(t, s, "rsa")
	id := commit(t, r, "one", map[string]string{"a": "a"})

	opts := source.GitOptions{URL: s.SSHURL("rsa"), Auth: source.Credentials{Identity: strong, KnownHosts: s.KnownHosts()}}
	rev, err := source.Resolve(t.Context(), opts)
	check(t, "Resolve with a 2048-bit RSA key", err)
	if want := source.Revision("main@sha1:" + id); rev != want {
		t.Errorf("Resolve = %s, want %s", rev, want)
	}

	opts.Auth.Identity = weak
	before := s.Stats()
	_, err = source.Resolve(t.Context(), opts)
	if !errors.Is(err, source.ErrInvalidOptions) || !strings.Contains(err.Error(), "RSA key has 1024 bits; at least 2048") {
		t.Errorf("Resolve with a 1024-bit RSA key = %v, want ErrInvalidOptions naming 1024 and 2048 bits", err)
	}
	if _, err := fetch(t, opts); !errors.Is(err, source.ErrInvalidOptions) {
		t.Errorf("Fetch with a 1024-bit RSA key = %v, want ErrInvalidOptions", err)
	}
	if after := s.Stats(); after != before {
		t.Errorf("server stats %+v -> %+v: the weak key was sent to the server", before, after)
	}
}
