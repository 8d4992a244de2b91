package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the matrix provider's transaction ID
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// received is one request a receiver got.
type received struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// receiver is a real HTTP server that records what it receives and answers
// with the statuses queued in answers (then 200).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	answers []int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Method, req.URL.EscapedPath(), req.URL.RawQuery, req.Header.Clone(), b})
		code := http.StatusOK
		if len(r.answers) > 0 {
			code, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"echo":"` + req.Header.Get("Authorization") + `"}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

const sha = "0123456789abcdef0123456789abcdef01234567"

func testEvent(reason string) Event {
	return Event{
		Sync: "web", Namespace: "apps", Reason: reason, Revision: "main@sha1:" + sha,
		Message: "revision main@sha1:" + sha + ": 3 objects (1 configured, 2 unchanged)", Summary: "prod-eu",
		Metadata: map[string]string{"env": "prod"}, Counts: map[string]int{"configured": 1, "unchanged": 2},
		Changed: []string{"apps/Deployment/web"}, Time: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
	}
}

func fastOpts() Options { return Options{Backoff: 10 * time.Millisecond} }

func sendOne(t *testing.T, p Provider, e Event) Delivery {
	t.Helper()
	ds := Send(t.Context(), []Provider{p}, e, fastOpts())
	if len(ds) != 1 {
		t.Fatalf("Send returned %d deliveries, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body is not the expected JSON: %v\n%s", err, b)
	}
	return v
}

func TestGenericAndHMAC(t *testing.T) {
	rcv := newReceiver(t)
	key := "hmac-key-S3CRET"
	for _, typ := range []string{"generic", "generic-hmac"} {
		d := sendOne(t, Provider{Type: typ, Address: rcv.URL + "/hook", Token: key, Headers: map[string]string{"X-Team": "ops"}}, testEvent(ReasonChanged))
		if d.Result != Sent || d.Attempts != 1 {
			t.Fatalf("%s: delivery %+v", typ, d)
		}
	}
	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	for i, r := range got {
		if r.Method != http.MethodPost || r.Path != "/hook" || r.Header.Get("X-Team") != "ops" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: %s %s %v", i, r.Method, r.Path, r.Header)
		}
		p := decode[map[string]any](t, r.Body)
		want := map[string]any{
			"involvedObject":      map[string]any{"apiVersion": "gitsync.io/v1alpha1", "kind": "Sync", "namespace": "apps", "name": "web"},
			"severity":            "info",
			"timestamp":           "2026-12-05T12:00:00Z",
			"message":             testEvent("").Message,
			"reason":              "Changed",
			"metadata":            map[string]any{"revision": "main@sha1:" + sha, "summary": "prod-eu", "env": "prod"},
			"reportingController": "gitsync",
			"counts":              map[string]any{"configured": float64(1), "unchanged": float64(2)},
			"changed":             []any{"apps/Deployment/web"},
		}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("request %d payload (-want +got):\n%s", i, diff)
		}
	}
	if s := got[0].Header.Get(SignatureHeader); s != "" {
		t.Errorf("generic sent a signature %q", s)
	}
	// The receiver's own check, written without Sign.
	m := hmac.New(sha256.New, []byte(key))
	m.Write(got[1].Body)
	if want, s := "sha256="+hex.EncodeToString(m.Sum(nil)), got[1].Header.Get(SignatureHeader); s != want {
		t.Errorf("generic-hmac signature %q, want %q", s, want)
	}
	if strings.Contains(string(got[1].Body), key) {
		t.Error("the HMAC key is in the body")
	}
	d := sendOne(t, Provider{Type: "generic-hmac", Address: rcv.URL}, testEvent(ReasonChanged))
	if d.Result != Failed || !strings.Contains(d.Error, "token") {
		t.Errorf("generic-hmac without a key: %+v", d)
	}
}

func TestChatProviders(t *testing.T) {
	rcv := newReceiver(t)
	for _, typ := range []string{"slack", "discord", "googlechat", "msteams"} {
		p := Provider{Type: typ, Address: rcv.URL + "/" + typ, Channel: "#deploys", Username: "gitsync"}
		if d := sendOne(t, p, testEvent(ReasonFailed)); d.Result != Sent {
			t.Fatalf("%s: %+v", typ, d)
		}
	}
	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	title := "gitsync apps/web failed"
	msg := testEvent("").Message

	s := decode[SlackPayload](t, got[0].Body)
	if s.Channel != "#deploys" || s.Username != "gitsync" || s.Text != title || len(s.Attachments) != 1 {
		t.Errorf("slack: %+v", s)
	} else if a := s.Attachments[0]; a.Color != "danger" || a.AuthorName != "Sync/apps/web" || a.Text != msg ||
		!cmp.Equal(a.Fields[0], SlackField{Title: "revision", Value: "main@sha1:" + sha}) {
		t.Errorf("slack attachment: %+v", a)
	}

	d := decode[DiscordPayload](t, got[1].Body)
	if len(d.Embeds) != 1 || d.Embeds[0].Title != title || d.Embeds[0].Color != 0xd40e0d || d.Embeds[0].Description != msg ||
		d.Embeds[0].Fields[0] != (DiscordField{Name: "revision", Value: "main@sha1:" + sha}) {
		t.Errorf("discord: %+v", d)
	}

	g := decode[map[string]any](t, got[2].Body)
	card := g["cardsV2"].([]any)[0].(map[string]any)["card"].(map[string]any)
	if g["text"] != title || card["header"].(map[string]any)["subtitle"] != "Sync/apps/web" ||
		!strings.Contains(string(got[2].Body), `"textParagraph":{"text":"`+msg) {
		t.Errorf("googlechat: %s", got[2].Body)
	}

	m := decode[TeamsPayload](t, got[3].Body)
	if m.Type != "message" || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("msteams: %s", got[3].Body)
	}
	c := m.Attachments[0].Content
	if c.Type != "AdaptiveCard" || c.Body[0]["text"] != title || c.Body[0]["color"] != "attention" || c.Body[1]["text"] != msg || c.Body[2]["type"] != "FactSet" {
		t.Errorf("msteams card: %+v", c)
	}

	// A Slack app token is sent as a bearer token.
	if d := sendOne(t, Provider{Type: "slack", Address: rcv.URL, Token: "xoxb-1"}, testEvent(ReasonChanged)); d.Result != Sent {
		t.Fatal(d)
	}
	if a := rcv.requests()[4].Header.Get("Authorization"); a != "Bearer xoxb-1" {
		t.Errorf("slack token: Authorization %q", a)
	}
}

func TestAlertmanager(t *testing.T) {
	rcv := newReceiver(t)
	p := Provider{Type: "alertmanager", Address: rcv.URL + "/api/v2/alerts"}
	for _, r := range []string{ReasonFailed, ReasonRecovered} {
		if d := sendOne(t, p, testEvent(r)); d.Result != Sent {
			t.Fatal(d)
		}
	}
	got := rcv.requests()
	fired, resolved := decode[[]Alert](t, got[0].Body), decode[[]Alert](t, got[1].Body)
	wantLabels := map[string]string{"alertname": "GitsyncSyncFailed", "severity": "error", "sync": "web", "namespace": "apps", "env": "prod"}
	if got[0].Path != "/api/v2/alerts" || len(fired) != 1 || !cmp.Equal(fired[0].Labels, wantLabels) || fired[0].EndsAt != nil ||
		fired[0].Annotations["message"] != testEvent("").Message || fired[0].Annotations["summary"] != "prod-eu" {
		t.Errorf("fired: %s", got[0].Body)
	}
	// The recovery resolves the same alert.
	if len(resolved) != 1 || !cmp.Equal(resolved[0].Labels, wantLabels) || resolved[0].EndsAt == nil || !resolved[0].EndsAt.Equal(testEvent("").Time) {
		t.Errorf("resolved: %s", got[1].Body)
	}
}

// TestCommitStatus checks each forge's commit status request against a
// server that records it (no forge builds here): the endpoint, the
// authentication and the body its API documents.
func TestCommitStatus(t *testing.T) {
	rcv := newReceiver(t)
	for _, tc := range []struct {
		typ, token, path, auth string
		want                   map[string]string
	}{
		{"github", "ghp_T", "/api/v3/repos/org/app/statuses/" + sha, "Bearer ghp_T",
			map[string]string{"state": "failure", "context": "gitsync/apps/web"}},
		{"gitlab", "glpat_T", "/api/v4/projects/org%2Fapp/statuses/" + sha, "",
			map[string]string{"state": "failed", "name": "gitsync/apps/web"}},
		{"gitea", "gt_T", "/api/v1/repos/org/app/statuses/" + sha, "token gt_T",
			map[string]string{"state": "failure", "context": "gitsync/apps/web"}},
		{"bitbucket", "bob:app_T", "/2.0/repositories/org/app/commit/" + sha + "/statuses/build",
			"Basic " + base64.StdEncoding.EncodeToString([]byte("bob:app_T")),
			map[string]string{"state": "FAILED", "key": "gitsync/apps/web", "name": "gitsync/apps/web", "url": rcv.URL + "/org/app"}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			n := len(rcv.requests())
			d := sendOne(t, Provider{Type: tc.typ, Address: rcv.URL + "/org/app.git", Token: tc.token}, testEvent(ReasonFailed))
			if d.Result != Sent {
				t.Fatal(d)
			}
			r := rcv.requests()[n]
			if r.Path != tc.path {
				t.Errorf("path %s, want %s", r.Path, tc.path)
			}
			if tc.auth != "" && r.Header.Get("Authorization") != tc.auth {
				t.Errorf("Authorization %q, want %q", r.Header.Get("Authorization"), tc.auth)
			}
			if tc.typ == "gitlab" && r.Header.Get("Private-Token") != tc.token {
				t.Errorf("PRIVATE-TOKEN %q", r.Header.Get("Private-Token"))
			}
			body := decode[map[string]string](t, r.Body)
			for k, v := range tc.want {
				if body[k] != v {
					t.Errorf("%s = %q, want %q (body %s)", k, body[k], v, r.Body)
				}
			}
			if body["description"] == "" || len(body["description"]) > 140 {
				t.Errorf("description %q", body["description"])
			}
		})
	}
	// Bitbucket Server: the clone URL under a context path, a bearer
	// token or USER:PASSWORD.
	for _, tc := range []struct{ token, auth string }{{"bbs_T", "Bearer bbs_T"},
		{"bob:pw", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:pw"))}} {
		n := len(rcv.requests())
		p := Provider{Type: "bitbucketserver", Address: rcv.URL + "/bitbucket/scm/PROJ/app.git", Token: tc.token}
		if d := sendOne(t, p, testEvent(ReasonFailed)); d.Result != Sent {
			t.Fatal(d)
		}
		r := rcv.requests()[n]
		body := decode[map[string]string](t, r.Body)
		if r.Path != "/bitbucket/rest/api/latest/projects/PROJ/repos/app/commits/"+sha+"/builds" || r.Header.Get("Authorization") != tc.auth ||
			body["state"] != "FAILED" || body["key"] != "gitsync/apps/web" {
			t.Errorf("bitbucketserver: %s %v %s", r.Path, r.Header, r.Body)
		}
	}
	if d := sendOne(t, Provider{Type: "bitbucketserver", Address: rcv.URL + "/org/app.git", Token: "T"}, testEvent(ReasonFailed)); d.Result != Failed {
		t.Errorf("bitbucketserver without /scm/: %+v", d)
	}
	// Success on a change; nothing to set for a revision that is no commit.
	if d := sendOne(t, Provider{Type: "github", Address: rcv.URL + "/org/app", Token: "T"}, testEvent(ReasonChanged)); d.Result != Sent {
		t.Fatal(d)
	}
	if body := decode[map[string]string](t, rcv.requests()[len(rcv.requests())-1].Body); body["state"] != "success" {
		t.Errorf("github on change: %v", body)
	}
	e := testEvent(ReasonChanged)
	e.Revision = "1.2.3@sha256:" + strings.Repeat("a", 64)
	n := len(rcv.requests())
	if d := sendOne(t, Provider{Type: "gitea", Address: rcv.URL + "/org/app", Token: "T"}, e); d.Result != Skipped {
		t.Errorf("OCI revision: %+v", d)
	}
	if len(rcv.requests()) != n {
		t.Error("a status was sent for a revision that is not a commit")
	}
}

// TestChangeOnly runs the sequence change, no change, failure, failure,
// recovery through Classify and Send to a receiver with the default events:
// exactly Changed, Failed and Recovered arrive.
func TestChangeOnly(t *testing.T) {
	rcv := newReceiver(t)
	p := []Provider{{Type: "generic", Address: rcv.URL}}
	rev1, rev2 := "main@sha1:"+strings.Repeat("1", 40), "main@sha1:"+strings.Repeat("2", 40)
	type run struct {
		failed  bool
		rev     string
		changed int
	}
	prev := Previous{Result: "Succeeded", Revision: rev1, AppliedRevision: rev1}
	var reasons []string
	for _, r := range []run{{false, rev2, 3}, {false, rev2, 0}, {true, rev2, 0}, {true, rev2, 0}, {false, rev2, 0}} {
		reason := Classify(prev, r.failed, r.rev, r.changed)
		reasons = append(reasons, reason)
		Send(t.Context(), p, Event{Sync: "web", Namespace: "apps", Reason: reason, Revision: r.rev}, fastOpts())
		prev.Result, prev.Revision = map[bool]string{false: "Succeeded", true: "Failed"}[r.failed], r.rev
		if !r.failed {
			prev.AppliedRevision = r.rev
		}
	}
	if diff := cmp.Diff([]string{"Changed", "Succeeded", "Failed", "", "Recovered"}, reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	var sent []string
	for _, r := range rcv.requests() {
		sent = append(sent, decode[GenericPayload](t, r.Body).Reason)
	}
	if diff := cmp.Diff([]string{"Changed", "Failed", "Recovered"}, sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	// A failure at a new revision is news even after a failure.
	if r := Classify(Previous{Result: "Failed", Revision: rev1}, true, rev2, 0); r != ReasonFailed {
		t.Errorf("failure at a new revision: %q", r)
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		p      Provider
		reason string
		want   bool
	}{
		{Provider{}, ReasonChanged, true},
		{Provider{}, ReasonSucceeded, false},
		{Provider{}, "", false},
		{Provider{Events: []string{"Succeeded"}}, ReasonRecovered, true},
		{Provider{Events: []string{"Succeeded"}}, ReasonFailed, false},
		{Provider{Events: []string{"Failed"}}, ReasonChanged, false},
		{Provider{EventSeverity: "error"}, ReasonRecovered, false},
		{Provider{EventSeverity: "error"}, ReasonFailed, true},
	} {
		if got := tc.p.Wants(tc.reason); got != tc.want {
			t.Errorf("%+v.Wants(%q) = %v, want %v", tc.p, tc.reason, got, tc.want)
		}
	}
}

// TestRetries: a 503 is sent again, a 400 is not, and the error names the
// status, not the receiver's answer.
func TestRetries(t *testing.T) {
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	if d := sendOne(t, Provider{Type: "generic", Address: rcv.URL}, testEvent(ReasonChanged)); d.Result != Sent || d.Attempts != 3 {
		t.Errorf("after 503 and 429: %+v", d)
	}
	rcv = newReceiver(t, http.StatusBadRequest)
	d := sendOne(t, Provider{Type: "generic", Address: rcv.URL}, testEvent(ReasonChanged))
	if d.Result != Failed || d.Attempts != 1 || !strings.Contains(d.Error, "400 Bad Request") {
		t.Errorf("after 400: %+v", d)
	}
}

// TestHangingReceiver: a receiver that never answers holds Send no longer
// than the provider's timeout, and the other providers are still served.
func TestHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	ok := newReceiver(t)
	start := time.Now()
	ds := Send(t.Context(), []Provider{
		{Name: "hung", Type: "generic", Address: hang.URL + "/services/T0/B0/S3CRETPATH", Timeout: 300 * time.Millisecond},
		{Name: "ok", Type: "slack", Address: ok.URL},
	}, testEvent(ReasonFailed), fastOpts())
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Send took %s with a 300ms timeout", el)
	}
	if len(ds) != 2 || ds[0].Result != Failed || ds[1].Result != Sent || ds[0].Provider != "hung" {
		t.Fatalf("deliveries %+v", ds)
	}
	if strings.Contains(ds[0].Error, "S3CRETPATH") || strings.Contains(ds[0].Error, hang.URL) {
		t.Errorf("the error quotes the address: %s", ds[0].Error)
	}
}

// TestNoSecretInDeliveries: whatever goes wrong, a Delivery names neither
// the webhook's URL (whose path is its secret) nor the token.
func TestNoSecretInDeliveries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	// Each provider that reaches the receiver gets 500 three times.
	failing := newReceiver(t, slices.Repeat([]int{500}, 5*3)...)
	for name, p := range map[string]Provider{
		"refused":           {Type: "slack", Address: closed + "/services/S3CRETPATH", Token: "xoxb-S3CRET"},
		"500":               {Type: "github", Address: failing.URL + "/org/S3CRETPATH", Token: "ghp_S3CRET"},
		"not a URL":         {Type: "generic", Address: "hooks.example.com/S3CRETPATH"},
		"bad control":       {Type: "generic", Address: "http://h/\x7fS3CRET"},
		"missing":           {Type: "generic", Err: io.ErrUnexpectedEOF},
		"lark refused":      {Type: "lark", Address: closed + "/open-apis/bot/v2/hook/S3CRETPATH"},
		"lark 500":          {Type: "lark", Address: failing.URL + "/open-apis/bot/v2/hook/S3CRETPATH"},
		"webex 500":         {Type: "webex", Address: failing.URL + "/v1/messages", Channel: "room", Token: "webex-S3CRET"},
		"webex no channel":  {Type: "webex", Address: failing.URL, Token: "webex-S3CRET"},
		"datadog refused":   {Type: "datadog", Address: closed, Token: "dd-S3CRET"},
		"datadog 500":       {Type: "datadog", Address: failing.URL, Token: "dd-S3CRET"},
		"azuredevops 500":   {Type: "azuredevops", Address: failing.URL + "/org/proj/_git/S3CRETPATH", Token: "ado-S3CRET"},
		"azuredevops a URL": {Type: "azuredevops", Address: failing.URL + "/S3CRETPATH", Token: "ado-S3CRET"},
	} {
		d := sendOne(t, p, testEvent(ReasonFailed))
		b, _ := json.Marshal(d)
		if d.Result != Failed || d.Error == "" || strings.Contains(string(b), "S3CRET") {
			t.Errorf("%s: %s", name, b)
		}
	}
}

func TestSendRespectsContext(t *testing.T) {
	rcv := newReceiver(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := Send(ctx, []Provider{{Type: "generic", Address: rcv.URL}}, testEvent(ReasonChanged), fastOpts())
	if len(d) != 1 || d[0].Result != Failed || len(rcv.requests()) != 0 {
		t.Errorf("cancelled: %+v", d)
	}
}

func TestCommit(t *testing.T) {
	for rev, want := range map[string]string{
		"main@sha1:" + sha:         sha,
		"sha1:" + sha:              sha,
		sha:                        sha,
		"v1@sha256:" + sha + sha:   "",
		"refs/tags/v1@sha1:" + sha: sha,
		"main@sha1:" + sha[:39]:    "",
		"":                         "",
	} {
		if got := Commit(rev); got != want {
			t.Errorf("Commit(%q) = %q, want %q", rev, got, want)
		}
	}
}

// TestSelfHostedChat: rocket posts Slack's format; matrix puts an m.text
// message into the room with the access token, the transaction ID the
// message's digest (a retry is the same transaction); ntfy publishes to the
// topic with the token. matrix and ntfy without a room or topic fail.
func TestSelfHostedChat(t *testing.T) {
	rcv := newReceiver(t, http.StatusBadGateway)
	for _, p := range []Provider{
		{Type: "rocket", Address: rcv.URL + "/hooks/abc", Channel: "#deploys"},
		{Type: "matrix", Address: rcv.URL + "/", Channel: "!room:example.org", Token: "syt_secret"},
		{Type: "ntfy", Address: rcv.URL, Channel: "deploys", Token: "tk_secret"},
	} {
		if d := sendOne(t, p, testEvent(ReasonFailed)); d.Result != Sent {
			t.Fatalf("%s: %+v", p.Type, d)
		}
	}
	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4 (the first answered 502 and was retried)", len(got))
	}
	if s := decode[SlackPayload](t, got[1].Body); got[1].Path != "/hooks/abc" || s.Channel != "#deploys" || s.Text != "gitsync apps/web failed" {
		t.Errorf("rocket: %s %s", got[1].Path, got[1].Body)
	}
	m := got[2]
	sum := sha1Hex(m.Body)
	if m.Method != http.MethodPut || m.Path != "/_matrix/client/r0/rooms/%21room:example.org/send/m.room.message/"+sum ||
		m.Header.Get("Authorization") != "Bearer syt_secret" {
		t.Errorf("matrix: %s %s %v", m.Method, m.Path, m.Header)
	}
	if mp := decode[MatrixPayload](t, m.Body); mp.MsgType != "m.text" || !strings.HasPrefix(mp.Body, "gitsync apps/web failed\n"+testEvent("").Message+"\n- revision: main@sha1:") {
		t.Errorf("matrix body: %q", mp.Body)
	}
	n := decode[NtfyPayload](t, got[3].Body)
	if n.Topic != "deploys" || n.Title != "gitsync apps/web failed" || !strings.HasPrefix(n.Message, testEvent("").Message) ||
		len(n.Tags) != 1 || n.Tags[0] != "rotating_light" || got[3].Header.Get("Authorization") != "Bearer tk_secret" {
		t.Errorf("ntfy: %s %v", got[3].Body, got[3].Header)
	}
	for _, p := range []Provider{{Type: "matrix", Address: rcv.URL, Token: "t"}, {Type: "ntfy", Address: rcv.URL}} {
		if d := sendOne(t, p, testEvent(ReasonFailed)); d.Result != Failed || !strings.Contains(d.Error, "needs channel") {
			t.Errorf("%s without a channel: %+v", p.Type, d)
		}
	}
}

// TestGrafana: an annotation in Grafana's Graphite format, tagged so that
// a dashboard finds the sync's, with the token as a bearer token.
func TestGrafana(t *testing.T) {
	rcv := newReceiver(t)
	p := Provider{Type: "grafana", Address: rcv.URL + "/api/annotations/graphite", Token: "glsa_secret"}
	if d := sendOne(t, p, testEvent(ReasonChanged)); d.Result != Sent {
		t.Fatal(d)
	}
	got := rcv.requests()[0]
	a := decode[GrafanaPayload](t, got.Body)
	if got.Path != "/api/annotations/graphite" || got.Header.Get("Authorization") != "Bearer glsa_secret" ||
		a.When != testEvent("").Time.Unix() || !strings.HasPrefix(a.Text, "gitsync apps/web applied changes: revision main@sha1:") {
		t.Errorf("grafana: %s %v %s", got.Path, got.Header, got.Body)
	}
	for _, want := range []string{"gitsync", "changed", "sync: web", "namespace: apps", "revision: main@sha1|" + sha, "env: prod"} {
		if !slices.Contains(a.Tags, want) {
			t.Errorf("grafana tags %q lack %q", a.Tags, want)
		}
	}
}

// TestGitHubDispatch: a repository_dispatch event on the repository's
// API (GitHub Enterprise's /api/v3 here), event_type naming the sync or
// the Flux unit, client_payload the generic JSON; without a token it fails.
func TestGitHubDispatch(t *testing.T) {
	rcv := newReceiver(t)
	p := Provider{Type: "githubdispatch", Address: rcv.URL + "/org/fleet", Token: "ghp_secret"}
	e := testEvent(ReasonFailed)
	if d := sendOne(t, p, e); d.Result != Sent {
		t.Fatal(d)
	}
	e.Involved = &ObjectReference{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: "flux-system", Name: "apps"}
	if d := sendOne(t, p, e); d.Result != Sent {
		t.Fatal(d)
	}
	got := rcv.requests()
	for i, want := range []string{"Sync/web.apps", "Kustomization/apps.flux-system"} {
		d := decode[DispatchPayload](t, got[i].Body)
		if got[i].Method != http.MethodPost || got[i].Path != "/api/v3/repos/org/fleet/dispatches" || got[i].Header.Get("Authorization") != "Bearer ghp_secret" ||
			d.EventType != want || d.ClientPayload.Reason != ReasonFailed || d.ClientPayload.Message != e.Message {
			t.Errorf("dispatch %d: %s %s %s", i, got[i].Method, got[i].Path, got[i].Body)
		}
	}
	if d := sendOne(t, Provider{Type: "githubdispatch", Address: rcv.URL + "/org/fleet"}, e); d.Result != Failed {
		t.Errorf("without a token: %+v", d)
	}
}

// TestTelegram: the Bot API's sendMessage with the bot's token in the
// path and the chat ID; a failure names the provider, never the URL, which
// holds the token.
func TestTelegram(t *testing.T) {
	rcv := newReceiver(t, http.StatusUnauthorized)
	p := Provider{Type: "telegram", Address: rcv.URL, Channel: "-100123", Token: "123456:AAE-secret"}
	d := sendOne(t, p, testEvent(ReasonFailed))
	if d.Result != Failed || strings.Contains(d.Error, "AAE-secret") {
		t.Errorf("a refused token: %+v", d)
	}
	if d := sendOne(t, p, testEvent(ReasonFailed)); d.Result != Sent {
		t.Fatal(d)
	}
	got := rcv.requests()[1]
	m := decode[TelegramPayload](t, got.Body)
	if got.Path != "/bot123456:AAE-secret/sendMessage" || m.ChatID != "-100123" || !strings.HasPrefix(m.Text, "gitsync apps/web failed\n") {
		t.Errorf("telegram: %s %s", got.Path, got.Body)
	}
}

// TestIncidentTools: opsgenie creates an alert with the API key; a failure
// triggers a PagerDuty incident deduplicated by the sync, a recovery
// resolves it and is also a change event.
func TestIncidentTools(t *testing.T) {
	rcv := newReceiver(t)
	og := Provider{Type: "opsgenie", Address: rcv.URL + "/v2/alerts", Token: "og-secret"}
	pd := Provider{Type: "pagerduty", Address: rcv.URL, Channel: "routing-key"}
	for _, c := range []struct {
		p      Provider
		reason string
	}{{og, ReasonFailed}, {pd, ReasonFailed}, {pd, ReasonRecovered}} {
		if d := sendOne(t, c.p, testEvent(c.reason)); d.Result != Sent {
			t.Fatalf("%s %s: %+v", c.p.Type, c.reason, d)
		}
	}
	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(got))
	}
	o := decode[OpsgeniePayload](t, got[0].Body)
	if got[0].Header.Get("Authorization") != "GenieKey og-secret" || o.Message != "Sync/apps/web" || o.Details["severity"] != SeverityError || o.Details["env"] != "prod" {
		t.Errorf("opsgenie: %v %s", got[0].Header, got[0].Body)
	}
	trig := decode[PagerDutyEvent](t, got[1].Body)
	if got[1].Path != "/v2/enqueue" || trig.EventAction != "trigger" || trig.RoutingKey != "routing-key" || trig.DedupKey != "Sync/apps/web" ||
		trig.Payload == nil || trig.Payload.Severity != "error" {
		t.Errorf("pagerduty trigger: %s %s", got[1].Path, got[1].Body)
	}
	res := decode[PagerDutyEvent](t, got[2].Body)
	change := decode[PagerDutyChange](t, got[3].Body)
	if res.EventAction != "resolve" || res.DedupKey != "Sync/apps/web" || res.Payload != nil ||
		got[3].Path != "/v2/change/enqueue" || change.Payload.Severity != "info" || change.RoutingKey != "routing-key" {
		t.Errorf("pagerduty recovery: %s %s; %s %s", got[2].Path, got[2].Body, got[3].Path, got[3].Body)
	}
	if d := sendOne(t, Provider{Type: "opsgenie", Address: rcv.URL}, testEvent(ReasonFailed)); d.Result != Failed {
		t.Errorf("opsgenie without a key: %+v", d)
	}
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b) //nolint:gosec // the matrix provider's transaction ID
	return hex.EncodeToString(s[:])
}
