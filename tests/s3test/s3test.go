// Package s3test runs a real S3 server for tests: SeaweedFS (`weed server
// -s3`: master, volume server, filer and S3 gateway in one process), built
// from the Go module proxy at the version pinned in tests/s3server/go.mod by
// `make s3server`. Nothing is mocked: objects are stored by SeaweedFS and
// listed, signed and served by its S3 gateway.
//
// Every port is on 127.0.0.1, data lives in a temporary directory, and
// the process is stopped by its PID (and killed with the test binary,
// through Pdeathsig). Clients reach the gateway through a front that
// counts requests (Requests) and, with Options.TLS, speaks HTTPS with a
// certificate of a throw-away CA (CA); tests upload through a second
// client that talks to the gateway directly, so their uploads are not
// counted.
//
// The gateway knows two identities: an admin (Options.AdminAccessKey) that
// the helpers use to create buckets and objects, and a reader
// (ReaderKeys) allowed only to list and read, which is what a sync's
// Secret should hold.
package s3test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitsync/gitsync/tests/internal/gomod"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gitsync/gitsync/tests/internal/testpki"
)

// BinaryEnv names the environment variable that, when set, is the
// directory holding the `weed` binary, instead of
// <repo>/.cache/s3server/<seaweedfs version>. The Makefile sets it.
const BinaryEnv = "GITSYNC_S3SERVER"

// Keys of the two identities, unless Options set others.
const (
	DefaultAdminAccessKey = "gitsync-admin"
	DefaultAdminSecretKey = "gitsync-admin-secret"
	readerAccessKey       = "gitsync-reader"
	readerSecretKey       = "gitsync-reader-secret"
)

// Options say how to start a server. The zero value is a plain-HTTP
// server with the default keys.
type Options struct {
	// TLS makes the counted front speak HTTPS with a certificate of a
	// throw-away CA (Server.CA). Default: plain HTTP.
	TLS bool
	// AdminAccessKey and AdminSecretKey are the admin identity's keys.
	// Default DefaultAdminAccessKey, DefaultAdminSecretKey.
	AdminAccessKey, AdminSecretKey string
	// StartTimeout bounds the start, until the gateway answers a signed
	// request. Default 2 minutes (a loaded machine needs it).
	StartTimeout time.Duration
}

// Server is a running SeaweedFS S3 gateway and its counted front.
type Server struct {
	opts    Options
	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	backend string // host:port of the gateway itself
	front   *http.Server
	frontLn net.Listener
	ca      *testpki.CA
	admin   *minio.Client

	mu       sync.Mutex
	requests map[string]int
	rewrite  func(r *http.Request, body []byte) []byte
}

// Start starts a server and waits until it answers. ctx bounds the start
// only; the server runs until Close.
func Start(ctx context.Context, opts Options) (s *Server, err error) {
	if opts.AdminAccessKey == "" {
		opts.AdminAccessKey, opts.AdminSecretKey = DefaultAdminAccessKey, DefaultAdminSecretKey
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gitsync-s3-")
	if err != nil {
		return nil, err
	}
	s = &Server{opts: opts, dir: dir, logPath: filepath.Join(dir, "weed.log"), exited: make(chan struct{}), requests: map[string]int{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	if err := s.writeIdentities(); err != nil {
		return nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	s.backend = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[6]))
	args := []string{
		// Global flags: glog would write files to the system's temp dir.
		"-logtostderr=true",
		"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir=" + filepath.Join(dir, "data"),
		"-master.port=" + strconv.Itoa(ports[0]), "-master.port.grpc=" + strconv.Itoa(ports[1]),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64",
		"-volume.port=" + strconv.Itoa(ports[2]), "-volume.port.grpc=" + strconv.Itoa(ports[3]),
		// Each bucket is a collection with volumes of its own (one each,
		// see writeIdentities); tests make dozens of buckets.
		"-volume.max=200",
		"-filer", "-filer.port=" + strconv.Itoa(ports[4]), "-filer.port.grpc=" + strconv.Itoa(ports[5]),
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + strconv.Itoa(ports[6]), "-s3.port.grpc=" + strconv.Itoa(ports[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.config=" + filepath.Join(dir, "s3.json"),
	}
	if err := s.startProcess(bin, args); err != nil {
		return nil, err
	}
	s.admin, err = minio.New(s.backend, &minio.Options{
		Creds: credentials.NewStaticV4(opts.AdminAccessKey, opts.AdminSecretKey, ""), Region: "us-east-1",
	})
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := s.startFront(); err != nil {
		return nil, err
	}
	return s, nil
}

// StartTest starts a server for t and closes it when t ends.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("s3test.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("s3test: Close: %v", err)
		}
	})
	return s
}

// Binary returns the path of the weed binary: in $GITSYNC_S3SERVER, else
// in <repo>/.cache/s3server/<version>.
func Binary() (string, error) {
	dir := os.Getenv(BinaryEnv)
	if dir == "" {
		root, err := gomod.RepoRoot()
		if err != nil {
			return "", err
		}
		version, err := SeaweedFSVersion(root)
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, ".cache", "s3server", version)
	}
	bin := filepath.Join(dir, "weed")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s: no weed binary: run `make s3server` to build the test S3 server (or set %s to a directory holding it)", dir, BinaryEnv)
	}
	return bin, nil
}

// SeaweedFSVersion reads the SeaweedFS version pinned in
// tests/s3server/go.mod below root.
func SeaweedFSVersion(root string) (string, error) {
	return gomod.Required(filepath.Join(root, "tests", "s3server", "go.mod"), "github.com/seaweedfs/seaweedfs")
}

// writeIdentities writes the gateway's identity file (the admin, and a
// reader that may only list and read) and its master's configuration.
func (s *Server) writeIdentities() error {
	type cred struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string   `json:"name"`
		Credentials []cred   `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	cfg := struct {
		Identities []identity `json:"identities"`
	}{[]identity{
		{"admin", []cred{{s.opts.AdminAccessKey, s.opts.AdminSecretKey}}, []string{"Admin", "Read", "List", "Tagging", "Write"}},
		{"reader", []cred{{readerAccessKey, readerSecretKey}}, []string{"Read", "List"}},
	}}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "s3.json"), b, 0o600); err != nil {
		return err
	}
	// weed reads master.toml from $HOME/.seaweedfs (HOME is dir): grow
	// one volume per collection, not seven, so that many small buckets
	// do not exhaust the volume server.
	conf := filepath.Join(s.dir, ".seaweedfs")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(conf, "master.toml"), []byte("[master.volume_growth]\ncopy_1 = 1\n"), 0o644)
}

// startProcess starts weed. The goroutine that starts it keeps its OS
// thread until weed exits: Pdeathsig fires when the forking thread exits,
// and must fire only when the test binary dies.
func (s *Server) startProcess(bin string, args []string) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// weed reads configuration from $HOME/.seaweedfs: only what
	// writeIdentities wrote there, nothing of the user's.
	cmd.Env = append(os.Environ(), "HOME="+s.dir, "TMPDIR="+s.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", bin, errors.Join(err, logFile.Close()))
	}
	s.cmd = cmd
	return nil
}

// waitReady waits until the gateway stores an object for the admin:
// master, volume server, filer and gateway are then all up, and the master
// has a writable volume. (Listing buckets works earlier, while writes
// still fail.)
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	const probe = "s3test-probe"
	var last error
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("weed exited early (%v); end of its log:\n%s", s.waitErr, s.logTail(30))
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		last = s.admin.MakeBucket(rctx, probe, minio.MakeBucketOptions{})
		if minio.ToErrorResponse(last).Code == "BucketAlreadyOwnedByYou" {
			last = nil
		}
		if last == nil {
			_, last = s.admin.PutObject(rctx, probe, "probe", strings.NewReader("probe"), 5, minio.PutObjectOptions{})
		}
		if last == nil {
			last = errors.Join(s.admin.RemoveObject(rctx, probe, "probe", minio.RemoveObjectOptions{}),
				s.admin.RemoveBucket(rctx, probe))
		}
		rcancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("weed did not become ready: %v; end of its log:\n%s", last, s.logTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startFront starts the counted front on 127.0.0.1.
func (s *Server) startFront() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if s.opts.TLS {
		if s.ca, err = testpki.New("gitsync s3 test CA"); err != nil {
			return errors.Join(err, ln.Close())
		}
		cert, err := s.ca.ServerCertificate([]net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
		if err != nil {
			return errors.Join(err, ln.Close())
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	target := &url.URL{Scheme: "http", Host: s.backend}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// The client signed the Host it dialled; the gateway checks the
	// signature against the Host it receives, which the proxy keeps.
	proxy.ModifyResponse = s.modifyResponse
	// Clients that give up (a failed fetch cancels its other downloads)
	// and refused handshakes are what tests provoke, not news.
	quiet := log.New(io.Discard, "", 0)
	proxy.ErrorLog = quiet
	s.frontLn = ln
	s.front = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count(r)
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quiet}
	go func() { _ = s.front.Serve(ln) }()
	return nil
}

// count records one request by its kind: LIST (a bucket listing), GET
// and HEAD (of an object), or the method for anything else.
func (s *Server) count(r *http.Request) {
	kind := r.Method
	bucketOnly := !strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method == http.MethodGet && bucketOnly && r.URL.Path != "/" {
		kind = "LIST"
		if r.URL.Query().Has("location") {
			kind = "LOCATION"
		}
	}
	s.mu.Lock()
	s.requests[kind]++
	s.mu.Unlock()
}

// modifyResponse lets RewriteListings change a listing's body.
func (s *Server) modifyResponse(resp *http.Response) error {
	s.mu.Lock()
	rewrite := s.rewrite
	s.mu.Unlock()
	r := resp.Request
	if rewrite == nil || r.Method != http.MethodGet || strings.Contains(strings.Trim(r.URL.Path, "/"), "/") {
		return nil
	}
	body, err := readAll(resp)
	if err != nil {
		return err
	}
	body = rewrite(r, body)
	resp.Body = readCloser{bytes.NewReader(body)}
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// RewriteListings makes the front pass every bucket listing's XML body
// through fn before the client sees it (nil: no longer). It plays a
// compromised or hostile server, for keys a well-behaved one refuses to
// store.
func (s *Server) RewriteListings(fn func(r *http.Request, body []byte) []byte) {
	s.mu.Lock()
	s.rewrite = fn
	s.mu.Unlock()
}

// Requests returns how many requests of each kind the front received
// since the start or the last ResetRequests: "LIST", "GET", "HEAD",
// "LOCATION" and other methods.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// ResetRequests sets the counts to zero.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.requests = map[string]int{}
	s.mu.Unlock()
}

// Endpoint returns the front's host:port, what a sync's
// spec.source.bucket.endpoint names.
func (s *Server) Endpoint() string { return s.frontLn.Addr().String() }

// CA returns the CA of the front's certificate with Options.TLS, else
// nil.
func (s *Server) CA() *testpki.CA { return s.ca }

// ReaderKeys returns the access key pair of the identity that may only
// list and read.
func (s *Server) ReaderKeys() (accessKey, secretKey string) { return readerAccessKey, readerSecretKey }

// Admin returns a client of the gateway itself (not the counted front)
// with the admin identity, for what a test sets up.
func (s *Server) Admin() *minio.Client { return s.admin }

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(ctx context.Context, bucket string) error {
	return s.admin.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
}

// Put writes objects (key → content) to bucket, eight at a time.
func (s *Server) Put(ctx context.Context, bucket string, objects map[string]string) error {
	type item struct{ key, content string }
	work := make(chan item)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for it := range work {
				if _, err := s.admin.PutObject(ctx, bucket, it.key, strings.NewReader(it.content), int64(len(it.content)),
					minio.PutObjectOptions{ContentType: "application/yaml"}); err != nil {
					errs <- fmt.Errorf("put %s/%s: %w", bucket, it.key, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for k, v := range objects {
		select {
		case work <- item{k, v}:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}

// Remove deletes objects from bucket.
func (s *Server) Remove(ctx context.Context, bucket string, keys ...string) error {
	var errs []error
	for _, k := range keys {
		if err := s.admin.RemoveObject(ctx, bucket, k, minio.RemoveObjectOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove %s/%s: %w", bucket, k, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops the front and weed (SIGTERM to its PID's group, SIGKILL
// after ten seconds) and removes the data.
func (s *Server) Close() error {
	var errs []error
	if s.front != nil {
		errs = append(errs, s.front.Close())
	}
	if s.cmd != nil && s.cmd.Process != nil {
		pid := s.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-s.exited
		}
		// Anything weed forked must not outlive it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}

// logTail returns the last n lines of weed's log.
func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// readAll reads and closes a response's body.
func readAll(resp *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(resp.Body)
	return buf.Bytes(), errors.Join(err, resp.Body.Close())
}

// readCloser is a body that needs no closing.
type readCloser struct{ *bytes.Reader }

// Close does nothing.
func (readCloser) Close() error { return nil }
