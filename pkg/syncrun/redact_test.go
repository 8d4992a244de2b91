package syncrun

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/helmrepo"
)

// lockedBuffer is a bytes.Buffer for a logger that several goroutines use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestURLCredentialsNeverLeak runs syncs whose source URLs carry a token
// (in the userinfo, in the query, in the chart URL an index announces)
// and fail: a TLS failure, nothing listening, wrong credentials, a URL the
// spec refuses. Then it reads everything gitsync wrote — every ConfigMap
// of the namespace but the spec (inventory, record, history), every Event
// — and the run's log and result, and finds no token.
func TestURLCredentialsNeverLeak(t *testing.T) {
	git := gitserver.StartTest(t, gitserver.Options{Username: "git", Password: "right"})
	repo, err := git.CreateRepo(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit(t.Context(), "one", map[string]string{"deploy/a.yaml": cm("a", "1")}); err != nil {
		t.Fatal(err)
	}
	charts, err := helmrepo.StartRepo(helmrepo.RepoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = charts.Close() })
	if _, err := charts.Publish(appChart("1.0.0", false)); err != nil {
		t.Fatal(err)
	}
	// A chart URL with a signature in its query, on a port nobody
	// listens on.
	closed := closedAddr(t)
	charts.SetIndex(fmt.Appendf(nil, "apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls:\n    - https://%s/app-1.0.0.tgz?X-Signature=TOKEN7SIG\n", closed))

	hostOf := func(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://") }
	tests := []struct {
		name, token string
		source      string // YAML under spec.source
		specError   bool   // the spec refuses the URL: the run never starts
	}{
		{name: "userinfo, certificate not trusted", token: "TOKEN1TLS",
			source: "git: {url: 'https://TOKEN1TLS@" + hostOf(git.HTTPSURL("app")) + "'}"},
		{name: "userinfo, nothing listening", token: "TOKEN2DOWN",
			source: "git: {url: 'https://TOKEN2DOWN@" + closed + "/app.git'}"},
		{name: "userinfo, wrong credentials", token: "TOKEN3WRONG",
			source: "git: {url: 'http://TOKEN3WRONG@" + hostOf(git.HTTPURL("app")) + "', insecure: true}"},
		{name: "user and password", token: "TOKEN4PW", specError: true,
			source: "git: {url: 'https://user:TOKEN4PW@" + hostOf(git.HTTPSURL("app")) + "'}"},
		{name: "query", token: "TOKEN5QUERY", specError: true,
			source: "git: {url: '" + git.HTTPSURL("app") + "?private_token=TOKEN5QUERY'}"},
		{name: "helm userinfo", token: "TOKEN6HELM", specError: true,
			source: "helm: {url: 'https://TOKEN6HELM@" + hostOf(charts.URL()) + "', chart: app}"},
		{name: "chart URL of the index", token: "TOKEN7SIG",
			source: "helm: {url: '" + charts.URL() + "', chart: app, secretRef: {name: ca}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := env.NewNamespace(t)
			name := "leak"
			ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: ns},
				Data: map[string][]byte{"ca.crt": charts.CA().CertPEM}}
			if _, err := env.Client().CoreV1().Secrets(ns).Create(t.Context(), ca, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			doc := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Sync\nmetadata: {name: %s, namespace: %s}\nspec:\n  source:\n    %s\n  path: ./deploy\n",
				name, ns, tt.source)
			if strings.Contains(tt.source, "helm:") {
				doc = strings.Replace(doc, "  path: ./deploy\n", "", 1)
			}
			if _, err := spec.Parse([]byte(doc)); (err != nil) != tt.specError {
				t.Fatalf("spec.Parse: %v; want an error: %v", err, tt.specError)
			}
			specCM := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: spec.ConfigMapName(name), Namespace: ns},
				Data:       map[string]string{spec.ConfigMapKey: doc},
			}
			if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(t.Context(), specCM, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}

			var log lockedBuffer
			logger := slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			res, err := Run(t.Context(), Options{Name: name, Namespace: ns, Config: env.Config(), Logger: logger})
			var written []string // what gitsync wrote or printed
			switch {
			case tt.specError:
				if err == nil {
					t.Fatalf("Run: %+v, want the spec refused", res)
				}
				written = append(written, "Run error: "+err.Error())
			case err != nil:
				t.Fatalf("Run: %v", err)
			default:
				if res.Outcome != Failed {
					t.Fatalf("run %s (%s), want Failed", res.Outcome, res.Message)
				}
				written = append(written, "message: "+res.Message, "error: "+res.Err.Error())
				if !strings.Contains(res.Message, "xxxxx") {
					t.Errorf("the message %q shows no masked URL; is the URL in it at all?", res.Message)
				}
			}
			written = append(written, "log: "+log.String())

			cms, err := env.Client().CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wroteRecord := false
			for _, c := range cms.Items {
				if c.Name == specCM.Name {
					continue // written by the user, with the token
				}
				wroteRecord = wroteRecord || c.Name == name+"-inventory" || strings.HasPrefix(c.Name, spec.ConfigMapName(name)+"-")
				written = append(written, fmt.Sprintf("ConfigMap %s: %v %v %v %v", c.Name, c.Data, c.BinaryData, c.Annotations, c.Labels))
			}
			events, err := env.Client().CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events.Items {
				written = append(written, fmt.Sprintf("Event %s: %s %s", e.Name, e.Reason, e.Message))
			}
			if !tt.specError && (!wroteRecord || len(events.Items) == 0) {
				t.Errorf("the failed run wrote no record (%v) or no Event (%d): nothing was checked", wroteRecord, len(events.Items))
			}
			for _, w := range written {
				if strings.Contains(w, tt.token) {
					t.Errorf("%s leaks: %s", tt.token, w)
				}
			}
			t.Logf("checked %d writings; the run said: %s", len(written), written[0])
		})
	}
}

// closedAddr returns 127.0.0.1:PORT where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
