package gitserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeySeed is the seed of the SSH host key. It is fixed so that the host key,
// and with it a known_hosts entry without the port, is the same in every run
// and every Server.
const hostKeySeed = "gitsync tests/gitserver SSH host key v1"

// handshakeTimeout bounds an SSH handshake, so that a client that connects and
// says nothing does not hold a goroutine until Close.
const handshakeTimeout = 30 * time.Second

// HostKey returns the server's SSH host key (ed25519, the same for every
// Server).
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// KnownHosts returns a known_hosts line for the SSH listener,
// "[IP]:PORT ssh-ed25519 AAAA...\n".
func (s *Server) KnownHosts() []byte {
	addr := knownhosts.Normalize(s.sshLn.Addr().String())
	return []byte(knownhosts.Line([]string{addr}, s.hostKey.PublicKey()) + "\n")
}

// ClientKey returns the private key that the SSH server authorizes, PEM-encoded
// in the OpenSSH format ("OPENSSH PRIVATE KEY", unencrypted ed25519). Each
// Server generates its own.
func (s *Server) ClientKey() []byte { return append([]byte(nil), s.clientKey...) }

// CACert returns the PEM certificate of the CA that signed the HTTPS
// certificate. Each Server generates its own CA.
func (s *Server) CACert() []byte { return append([]byte(nil), s.caPEM...) }

// startSSH starts the SSH listener.
func (s *Server) startSSH(ctx context.Context) error {
	seed := sha256.Sum256([]byte(hostKeySeed))
	host, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		return fmt.Errorf("gitserver: host key: %w", err)
	}
	s.hostKey = host

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("gitserver: client key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "gitserver client key")
	if err != nil {
		return fmt.Errorf("gitserver: client key: %w", err)
	}
	s.clientKey = pem.EncodeToMemory(block)
	clientPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("gitserver: client key: %w", err)
	}
	s.sshKeys = map[string]bool{string(clientPub.Marshal()): true}
	for _, k := range s.opts.AuthorizedKeys {
		s.sshKeys[string(k.Marshal())] = true
	}

	s.sshConfig = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			ok := s.sshKeys[string(key.Marshal())]
			s.mu.Unlock()
			if ok {
				return nil, nil
			}
			return nil, fmt.Errorf("public key %s: not authorized", ssh.FingerprintSHA256(key))
		},
		ServerVersion: "SSH-2.0-gitsync-gitserver",
	}
	s.sshConfig.AddHostKey(host)

	var lc net.ListenConfig
	addr := net.JoinHostPort(s.opts.ListenIP, "0")
	if s.sshLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
		return fmt.Errorf("gitserver: listen %s: %w", addr, err)
	}
	s.wg.Add(1)
	go s.acceptSSH()
	return nil
}

// AuthorizeKey accepts key for SSH from now on, as adding a deploy key to a
// forge does.
func (s *Server) AuthorizeKey(key ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sshKeys[string(key.Marshal())] = true
}

// acceptSSH accepts SSH connections until the listener is closed.
func (s *Server) acceptSSH() {
	defer s.wg.Done()
	for {
		nc, err := s.sshLn.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("gitserver: ssh accept", "error", err)
			}
			return
		}
		s.wg.Add(1)
		go s.serveSSHConn(nc)
	}
}

// track registers nc for Close; it reports false (and closes nc) when the
// server is already closed.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = nc.Close()
		return false
	}
	s.sshConns[nc] = struct{}{}
	return true
}

// untrack closes nc and forgets it.
func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.sshConns, nc)
	s.mu.Unlock()
	_ = nc.Close()
}

// serveSSHConn runs one SSH connection: session channels only, each allowed
// one exec of git-upload-pack or git-receive-pack.
func (s *Server) serveSSHConn(nc net.Conn) {
	defer s.wg.Done()
	if !s.track(nc) {
		return
	}
	defer s.untrack(nc)

	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.sshConfig)
	if err != nil {
		s.log.Debug("gitserver: ssh handshake", "remote", nc.RemoteAddr().String(), "error", err)
		return
	}
	defer func() {
		// The client usually hangs up first; nothing to do about it here.
		if err := conn.Close(); err != nil {
			s.log.Debug("gitserver: ssh close", "remote", nc.RemoteAddr().String(), "error", err)
		}
	}()
	_ = nc.SetDeadline(time.Time{})
	go ssh.DiscardRequests(reqs)

	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			s.log.Debug("gitserver: ssh channel", "error", err)
			continue
		}
		s.wg.Add(1)
		go s.serveSession(ch, chReqs)
	}
}

// serveSession answers the requests of one session channel. It accepts
// "env GIT_PROTOCOL" (protocol v2 negotiation) and one "exec" of a git
// service; shells, subsystems, terminals and any other command are refused.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	var env []string
	started := false
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL" && validProtocol(kv.Value)
			if ok {
				env = append(env, "GIT_PROTOCOL="+kv.Value)
			}
			_ = req.Reply(ok, nil)
		case "exec":
			var p struct{ Command string }
			if started || ssh.Unmarshal(req.Payload, &p) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			service, repo, err := parseGitCommand(p.Command)
			if err != nil {
				s.log.Debug("gitserver: ssh exec refused", "command", p.Command, "error", err)
				_ = req.Reply(false, nil)
				continue
			}
			started = true
			_ = req.Reply(true, nil)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				status := s.runService(ch, service, repo, env)
				_ = ch.CloseWrite()
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				_ = ch.Close()
			}()
		default:
			_ = req.Reply(false, nil)
		}
	}
	if !started {
		_ = ch.Close()
	}
}

// runService runs `git upload-pack|receive-pack DIR` with the channel as its
// stdin, stdout and stderr and returns its exit status. A repository that does
// not resolve inside the root is answered like git answers a missing one.
func (s *Server) runService(ch ssh.Channel, service, repo string, env []string) uint32 {
	dir, err := s.resolveRepo(repo)
	if err != nil {
		s.log.Debug("gitserver: ssh repository refused", "repo", repo, "error", err)
		_, _ = fmt.Fprintf(ch.Stderr(), "fatal: '%s' does not appear to be a git repository\n", repo)
		return 128
	}
	switch service {
	case "upload-pack":
		s.stats.sshUploadPacks.Add(1)
	case "receive-pack":
		s.stats.sshReceivePacks.Add(1)
	}

	cmd := exec.CommandContext(s.ctx, s.git, service, dir)
	cmd.Env = gitEnv(append(serverConfig(s.opts), env...)...)
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// A pipe rather than cmd.Stdin = ch: Wait would otherwise wait for the
	// stdin copy, which only ends when the client closes its side, and the
	// client waits for the exit status first.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_, _ = fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	if err := cmd.Start(); err != nil {
		_, _ = fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return uint32(exitErr.ExitCode())
	default:
		s.log.Warn("gitserver: ssh "+service, "repo", repo, "error", err)
		return 255
	}
}

// parseGitCommand splits an SSH exec command of the form
// "git-upload-pack 'PATH'" (also "git upload-pack 'PATH'", and likewise for
// receive-pack) into the git sub-command and the unquoted path.
func parseGitCommand(command string) (service, repo string, err error) {
	name, arg, ok := strings.Cut(command, " ")
	if !ok {
		return "", "", fmt.Errorf("%q: not a git command", command)
	}
	if name == "git" {
		if name, arg, ok = strings.Cut(arg, " "); !ok {
			return "", "", fmt.Errorf("%q: not a git command", command)
		}
		name = "git-" + name
	}
	switch name {
	case "git-upload-pack", "git-receive-pack":
	default:
		return "", "", fmt.Errorf("%q: only git-upload-pack and git-receive-pack are served", command)
	}
	repo, err = shellUnquote(strings.TrimSpace(arg))
	if err != nil {
		return "", "", fmt.Errorf("%q: %w", command, err)
	}
	if repo == "" || strings.HasPrefix(repo, "-") {
		return "", "", fmt.Errorf("%q: empty path or an option", command)
	}
	return strings.TrimPrefix(name, "git-"), repo, nil
}

// shellUnquote undoes POSIX single-quoting as git (and go-git) apply it to the
// path; a quote inside the path is closed, backslash-escaped and reopened.
// Outside quotes only a conservative set of characters and backslash escapes
// are allowed, so no shell syntax is ever accepted.
func shellUnquote(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated quote")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '\\':
			if i+1 >= len(s) {
				return "", errors.New("trailing backslash")
			}
			b.WriteByte(s[i+1])
			i += 2
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("._-/~", c) >= 0:
			b.WriteByte(c)
			i++
		default:
			return "", fmt.Errorf("unquoted %q in path", c)
		}
	}
	return b.String(), nil
}

// resolveRepo maps a path from an SSH command to a bare repository directory
// inside the root. Absolute and relative paths are both taken relative to the
// root, as on hosted Git services. ".." components are refused, and so is any
// path that leaves the root through a symlink. As git does, "NAME" also finds
// "NAME.git".
func (s *Server) resolveRepo(p string) (string, error) {
	p = strings.TrimPrefix(p, "~/")
	if strings.ContainsRune(p, 0) {
		return "", errors.New("NUL in path")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", errors.New("'..' in path")
		}
	}
	rel := strings.Trim(filepath.Clean("/"+p), "/")
	if rel == "" {
		return "", errors.New("the root is no repository")
	}
	for _, cand := range []string{rel, rel + ".git"} {
		dir, err := filepath.EvalSymlinks(filepath.Join(s.root, cand))
		if err != nil {
			continue
		}
		r, err := filepath.Rel(s.root, dir)
		if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%s: outside the root", dir)
		}
		if fi, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		return dir, nil
	}
	return "", errors.New("no such repository")
}

// validProtocol reports whether v is a GIT_PROTOCOL value git sends, such as
// "version=2"; the value reaches a child's environment, so it is checked.
func validProtocol(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '=' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}
