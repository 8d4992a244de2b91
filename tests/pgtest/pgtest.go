// Package pgtest runs a real Prometheus Pushgateway for tests, built from
// the Go module proxy at the version pinned in tests/pushgateway/go.mod by
// `make pushgateway`. Tests push to it and scrape its /metrics back.
//
// It listens on 127.0.0.1 only, keeps nothing on disk, and is stopped by
// its PID when the test ends (and killed with the test binary, through
// Pdeathsig).
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gitsync/gitsync/tests/internal/gomod"
)

// BinaryEnv names the environment variable that, when set, is the
// directory holding the pushgateway binary, instead of
// <repo>/.cache/pushgateway/<version>. The Makefile sets it.
const BinaryEnv = "GITSYNC_PUSHGATEWAY"

// Server is a running Pushgateway.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
	cmd *exec.Cmd
	log bytes.Buffer
}

// Start starts a Pushgateway and waits until it is ready; it is stopped
// when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{URL: "http://" + addr}
	s.cmd = exec.Command(bin, "--web.listen-address="+addr, "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// Pdeathsig fires when the forking thread exits: keep it.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-exited
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		resp, err := get(ctx, s.URL+"/-/ready")
		if err == nil && resp.StatusCode == http.StatusOK {
			_ = resp.Body.Close()
			return s
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		select {
		case <-exited:
			t.Fatalf("pushgateway exited early; its log:\n%s", s.log.String())
		case <-ctx.Done():
			t.Fatalf("pushgateway not ready after a minute: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// Scrape returns the Pushgateway's /metrics, as Prometheus scrapes it.
func (s *Server) Scrape(ctx context.Context) (string, error) {
	resp, err := get(ctx, s.URL+"/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), err
}

// Binary returns the path of the pushgateway binary: in
// $GITSYNC_PUSHGATEWAY, else in <repo>/.cache/pushgateway/<version>.
func Binary() (string, error) {
	dir := os.Getenv(BinaryEnv)
	if dir == "" {
		root, err := gomod.RepoRoot()
		if err != nil {
			return "", err
		}
		version, err := gomod.Required(filepath.Join(root, "tests", "pushgateway", "go.mod"), "github.com/prometheus/pushgateway")
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, ".cache", "pushgateway", version)
	}
	bin := filepath.Join(dir, "pushgateway")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s: no pushgateway binary: run `make pushgateway` to build it (or set %s to a directory holding it)", dir, BinaryEnv)
	}
	return bin, nil
}
