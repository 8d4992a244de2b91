package syncrun

import (
	"strings"
	"testing"

	"github.com/gitsync/gitsync/tests/gitserver"
	"github.com/gitsync/gitsync/tests/pgtest"
)

// TestMetricsPushed: a run of a sync with spec.metrics.pushgateway pushes
// its metrics to a real Pushgateway, where they are scraped back; a failed
// run replaces them.
func TestMetricsPushed(t *testing.T) {
	pg := pgtest.Start(t)
	f := newFixture(t, gitserver.Options{})
	f.commit(map[string]string{"deploy/a.yaml": cm("a", "1"), "deploy/b.yaml": cm("b", "1")})
	f.install(f.git.HTTPURL("app"), "", "  metrics: {pushgateway: {url: '"+pg.URL+"'}}\n")
	f.mustSucceed(f.run())
	group := `instance="",job="gitsync",namespace="` + f.ns + `",sync="app"`
	scrape := func() string {
		got, err := pg.Scrape(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := scrape()
	for _, want := range []string{
		`gitsync_run_succeeded{` + group + `} 1`,
		`gitsync_objects{` + group + `} 2`,
		`gitsync_run_objects{action="created",` + group + `} 2`,
		`gitsync_run_consecutive_failures{` + group + `} 0`,
		`gitsync_last_success_timestamp_seconds{` + group + `} `,
		`gitsync_run_peak_rss_bytes{` + group + `} `,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("scraped metrics lack %s", want)
		}
	}
	f.commit(map[string]string{"deploy/a.yaml": "kind: [unclosed"})
	if res := f.run(); res.Outcome != Failed {
		t.Fatalf("broken commit: %s", res.Outcome)
	}
	got = scrape()
	if !strings.Contains(got, `gitsync_run_succeeded{`+group+`} 0`) || !strings.Contains(got, `gitsync_run_consecutive_failures{`+group+`} 1`) {
		t.Errorf("after a failed run:\n%s", got)
	}
}
