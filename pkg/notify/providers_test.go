package notify

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// publicAPI stands in for a receiver's public API (Webex, Datadog): it
// records the URL each request was for and sends the request to rcv.
type publicAPI struct {
	rcv  *receiver
	mu   sync.Mutex
	urls []string
}

func (a *publicAPI) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.urls = append(a.urls, req.URL.String())
	a.mu.Unlock()
	to, err := url.Parse(a.rcv.URL)
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = to.Scheme, to.Host, ""
	return http.DefaultTransport.RoundTrip(req)
}

// sendToDefault sends e to p, whose address is unset, through a publicAPI
// standing in for the default address, and returns the URL asked for. The
// caller's provider keeps its empty address.
func sendToDefault(t *testing.T, p Provider, e Event) string {
	t.Helper()
	api := &publicAPI{rcv: newReceiver(t)}
	providers := []Provider{p}
	ds := Send(t.Context(), providers, e, Options{Client: &http.Client{Transport: api}, Backoff: 10 * time.Millisecond})
	if len(ds) != 1 || ds[0].Result != Sent {
		t.Fatalf("%s without an address: %+v", p.Type, ds)
	}
	if providers[0].Address != "" {
		t.Errorf("%s: Send set the caller's address to the default", p.Type)
	}
	if len(api.urls) != 1 || len(api.rcv.requests()) != 1 {
		t.Fatalf("%s without an address: %d requests (%q), want 1", p.Type, len(api.rcv.requests()), api.urls)
	}
	return api.urls[0]
}

// facts are testEvent's facts as the chat providers list them.
const facts = "revision: main@sha1:" + sha + "\nsummary: prod-eu\nenv: prod\nobjects: 1 configured, 2 unchanged\n"

// TestLark: an interactive card posted to the bot's webhook, its header
// red on a failure and turquoise otherwise, one lark_md block with the
// object, the message and the facts.
func TestLark(t *testing.T) {
	rcv := newReceiver(t)
	p := Provider{Type: "lark", Address: rcv.URL + "/open-apis/bot/v2/hook/abc"}
	for _, r := range []string{ReasonFailed, ReasonChanged} {
		if d := sendOne(t, p, testEvent(r)); d.Result != Sent || d.Attempts != 1 {
			t.Fatalf("lark %s: %+v", r, d)
		}
	}
	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	for i, want := range []struct{ title, color string }{
		{"gitsync apps/web failed", "red"}, {"gitsync apps/web applied changes", "turquoise"},
	} {
		r := got[i]
		if r.Method != http.MethodPost || r.Path != "/open-apis/bot/v2/hook/abc" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Authorization") != "" {
			t.Errorf("lark %d: %s %s %v", i, r.Method, r.Path, r.Header)
		}
		body := decode[map[string]any](t, r.Body)
		wantBody := map[string]any{
			"msg_type": "interactive",
			"card": map[string]any{
				"config": map[string]any{"wide_screen_mode": true},
				"header": map[string]any{"title": map[string]any{"tag": "plain_text", "content": want.title}, "template": want.color},
				"elements": []any{map[string]any{"tag": "div", "text": map[string]any{
					"tag": "lark_md", "content": "**Sync/apps/web**\n" + testEvent("").Message + "\n\n" + facts,
				}}},
			},
		}
		if diff := cmp.Diff(wantBody, body); diff != "" {
			t.Errorf("lark %d body (-want +got):\n%s", i, diff)
		}
	}
}

// TestWebex: a markdown message to the room channel, with the bot's token
// as a bearer token, at the Webex API unless an address is set; without a
// room or a token it fails, naming what is missing.
func TestWebex(t *testing.T) {
	rcv := newReceiver(t)
	p := Provider{Type: "webex", Address: rcv.URL + "/v1/messages", Channel: "Y2lzY29zcGFyazovL3Vz", Token: "webex-S3CRET"}
	if d := sendOne(t, p, testEvent(ReasonFailed)); d.Result != Sent {
		t.Fatal(d)
	}
	r := rcv.requests()[0]
	if r.Method != http.MethodPost || r.Path != "/v1/messages" || r.Header.Get("Authorization") != "Bearer webex-S3CRET" {
		t.Errorf("webex: %s %s %v", r.Method, r.Path, r.Header)
	}
	want := map[string]any{
		"roomId": "Y2lzY29zcGFyazovL3Vz",
		"markdown": "**gitsync apps/web failed** (Sync/apps/web)\n\n" + testEvent("").Message + "\n\n" +
			"- **revision**: main@sha1:" + sha + "\n- **summary**: prod-eu\n- **env**: prod\n- **objects**: 1 configured, 2 unchanged\n",
	}
	if diff := cmp.Diff(want, decode[map[string]any](t, r.Body)); diff != "" {
		t.Errorf("webex body (-want +got):\n%s", diff)
	}

	p.Address = ""
	if u := sendToDefault(t, p, testEvent(ReasonFailed)); u != "https://webexapis.com/v1/messages" {
		t.Errorf("webex without an address posted to %s", u)
	}

	for _, tc := range []struct {
		p    Provider
		want string
	}{
		{Provider{Type: "webex", Address: rcv.URL, Token: "t"}, "webex needs channel (the room ID)"},
		{Provider{Type: "webex", Address: rcv.URL, Channel: "room"}, "no token: the provider's Secret must hold the Webex bot's access token under key token"},
	} {
		if d := sendOne(t, tc.p, testEvent(ReasonFailed)); d.Result != Failed || d.Error != tc.want {
			t.Errorf("webex %+v: %+v, want Failed with %q", tc.p, d, tc.want)
		}
	}
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("the receiver got %d requests, want 1: an incomplete provider sent", n)
	}
}

// TestDatadog: an event on the Events API of the address's host, the API
// key in DD-API-KEY, the tags Flux's, lowercased; the default address is
// Datadog's US1 site; without an API key it fails.
func TestDatadog(t *testing.T) {
	rcv := newReceiver(t)
	p := Provider{Type: "datadog", Address: rcv.URL + "/not/used", Token: "dd-S3CRET"}
	e := testEvent(ReasonFailed)
	e.Metadata = map[string]string{"Cluster": "EU-1"}
	if d := sendOne(t, p, e); d.Result != Sent {
		t.Fatal(d)
	}
	unit := testEvent(ReasonChanged)
	unit.Involved = &ObjectReference{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: "apps", Name: "front"}
	if d := sendOne(t, p, unit); d.Result != Sent {
		t.Fatal(d)
	}
	got := rcv.requests()
	for _, r := range got {
		if r.Method != http.MethodPost || r.Path != "/api/v1/events" || r.Header.Get("DD-API-KEY") != "dd-S3CRET" || r.Header.Get("Authorization") != "" {
			t.Errorf("datadog: %s %s %v", r.Method, r.Path, r.Header)
		}
	}
	want := map[string]any{
		"title": "Events from the Sync web/apps",
		"text":  e.Message,
		"tags": []any{"flux_reporting_controller:gitsync", "flux_reason:failed", "kube_kind:sync", "kube_name:web",
			"kube_namespace:apps", "cluster:eu-1", "revision:main@sha1:" + sha, "summary:prod-eu"},
		"source_type_name": "fluxcd",
		"date_happened":    float64(e.Time.Unix()),
		"alert_type":       "error",
	}
	if diff := cmp.Diff(want, decode[map[string]any](t, got[0].Body)); diff != "" {
		t.Errorf("datadog body (-want +got):\n%s", diff)
	}
	ev := decode[map[string]any](t, got[1].Body)
	wantTags := []any{"flux_reporting_controller:gitsync", "flux_reason:changed", "kube_kind:kustomization", "kube_name:front",
		"kube_namespace:apps", "env:prod", "revision:main@sha1:" + sha, "summary:prod-eu"}
	if ev["title"] != "Events from the Kustomization front/apps" || ev["alert_type"] != "info" || !cmp.Equal(ev["tags"], wantTags) {
		t.Errorf("datadog event of a unit: %s", got[1].Body)
	}

	p.Address = ""
	if u := sendToDefault(t, p, e); u != "https://api.datadoghq.com/api/v1/events" {
		t.Errorf("datadog without an address posted to %s", u)
	}
	d := sendOne(t, Provider{Type: "datadog", Address: rcv.URL}, e)
	if d.Result != Failed || d.Error != "no token: the provider's Secret must hold the Datadog API key under key token" {
		t.Errorf("datadog without an API key: %+v", d)
	}
}

// TestAzureDevOps: a commit status on the repository's statuses API, with
// the personal access token as basic authentication with an empty user:
// state error or succeeded, genre gitsync (gitsync:SUMMARY), name the
// sync (or unit) so that GENRE/NAME reads as the other forges' context.
func TestAzureDevOps(t *testing.T) {
	if !IsCommitStatus("azuredevops") {
		t.Error("azuredevops is not a commit status type")
	}
	rcv := newReceiver(t)
	token := "ado-S3CRET"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+token))
	failed := testEvent(ReasonFailed)
	changed := testEvent(ReasonChanged)
	changed.Summary = ""
	unit := testEvent(ReasonFailed)
	unit.Involved = &ObjectReference{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: "apps", Name: "front"}
	for _, tc := range []struct {
		name, address, path string
		e                   Event
		want                map[string]any
	}{
		{"failure", "/org/My%20Project/_git/app", "/org/My%20Project/_apis/git/repositories/app/commits/" + sha + "/statuses", failed,
			map[string]any{"state": "error", "description": failed.Message,
				"context": map[string]any{"genre": "gitsync:prod-eu", "name": "apps/web"}}},
		{"success, no summary", "/org/proj/_git/app", "/org/proj/_apis/git/repositories/app/commits/" + sha + "/statuses", changed,
			map[string]any{"state": "succeeded", "description": "applied main@sha1:" + sha,
				"context": map[string]any{"genre": "gitsync", "name": "apps/web"}}},
		{"unit", "/org/proj/_git/app", "/org/proj/_apis/git/repositories/app/commits/" + sha + "/statuses", unit,
			map[string]any{"state": "error", "description": unit.Message,
				"context": map[string]any{"genre": "gitsync:prod-eu", "name": "apps/web/kustomization/front"}}},
		{"organization in the host", "/proj/_git/app", "/proj/_apis/git/repositories/app/commits/" + sha + "/statuses", failed,
			map[string]any{"state": "error", "description": failed.Message,
				"context": map[string]any{"genre": "gitsync:prod-eu", "name": "apps/web"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(rcv.requests())
			if d := sendOne(t, Provider{Type: "azuredevops", Address: rcv.URL + tc.address, Token: token}, tc.e); d.Result != Sent {
				t.Fatal(d)
			}
			r := rcv.requests()[n]
			if r.Method != http.MethodPost || r.Path != tc.path || r.Query != "api-version=6.0" || r.Header.Get("Authorization") != basic {
				t.Errorf("%s %s?%s %v, want POST %s?api-version=6.0 with %q", r.Method, r.Path, r.Query, r.Header, tc.path, basic)
			}
			if diff := cmp.Diff(tc.want, decode[map[string]any](t, r.Body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}

	n := len(rcv.requests())
	for _, tc := range []struct {
		p      Provider
		e      Event
		result string
		err    string
	}{
		{Provider{Type: "azuredevops", Address: rcv.URL + "/org/proj/app", Token: token}, failed, Failed,
			"the address must be the repository's URL: https://dev.azure.com/ORG/PROJECT/_git/REPO"},
		{Provider{Type: "azuredevops", Address: rcv.URL + "/org/proj/_git/app"}, failed, Failed,
			"no token: the provider's Secret must hold the forge's API token under key token"},
		{Provider{Type: "azuredevops", Address: rcv.URL + "/org/proj/_git/app", Token: token},
			Event{Sync: "web", Namespace: "apps", Reason: ReasonChanged, Revision: "1.2.3@sha256:" + strings.Repeat("a", 64)}, Skipped,
			"the revision is not a Git commit"},
	} {
		if d := sendOne(t, tc.p, tc.e); d.Result != tc.result || d.Error != tc.err {
			t.Errorf("%s: %+v, want %s with %q", tc.p.Address, d, tc.result, tc.err)
		}
	}
	if len(rcv.requests()) != n {
		t.Error("a status was sent by an incomplete provider or for a revision that is not a commit")
	}
}
