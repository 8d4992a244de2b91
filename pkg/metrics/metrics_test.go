package metrics

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/notify"
	"github.com/gitsync/gitsync/tests/pgtest"
)

var end = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func failedSync() Sync {
	return Sync{
		Namespace: "apps", Name: "web", Objects: 12,
		Record: inventory.Record{
			LastAppliedRevision: "main@sha1:aaa", LastAppliedTime: end.Add(-time.Hour),
			LastAttemptedRevision: "main@sha1:bbb",
			LastRun: inventory.Run{
				Revision: "main@sha1:bbb", Result: inventory.ResultFailed, End: end,
				Duration: metav1.Duration{Duration: 2500 * time.Millisecond}, Counts: map[string]int{"failed": 1, "unchanged": 11},
				Drifted: 2, Retries: 3, ConsecutiveFailures: 4,
				Notify: []notify.Delivery{{Provider: "slack", Result: notify.Failed}, {Provider: "hook", Result: notify.Sent}},
			},
		},
	}
}

func TestWriteText(t *testing.T) {
	f := false
	s := failedSync()
	s.Suspended = &f
	never := Sync{Namespace: "apps", Name: "new"}
	var b bytes.Buffer
	if err := WriteText(&b, []Sync{s, never}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`gitsync_run_succeeded{namespace="apps",sync="web"} 0`,
		`gitsync_run_duration_seconds{namespace="apps",sync="web"} 2.5`,
		`gitsync_run_timestamp_seconds{namespace="apps",sync="web"} 1.796472e+09`,
		`gitsync_last_success_timestamp_seconds{namespace="apps",sync="web"} 1.7964684e+09`,
		`gitsync_run_consecutive_failures{namespace="apps",sync="web"} 4`,
		`gitsync_objects{namespace="apps",sync="web"} 12`,
		`gitsync_run_objects{action="failed",namespace="apps",sync="web"} 1`,
		`gitsync_run_objects{action="unchanged",namespace="apps",sync="web"} 11`,
		`gitsync_run_drifted_objects{namespace="apps",sync="web"} 2`,
		`gitsync_run_api_retries{namespace="apps",sync="web"} 3`,
		`gitsync_run_notify_failures{namespace="apps",sync="web"} 1`,
		`gitsync_revision_info{attempted_revision="main@sha1:bbb",namespace="apps",revision="main@sha1:aaa",sync="web"} 1`,
		`gitsync_suspended{namespace="apps",sync="web"} 0`,
		`gitsync_objects{namespace="apps",sync="new"} 0`,
		"# HELP gitsync_run_succeeded 1 when the sync's last run succeeded, 0 when it failed.",
		"# TYPE gitsync_run_succeeded gauge",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	// A sync that never ran has no run metrics.
	if strings.Contains(out, `gitsync_run_succeeded{namespace="apps",sync="new"}`) {
		t.Error("run metrics for a sync that never ran")
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestPushAndScrape pushes to a real Pushgateway and scrapes it back; a
// second push replaces the first.
func TestPushAndScrape(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := t.Context()
	s := failedSync()
	s.PeakRSS = 50 << 20
	if err := Push(ctx, PushOptions{URL: pg.URL}, s); err != nil {
		t.Fatal(err)
	}
	got, err := pg.Scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := `instance="",job="gitsync",namespace="apps",sync="web"`
	for _, want := range []string{
		`gitsync_run_succeeded{` + group + `} 0`,
		`gitsync_run_consecutive_failures{` + group + `} 4`,
		`gitsync_run_objects{action="failed",` + group + `} 1`,
		`gitsync_run_peak_rss_bytes{` + group + `} 5.24288e+07`,
		`gitsync_revision_info{attempted_revision="main@sha1:bbb",instance="",job="gitsync",namespace="apps",revision="main@sha1:aaa",sync="web"} 1`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("scraped metrics lack %s:\n%s", want, grep(got, "gitsync_"))
		}
	}

	s.Record.LastRun = inventory.Run{Revision: "main@sha1:bbb", Result: inventory.ResultSucceeded, End: end.Add(time.Minute), Counts: map[string]int{"configured": 1}}
	s.Record.LastAppliedRevision, s.Record.LastAppliedTime = "main@sha1:bbb", end.Add(time.Minute)
	if err := Push(ctx, PushOptions{URL: pg.URL}, s); err != nil {
		t.Fatal(err)
	}
	got, err = pg.Scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `gitsync_run_succeeded{`+group+`} 1`) || strings.Contains(got, `action="failed"`) ||
		!strings.Contains(got, `gitsync_run_consecutive_failures{`+group+`} 0`) {
		t.Errorf("the second push did not replace the first:\n%s", grep(got, "gitsync_"))
	}
}

func TestPushErrorsHideSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied "+r.Header.Get("Authorization"), http.StatusUnauthorized)
	}))
	defer srv.Close()
	for _, o := range []PushOptions{
		{URL: srv.URL, Username: "u", Password: "S3CRET"},
		{URL: srv.URL, BearerToken: "S3CRET"},
		{URL: "pushgateway:9091/S3CRET"},
	} {
		err := Push(context.Background(), o, failedSync())
		if err == nil || strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("%v", err)
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDependencyNotReadyMetric checks that a waiting run is exported as
// such, and a run that did not wait exports no such metric.
func TestDependencyNotReadyMetric(t *testing.T) {
	waiting := Sync{Namespace: "apps", Name: "web", Record: inventory.Record{LastRun: inventory.Run{
		Result: inventory.ResultDependencyNotReady, ConsecutiveFailures: 2}}}
	done := Sync{Namespace: "apps", Name: "db", Record: inventory.Record{LastRun: inventory.Run{Result: inventory.ResultSucceeded}}}
	var b strings.Builder
	if err := WriteText(&b, []Sync{waiting, done}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`gitsync_run_dependency_not_ready{namespace="apps",sync="web"} 1`,
		`gitsync_run_succeeded{namespace="apps",sync="web"} 0`,
		`gitsync_run_consecutive_failures{namespace="apps",sync="web"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `gitsync_run_dependency_not_ready{namespace="apps",sync="db"}`) {
		t.Errorf("a run that did not wait exports the wait:\n%s", out)
	}
}
