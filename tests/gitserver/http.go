package gitserver

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gitsync/gitsync/tests/internal/testpki"
)

// startHTTP starts the plain-HTTP and the HTTPS listener, both serving the
// same handler: authentication in front of `git http-backend`.
func (s *Server) startHTTP(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, s.git, "--exec-path").Output()
	if err != nil {
		return fmt.Errorf("gitserver: git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return fmt.Errorf("gitserver: %s: %w", backend, err)
	}
	ip := net.ParseIP(s.opts.ListenIP)
	ca, err := testpki.New("gitsync test CA")
	if err != nil {
		return fmt.Errorf("gitserver: %w", err)
	}
	// The loopback names too, so that a client may say localhost whatever
	// ListenIP is.
	ips := []net.IP{ip}
	for _, lo := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} {
		if !lo.Equal(ip) {
			ips = append(ips, lo)
		}
	}
	cert, err := ca.ServerCertificate(ips, []string{"localhost"})
	if err != nil {
		return fmt.Errorf("gitserver: %w", err)
	}
	s.caPEM = ca.CertPEM

	cgiHandler := &cgi.Handler{
		Path: backend,
		Env: gitEnv(append(serverConfig(s.opts),
			"GIT_PROJECT_ROOT="+s.root,
			"GIT_HTTP_EXPORT_ALL=1")...),
		Logger: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		Stderr: logWriter{log: s.log, msg: "git http-backend"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			s.stats.httpAuthFailures.Add(1)
			if s.opts.Username != "" {
				w.Header().Add("WWW-Authenticate", `Basic realm="gitserver"`)
			}
			if s.opts.BearerToken != "" {
				w.Header().Add("WWW-Authenticate", `Bearer realm="gitserver"`)
			}
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		// http-backend refuses ".." too, but as an internal error; a client
		// (and a test reading the status) should see "not found".
		if slices.Contains(strings.Split(r.URL.Path, "/"), "..") {
			http.NotFound(w, r)
			return
		}
		s.count(r)
		cgiHandler.ServeHTTP(countingWriter{ResponseWriter: w, n: &s.stats.httpBytesSent}, r)
	})

	var lc net.ListenConfig
	addr := net.JoinHostPort(ip.String(), "0")
	if s.httpLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
		return fmt.Errorf("gitserver: listen %s: %w", addr, err)
	}
	if s.httpsLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
		return fmt.Errorf("gitserver: listen %s: %w", addr, err)
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	s.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	s.httpsSrv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          errLog,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	s.serve(func() error { return s.httpSrv.Serve(s.httpLn) })
	s.serve(func() error { return s.httpsSrv.ServeTLS(s.httpsLn, "", "") })
	return nil
}

// serve runs an http.Server's serve loop until Close.
func (s *Server) serve(run func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("gitserver: serve", "error", err)
		}
	}()
}

// authorized reports whether r carries acceptable credentials. With no
// authentication configured every request is.
func (s *Server) authorized(r *http.Request) bool {
	basic, bearer := s.opts.Username != "", s.opts.BearerToken != ""
	if !basic && !bearer {
		return true
	}
	if bearer {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && equal(token, s.opts.BearerToken) {
			return true
		}
	}
	if basic {
		user, pass, ok := r.BasicAuth()
		// Evaluate both comparisons, so timing does not tell which one failed.
		userOK, passOK := equal(user, s.opts.Username), equal(pass, s.opts.Password)
		if ok && userOK && passOK {
			return true
		}
	}
	return false
}

// count updates the HTTP request counters.
func (s *Server) count(r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/info/refs"):
		s.stats.httpAdvertisements.Add(1)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/git-upload-pack"):
		s.stats.httpUploadPacks.Add(1)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/git-receive-pack"):
		s.stats.httpReceivePacks.Add(1)
	}
}

// countingWriter counts the bytes of a response body.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

// Write counts p and writes it.
func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// Flush passes a flush on, for the streaming CGI handler.
func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// equal compares secrets in constant time.
func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// logWriter turns what a child process writes to stderr into log records.
type logWriter struct {
	log *slog.Logger
	msg string
}

// Write logs p as one record.
func (w logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		w.log.Warn(w.msg, "stderr", msg)
	}
	return len(p), nil
}
