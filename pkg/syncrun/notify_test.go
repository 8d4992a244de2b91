package syncrun

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/notify"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// hookReceiver is a real webhook receiver: it keeps the generic payloads
// it gets, checking each one's HMAC signature with key, its secret path
// and, when given, one header ("Name=value").
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []notify.GenericPayload
	bad      []string
}

func newHookReceiver(t *testing.T, key string, header ...string) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p notify.GenericPayload
		err := json.Unmarshal(b, &p)
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case err != nil:
			h.bad = append(h.bad, "not JSON: "+string(b))
		case r.Header.Get(notify.SignatureHeader) != notify.Sign(b, key):
			h.bad = append(h.bad, "bad signature "+r.Header.Get(notify.SignatureHeader))
		case r.URL.Path != "/hooks/S3CRETPATH":
			h.bad = append(h.bad, "wrong path: "+r.URL.Path)
		case len(header) > 0 && !hasHeader(r, header[0]):
			h.bad = append(h.bad, "wrong headers: want "+header[0])
		default:
			h.payloads = append(h.payloads, p)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// hasHeader reports whether r has the header "Name=value".
func hasHeader(r *http.Request, nameValue string) bool {
	name, value, _ := strings.Cut(nameValue, "=")
	return r.Header.Get(name) == value
}

// got returns the reasons of the payloads received so far, and what was
// wrong with the other requests.
func (h *hookReceiver) got() ([]string, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var reasons []string
	for _, p := range h.payloads {
		reasons = append(reasons, p.Reason)
	}
	return reasons, append([]string(nil), h.bad...)
}

// take returns "KIND/NAME REASON SEVERITY SUMMARY CLUSTER" of each payload
// received since the last take, and what was wrong with the other
// requests, and forgets them.
func (h *hookReceiver) take() ([]string, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var events []string
	for _, p := range h.payloads {
		events = append(events, p.InvolvedObject.Kind+"/"+p.InvolvedObject.Name+" "+p.Reason+" "+p.Severity+
			" "+p.Metadata["summary"]+" "+p.Metadata["cluster"])
	}
	bad := h.bad
	h.payloads, h.bad = nil, nil
	return events, bad
}

// TestNotifyChangeOnly runs change, no change, failure, failure, recovery
// on the real control plane with a generic-hmac receiver whose address and
// key come from a Secret: exactly Changed, Failed and Recovered arrive, the
// record keeps each delivery, and neither the address nor the key reaches
// the record or an Event. A second provider whose Secret is missing and a
// third that hangs are recorded as failed without failing any run or
// holding it past its timeout.
func TestNotifyChangeOnly(t *testing.T) {
	f := newFixture(t, gitserver.Options{})
	key := "hmac-KEY-S3CRET"
	rcv := newHookReceiver(t, key, "X-Env=test")
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first
	secrets := env.Client().CoreV1().Secrets(f.ns)
	for name, data := range map[string]map[string]string{
		"hook": {"address": rcv.URL + "/hooks/S3CRETPATH", "token": key, "headers": "X-Env: test\n"},
		"hang": {"address": hang.URL + "/hooks/S3CRETPATH"},
	} {
		if _, err := secrets.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1")})
	f.install(f.git.HTTPURL("app"), "", `  notify:
  - {name: hook, type: generic-hmac, secretRef: {name: hook}}
  - {name: missing, type: slack, secretRef: {name: no-such-secret}, events: [Failed]}
  - {name: hang, type: generic, secretRef: {name: hang}, events: [Failed], timeout: 1s}
`)

	type step struct {
		name     string
		files    map[string]string
		failed   bool
		delivery []string // provider=result of the record's lastRun.notify
	}
	steps := []step{
		{"change", nil, false, []string{"hook=Sent"}},
		// Nothing to tell and nothing to record: the record stays as the
		// change left it (a run with nothing to do writes nothing).
		{"no change", nil, false, []string{"hook=Sent"}},
		{"failure", map[string]string{"deploy/a.yaml": "kind: [unclosed"}, true, []string{"hook=Sent", "missing=Failed", "hang=Failed"}},
		{"failure again", nil, true, nil},
		{"recovery", map[string]string{"deploy/a.yaml": cm("a", "2")}, false, []string{"hook=Sent"}},
	}
	for _, s := range steps {
		if s.files != nil {
			f.commit(s.files)
		}
		start := time.Now()
		res := f.run()
		if el := time.Since(start); el > 15*time.Second {
			t.Errorf("%s: the run took %s; the hanging receiver's timeout is 1s", s.name, el)
		}
		if (res.Outcome == Failed) != s.failed {
			t.Fatalf("%s: outcome %s (%s)", s.name, res.Outcome, res.Message)
		}
		var got []string
		rec := f.inventory().Record.LastRun
		for _, d := range rec.Notify {
			got = append(got, d.Provider+"="+d.Result)
		}
		if strings.Join(got, ",") != strings.Join(s.delivery, ",") {
			t.Errorf("%s: record's notify %v, want %v (%+v)", s.name, got, s.delivery, rec.Notify)
		}
		b, _ := json.Marshal(rec)
		if strings.Contains(string(b), "S3CRET") || strings.Contains(string(b), rcv.URL) || strings.Contains(string(b), hang.URL) {
			t.Errorf("%s: the record holds a secret: %s", s.name, b)
		}
	}
	reasons, bad := rcv.got()
	if strings.Join(reasons, ",") != "Changed,Failed,Recovered" || len(bad) > 0 {
		t.Errorf("receiver got %v (rejected %v), want Changed, Failed, Recovered", reasons, bad)
	}
	if rec := f.inventory().Record.LastRun; rec.ConsecutiveFailures != 0 {
		t.Errorf("consecutive failures after the recovery: %d", rec.ConsecutiveFailures)
	}
	evs, err := env.Client().CoreV1().Events(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if strings.Contains(e.Message, "S3CRET") {
			t.Errorf("Event %s holds a secret: %s", e.Name, e.Message)
		}
	}
}
