package source

import (
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh"

	"github.com/gitsync/gitsync/pkg/redact"
)

// Remote is a Git URL as the Git source reads it: what bootstrap's push and
// `create secret git` need to pick and check credentials the same way a run
// does.
type Remote struct {
	// URL is what go-git dials: https://, http:// or ssh:// (an scp-like
	// address converted).
	URL string
	// SSH tells that the remote is reached over SSH.
	SSH bool
	// HTTPS tells that the remote is reached over HTTPS.
	HTTPS bool
	// HostPort is host:port (port 22 for SSH when the URL names none), as
	// known_hosts entries are matched against it.
	HostPort string
	// User is the SSH login the URL names, "" when none.
	User string
}

// ParseRemote validates raw as the Git source does (https://, http:// only
// with insecure, ssh:// and scp-like addresses; no password in the URL).
func ParseRemote(raw string, insecure bool) (Remote, error) {
	u, err := parseURL(raw, insecure)
	if err != nil {
		return Remote{}, fmt.Errorf("%s: %w", redact.URL(raw), redact.Error(err))
	}
	return Remote{URL: u.url, SSH: u.kind == transportSSH, HTTPS: u.kind == transportHTTPS, HostPort: u.hostPort, User: u.user}, nil
}

// GitAuth returns go-git's auth method for the remote and creds, with the
// same rules as a run's fetch (known_hosts required for SSH, key strength,
// basic or bearer for HTTP), and the CA bundle to trust for HTTPS (nil when
// none). timeout bounds the SSH dial and handshake.
func GitAuth(r Remote, creds Credentials, timeout time.Duration) (transport.AuthMethod, []byte, error) {
	u := remoteURL{url: r.URL, kind: transportHTTPS, user: r.User, hostPort: r.HostPort}
	switch {
	case r.SSH:
		u.kind = transportSSH
	case !r.HTTPS:
		u.kind = transportHTTP
	}
	auth, err := creds.transportAuth(u, timeout)
	if err != nil {
		return nil, nil, err
	}
	var ca []byte
	if r.HTTPS {
		ca = creds.CAPEM
	}
	return auth, ca, nil
}

// CheckKnownHosts parses known_hosts data as a run does and checks that it
// holds a key for hostPort.
func CheckKnownHosts(data []byte, hostPort string) error {
	db, err := knownHostsDB(data)
	if err != nil {
		return err
	}
	if len(db.HostKeyAlgorithms(hostPort)) == 0 {
		return fmt.Errorf("%w: known_hosts has no key for %s", ErrHostKey, hostPort)
	}
	return nil
}

// CheckKeyStrength refuses an SSH key a run would refuse (RSA under 2048
// bits), so that a Secret is checked by the same rule before it is written.
func CheckKeyStrength(key ssh.PublicKey) error { return checkKeyStrength(key) }
