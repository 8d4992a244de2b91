package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// Options configures a Server. The zero value serves anonymous HTTP and HTTPS
// on 127.0.0.1 and SSH for the generated client key.
type Options struct {
	// ListenIP is the IP address all three listeners bind to and that URLs,
	// the TLS certificate and KnownHosts name. Default "127.0.0.1". Tests of
	// in-cluster Pods pass the host-side IP of the test cluster's bridge. It
	// must be a concrete address: 0.0.0.0 or :: cannot appear in a URL.
	ListenIP string

	// Username and Password enable HTTP basic authentication when Username is
	// not empty. Default: off.
	Username string
	// Password is the password for Username.
	Password string

	// BearerToken enables `Authorization: Bearer <token>` when not empty.
	// Default: off. When both basic and bearer authentication are enabled,
	// either one is accepted. When neither is, HTTP access is anonymous.
	BearerToken string

	// AuthorizedKeys are SSH public keys accepted in addition to the
	// generated client key (Server.ClientKey). Default: none.
	AuthorizedKeys []ssh.PublicKey

	// Root is the directory that holds the bare repositories. Default: a new
	// temporary directory, removed by Close. A Root given here must exist;
	// Close leaves it in place. Repositories already in it are served.
	Root string

	// Logger receives the server's own errors and git's stderr on the HTTP
	// side. Default: discard.
	Logger *slog.Logger

	// ReadOnly refuses pushes over HTTP(S) (http.receivepack false), as a
	// server does for credentials without write access. Default: pushes
	// are accepted.
	ReadOnly bool
	// NoFilter turns partial clone off (uploadpack.allowFilter false), as
	// servers that do not support it behave: they do not advertise the
	// filter capability. Default: filters are allowed.
	NoFilter bool
}

// Stats counts requests served since Start. Tests use it to check that a client
// did (or did not) fetch: a ref listing alone is an HTTP advertisement without
// an upload-pack POST.
type Stats struct {
	// HTTPAdvertisements counts GET .../info/refs (ref listings), HTTP and HTTPS.
	HTTPAdvertisements int64
	// HTTPUploadPacks counts POST .../git-upload-pack (fetch negotiation and pack
	// transfer; protocol v2 ls-refs is counted here too).
	HTTPUploadPacks int64
	// HTTPReceivePacks counts POST .../git-receive-pack (pushes).
	HTTPReceivePacks int64
	// HTTPAuthFailures counts HTTP requests answered 401.
	HTTPAuthFailures int64
	// HTTPBytesSent counts the bytes of the response bodies `git
	// http-backend` sent (ref advertisements and packfiles), HTTP and
	// HTTPS: what clients transferred.
	HTTPBytesSent int64
	// SSHUploadPacks counts git-upload-pack sessions over SSH (ls-remote and
	// fetch alike: SSH has no separate advertisement request).
	SSHUploadPacks int64
	// SSHReceivePacks counts git-receive-pack sessions over SSH.
	SSHReceivePacks int64
}

// stats holds the live counters behind Stats.
type stats struct {
	httpAdvertisements, httpUploadPacks, httpReceivePacks, httpAuthFailures atomic.Int64
	httpBytesSent                                                           atomic.Int64
	sshUploadPacks, sshReceivePacks                                         atomic.Int64
}

// Server is a running Git server. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	root    string
	ownRoot bool
	git     string // path of the git binary
	log     *slog.Logger

	httpLn, httpsLn, sshLn net.Listener
	httpSrv, httpsSrv      *http.Server

	caPEM     []byte
	hostKey   ssh.Signer
	clientKey []byte // OpenSSH PEM
	sshConfig *ssh.ServerConfig
	sshKeys   map[string]bool // authorized keys, ssh.PublicKey.Marshal() as string

	// ctx is cancelled by Close and bounds every git process the server runs.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sshConns map[net.Conn]struct{}
	closed   bool

	stats stats
}

// Start starts HTTP, HTTPS and SSH listeners on free ports of opts.ListenIP and
// returns once all three accept connections. ctx bounds the start only; the
// server runs until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.ListenIP == "" {
		opts.ListenIP = "127.0.0.1"
	}
	ip := net.ParseIP(opts.ListenIP)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("gitserver: ListenIP %q: not a concrete IP address", opts.ListenIP)
	}
	if opts.Username == "" && opts.Password != "" {
		return nil, errors.New("gitserver: Password is set but Username is empty")
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("gitserver: git: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{opts: opts, git: gitPath, log: log, sshConns: map[net.Conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))

	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	s.root = opts.Root
	if s.root == "" {
		s.root, err = os.MkdirTemp("", "gitserver-")
		if err != nil {
			return nil, fmt.Errorf("gitserver: root: %w", err)
		}
		s.ownRoot = true
	}
	// Resolve symlinks once, so that path confinement compares real paths
	// (on some systems the temp dir itself is behind a symlink).
	if s.root, err = filepath.EvalSymlinks(s.root); err != nil {
		return nil, fmt.Errorf("gitserver: root: %w", err)
	}

	if err := s.startHTTP(ctx); err != nil {
		return nil, err
	}
	if err := s.startSSH(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Close stops the listeners, ends open connections and running git processes,
// and removes the root directory if Start created it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.sshConns {
		_ = c.Close()
	}
	s.mu.Unlock()

	s.cancel()
	var errs []error
	for _, srv := range []*http.Server{s.httpSrv, s.httpsSrv} {
		if srv != nil {
			if err := srv.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.sshLn != nil {
		if err := s.sshLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	if s.ownRoot && s.root != "" {
		if err := os.RemoveAll(s.root); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Root returns the directory that holds the bare repositories.
func (s *Server) Root() string { return s.root }

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	return Stats{
		HTTPAdvertisements: s.stats.httpAdvertisements.Load(),
		HTTPUploadPacks:    s.stats.httpUploadPacks.Load(),
		HTTPReceivePacks:   s.stats.httpReceivePacks.Load(),
		HTTPAuthFailures:   s.stats.httpAuthFailures.Load(),
		HTTPBytesSent:      s.stats.httpBytesSent.Load(),
		SSHUploadPacks:     s.stats.sshUploadPacks.Load(),
		SSHReceivePacks:    s.stats.sshReceivePacks.Load(),
	}
}

// HTTPURL returns the plain-HTTP clone URL of repo, http://IP:PORT/REPO.git.
func (s *Server) HTTPURL(repo string) string {
	return "http://" + s.httpLn.Addr().String() + "/" + repoPath(repo)
}

// HTTPSURL returns the HTTPS clone URL of repo, https://IP:PORT/REPO.git. Its
// certificate is signed by CACert.
func (s *Server) HTTPSURL(repo string) string {
	return "https://" + s.httpsLn.Addr().String() + "/" + repoPath(repo)
}

// SSHURL returns the SSH clone URL of repo, ssh://git@IP:PORT/REPO.git. The
// server accepts any user name; "git" is the convention.
func (s *Server) SSHURL(repo string) string {
	return "ssh://git@" + s.sshLn.Addr().String() + "/" + repoPath(repo)
}

// SSHAddr returns the SSH listener's address, IP:PORT ([IP]:PORT for IPv6).
func (s *Server) SSHAddr() string { return s.sshLn.Addr().String() }

// HTTPAddr returns the plain-HTTP listener's address, IP:PORT.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// HTTPSAddr returns the HTTPS listener's address, IP:PORT.
func (s *Server) HTTPSAddr() string { return s.httpsLn.Addr().String() }

// repoPath maps a repo name to its path below the root and in URLs: the name
// with ".git" appended unless it already ends so.
func repoPath(name string) string {
	name = strings.Trim(name, "/")
	if strings.HasSuffix(name, ".git") {
		return name
	}
	return name + ".git"
}

// gitEnv returns the environment for git processes the server runs: the
// process environment without GIT_* variables (a test may set some), without
// the user's and system git configuration, plus extra.
func gitEnv(extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+8)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	return append(env, extra...)
}

// serverConfig is the git configuration the serving processes (http-backend,
// upload-pack, receive-pack) run with, as GIT_CONFIG_* environment variables:
// pushes over anonymous HTTP are allowed (http-backend refuses them without
// REMOTE_USER otherwise), and clients may fetch any reachable commit by id and
// use partial-clone filters (unless opts.NoFilter), as the large Git hosts
// allow.
func serverConfig(opts Options) []string {
	kv := [][2]string{
		{"http.receivepack", strconv.FormatBool(!opts.ReadOnly)},
		{"uploadpack.allowReachableSHA1InWant", "true"},
		{"uploadpack.allowFilter", strconv.FormatBool(!opts.NoFilter)},
	}
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(kv))}
	for i, p := range kv {
		env = append(env,
			"GIT_CONFIG_KEY_"+strconv.Itoa(i)+"="+p[0],
			"GIT_CONFIG_VALUE_"+strconv.Itoa(i)+"="+p[1])
	}
	return env
}
