package source

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// transportAuth builds go-git's auth method for u from a. timeout bounds the
// SSH dial and handshake, which go-git does not tie to the context.
func (a Credentials) transportAuth(u remoteURL, timeout time.Duration) (transport.AuthMethod, error) {
	switch u.kind {
	case transportHTTP, transportHTTPS:
		return a.httpAuth()
	case transportSSH:
		return a.sshAuth(u, timeout)
	}
	return nil, fmt.Errorf("unknown transport %d", u.kind)
}

// httpAuth returns basic or bearer auth, or nil for anonymous access.
func (a Credentials) httpAuth() (transport.AuthMethod, error) {
	switch {
	case a.BearerToken != "" && a.Username != "":
		return nil, errors.New("credentials hold both bearerToken and username; use one")
	case a.BearerToken != "":
		return &githttp.TokenAuth{Token: a.BearerToken}, nil
	case a.Username != "":
		return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
	case a.Password != "" && len(a.Identity) == 0:
		// With an identity, password is its passphrase (see
		// CredentialsFromSecret).
		return nil, errors.New("credentials hold a password but no username")
	}
	return nil, nil
}

// sshAuth returns public-key auth that checks the host key against
// a.KnownHosts.
func (a Credentials) sshAuth(u remoteURL, timeout time.Duration) (transport.AuthMethod, error) {
	if len(a.KnownHosts) == 0 {
		return nil, errors.New("SSH needs known_hosts: host keys are always checked")
	}
	if len(a.Identity) == 0 {
		return nil, errors.New("SSH needs an identity (private key)")
	}
	var signer ssh.Signer
	var err error
	if len(a.IdentityPassphrase) > 0 {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(a.Identity, a.IdentityPassphrase)
	} else {
		signer, err = ssh.ParsePrivateKey(a.Identity)
	}
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, errors.New("identity is encrypted and no passphrase (password) is given")
		}
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := checkKeyStrength(signer.PublicKey()); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	db, err := knownHostsDB(a.KnownHosts)
	if err != nil {
		return nil, err
	}
	algos := db.HostKeyAlgorithms(u.hostPort)
	if len(algos) == 0 {
		// Fail here, before dialling, with a message that says what to fix.
		return nil, fmt.Errorf("%w: known_hosts has no key for %s", ErrHostKey, u.hostPort)
	}
	user := u.user
	if user == "" {
		user = "git" // what every Git hosting service expects
	}
	return &sshAuth{
		user:    user,
		signer:  signer,
		hostKey: db.HostKeyCallback(),
		algos:   algos,
		timeout: timeout,
	}, nil
}

// minRSABits is the smallest RSA key accepted as an SSH identity. Keys of
// 1024 bits can be factored with resources within reach of a state and
// soon of others; NIST disallowed them after 2013, and OpenSSH refuses RSA
// keys under 1024 bits outright.
const minRSABits = 2048

// checkKeyStrength refuses RSA keys under minRSABits. Other key types
// (ed25519, ECDSA) have fixed, adequate sizes.
func checkKeyStrength(key ssh.PublicKey) error {
	ck, ok := key.(ssh.CryptoPublicKey)
	if !ok {
		return nil
	}
	if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
		return fmt.Errorf("the RSA key has %d bits; at least %d are required (better: an ed25519 key, ssh-keygen -t ed25519)",
			rk.N.BitLen(), minRSABits)
	}
	return nil
}

// knownHostsDB parses known_hosts data. The parsers read files only, so the
// data is handed over as a file that is gone before this returns: an
// in-memory file where the system has them (the sync-job may run with no
// writable /tmp), a temporary file otherwise.
func knownHostsDB(data []byte) (*knownhosts.HostKeyDB, error) {
	path, cleanup, err := memoryFile("known_hosts", data)
	if err != nil {
		path, cleanup, err = tempFile("gitsync-known-hosts-", data)
	}
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	defer cleanup()
	db, err := knownhosts.NewDB(path)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return db, nil
}

// tempFile writes data to a new temporary file and returns its path and a
// function that removes it.
func tempFile(pattern string, data []byte) (string, func(), error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.Remove(f.Name()) }
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// sshAuth is go-git's ssh.AuthMethod for one key and a fixed set of known
// hosts. go-git's own PublicKeys does not set HostKeyAlgorithms for a custom
// callback; without them the server may offer a key type that known_hosts
// does not list, and the check fails although the host is known.
type sshAuth struct {
	user    string
	signer  ssh.Signer
	hostKey ssh.HostKeyCallback
	algos   []string
	timeout time.Duration
}

// Name returns the auth method's name, as go-git's ssh.AuthMethod requires.
func (a *sshAuth) Name() string { return "ssh-public-keys" }

// String describes the auth without secrets.
func (a *sshAuth) String() string {
	return fmt.Sprintf("user: %s, name: %s", a.user, a.Name())
}

// ClientConfig returns the SSH client configuration go-git dials with.
func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.hostKey,
		HostKeyAlgorithms: a.algos,
		Timeout:           a.timeout,
	}, nil
}
