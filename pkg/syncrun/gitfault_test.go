package syncrun

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitsync/gitsync/tests/gitserver"
)

// cuttingProxy forwards TCP connections to a Git server; once cut is
// set, it closes a connection after passing on limit more bytes of the
// server's answers, as a server or a network that fails mid-fetch does.
type cuttingProxy struct {
	ln     net.Listener
	target string
	limit  int64
	cut    atomic.Bool
	sent   atomic.Int64 // bytes passed on since cut was set
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startCuttingProxy(t *testing.T, target string, limit int64) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target, limit: limit}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// setCut starts or stops cutting.
func (p *cuttingProxy) setCut(on bool) {
	p.sent.Store(0)
	p.cut.Store(on)
}

func (p *cuttingProxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	defer func() { _ = c.Close(); _ = s.Close() }()
	go func() { _, _ = io.Copy(s, c) }()
	buf := make([]byte, 1024)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if p.cut.Load() && p.sent.Add(int64(n)) > p.limit {
				return // both ends closed mid-answer
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestGitServerClosesMidFetch: the Git server's connection closes in the
// middle of the pack. The run fails naming the repository, applies nothing of
// the new commit and prunes nothing; the inventory is unchanged; the next
// run, with the server well again, applies the commit and prunes.
func TestGitServerClosesMidFetch(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	url := f.git.HTTPURL("app")
	hostPort := strings.TrimPrefix(url, "http://")
	hostPort = hostPort[:strings.IndexByte(hostPort, '/')]
	proxy := startCuttingProxy(t, hostPort, 16<<10)
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1")})
	f.install(strings.Replace(url, hostPort, proxy.ln.Addr().String(), 1), "", "")
	f.mustSucceed(f.run())

	// The new commit drops b and carries 256 KiB of incompressible data,
	// so that its pack is cut.
	noise := make([]byte, 128<<10)
	_, _ = rand.Read(noise)
	f.remove("deploy/b.yaml")
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "2"), "deploy/c.yaml": cm("c", hex.EncodeToString(noise))})
	before := f.inventorySet()
	proxy.setCut(true)
	res := f.run()
	if res.Outcome != Failed || !strings.Contains(res.Message, proxy.ln.Addr().String()+"/app.git") {
		t.Fatalf("run %s (%s): want Failed naming the repository", res.Outcome, res.Message)
	}
	f.mustHave("b")
	f.mustNotHave("c")
	if a, err := f.configMap("a"); err != nil || a.Data["value"] != "1" {
		t.Errorf("a after the failed fetch: %v %v, want value 1", a, err)
	}
	if after := f.inventorySet(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("inventory %v after the failed fetch, want %v", after, before)
	}
	t.Logf("the failed run said: %s", res.Message)

	proxy.setCut(false)
	f.mustSucceed(f.run())
	f.mustNotHave("b")
	f.mustHave("a", "c")
}
