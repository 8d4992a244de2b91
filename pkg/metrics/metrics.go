// Package metrics turns what a run recorded into Prometheus metrics: pushed
// to a Pushgateway at the end of each run (spec.metrics.pushgateway), and
// printed by `kubectl gitsync status -o prometheus` from the records, for a
// node exporter's textfile collector or a cluster without a Pushgateway.
// Both read the same values through Collect, so they agree.
//
// Every metric is a gauge labelled namespace and sync; see docs/monitoring.md.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/notify"
)

// Job is the Pushgateway job label of every push.
const Job = "gitsync"

// Sync is what the metrics of one sync are made of.
type Sync struct {
	// Namespace and Name name the sync.
	Namespace, Name string
	// Record is the sync's record as its last run left it.
	Record inventory.Record
	// Objects is the number of objects in the inventory.
	Objects int
	// Suspended tells whether scheduled runs are off; only status knows.
	Suspended *bool
	// PeakRSS is the run's peak resident memory in bytes; only the run
	// knows it (0: not reported).
	PeakRSS int64
}

// The metric names.
const (
	RunDuration         = "gitsync_run_duration_seconds"
	RunSucceeded        = "gitsync_run_succeeded"
	RunTimestamp        = "gitsync_run_timestamp_seconds"
	LastSuccess         = "gitsync_last_success_timestamp_seconds"
	ConsecutiveFailures = "gitsync_run_consecutive_failures"
	Objects             = "gitsync_objects"
	RunObjects          = "gitsync_run_objects"
	Drifted             = "gitsync_run_drifted_objects"
	Retries             = "gitsync_run_api_retries"
	NotifyFailures      = "gitsync_run_notify_failures"
	Revision            = "gitsync_revision_info"
	Suspended           = "gitsync_suspended"
	PeakRSS             = "gitsync_run_peak_rss_bytes"
	DependencyNotReady  = "gitsync_run_dependency_not_ready"
)

var labels = []string{"namespace", "sync"}

// Registry returns a registry holding the metrics of syncs, labelled
// namespace and sync.
func Registry(syncs []Sync) *prometheus.Registry { return registry(syncs, true) }

// registry builds the metrics; without syncLabels the namespace and sync
// labels are left out, for a push whose grouping key adds them (the
// Pushgateway refuses metrics that carry a grouping label themselves).
func registry(syncs []Sync, syncLabels bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	var base []string
	if syncLabels {
		base = labels
	}
	g := func(name, help string, extra ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(slices.Clone(base), extra...))
		reg.MustRegister(v)
		return v
	}
	duration := g(RunDuration, "Duration of the sync's last run.")
	succeeded := g(RunSucceeded, "1 when the sync's last run succeeded, 0 when it failed.")
	ended := g(RunTimestamp, "When the sync's last run ended, in seconds since the epoch.")
	success := g(LastSuccess, "When the sync's last successful run ended, in seconds since the epoch.")
	failures := g(ConsecutiveFailures, "How many runs of the sync failed in a row, up to the last one.")
	// Present (1) only while the last run waited on spec.dependsOn.
	waiting := g(DependencyNotReady, "1 when the sync's last run applied nothing because a sync it depends on was not ready.")
	objects := g(Objects, "Objects in the sync's inventory.")
	runObjects := g(RunObjects, "Objects of the sync's last run per apply or prune action (created, configured, unchanged, deleted, skipped, failed).", "action")
	drifted := g(Drifted, "Objects the sync's last run found drifted (changed or deleted in the cluster).")
	retries := g(Retries, "API requests of the sync's last run sent again after a transient fault.")
	notifyFailures := g(NotifyFailures, "Notifications of the sync's last run that could not be delivered.")
	revision := g(Revision, "The revisions of the sync: the last applied and the last attempted (value 1).", "revision", "attempted_revision")
	var suspended, rss *prometheus.GaugeVec
	for _, s := range syncs {
		if s.Suspended != nil && suspended == nil {
			suspended = g(Suspended, "1 when the sync's scheduled runs are suspended.")
		}
		if s.PeakRSS > 0 && rss == nil {
			rss = g(PeakRSS, "Peak resident memory of the sync's last run.")
		}
	}
	for _, s := range syncs {
		l := prometheus.Labels{}
		if syncLabels {
			l = prometheus.Labels{"namespace": s.Namespace, "sync": s.Name}
		}
		rec, run := s.Record, s.Record.LastRun
		objects.With(l).Set(float64(s.Objects))
		if rec.LastAppliedRevision != "" || rec.LastAttemptedRevision != "" {
			revision.With(merge(l, "revision", rec.LastAppliedRevision, "attempted_revision", rec.LastAttemptedRevision)).Set(1)
		}
		if !rec.LastAppliedTime.IsZero() {
			success.With(l).Set(seconds(rec.LastAppliedTime))
		}
		if s.Suspended != nil {
			suspended.With(l).Set(b2f(*s.Suspended))
		}
		if s.PeakRSS > 0 {
			rss.With(l).Set(float64(s.PeakRSS))
		}
		if run.Result == "" {
			continue // never ran: no run metrics
		}
		duration.With(l).Set(run.Duration.Seconds())
		succeeded.With(l).Set(b2f(run.Result == inventory.ResultSucceeded))
		if run.Result == inventory.ResultDependencyNotReady {
			waiting.With(l).Set(1)
		}
		ended.With(l).Set(seconds(run.End))
		failures.With(l).Set(float64(run.ConsecutiveFailures))
		for _, a := range slices.Sorted(maps.Keys(run.Counts)) {
			runObjects.With(merge(l, "action", a)).Set(float64(run.Counts[a]))
		}
		drifted.With(l).Set(float64(run.Drifted))
		retries.With(l).Set(float64(run.Retries))
		n := 0
		for _, d := range run.Notify {
			if d.Result == notify.Failed {
				n++
			}
		}
		notifyFailures.With(l).Set(float64(n))
	}
	return reg
}

func merge(l prometheus.Labels, kv ...string) prometheus.Labels {
	out := maps.Clone(l)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteText writes the metrics of syncs in Prometheus' text format, as a
// textfile collector reads it.
func WriteText(w io.Writer, syncs []Sync) error {
	families, err := Registry(syncs).Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// PushOptions say where Push sends the metrics.
type PushOptions struct {
	// URL is the Pushgateway's base URL. Required.
	URL string
	// Username and Password, when set, are sent as basic authentication;
	// BearerToken, when set, as a bearer token.
	Username, Password, BearerToken string
	// Timeout bounds the push. Default 10s.
	Timeout time.Duration
	// Client sends the request. Default: http.DefaultTransport's.
	Client *http.Client
}

// Push replaces the metrics of s on the Pushgateway, in the group job
// gitsync, namespace, sync: each run's push replaces the last. Its error
// names neither the URL's credentials nor the token.
func Push(ctx context.Context, opts PushOptions, s Sync) error {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("pushgateway: the URL is not an http(s) URL")
	}
	reg := registry([]Sync{s}, false)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := opts.Client
	if c == nil {
		c = &http.Client{Transport: http.DefaultTransport}
	}
	p := push.New(opts.URL, Job).Gatherer(reg).Client(c).
		Grouping("namespace", s.Namespace).Grouping("sync", s.Name)
	if opts.Username != "" || opts.Password != "" {
		p = p.BasicAuth(opts.Username, opts.Password)
	}
	if opts.BearerToken != "" {
		p = p.Header(http.Header{"Authorization": {"Bearer " + opts.BearerToken}})
	}
	if err := p.PushContext(ctx); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg := err.Error()
		for _, secret := range []string{opts.Password, opts.BearerToken} {
			if secret != "" {
				msg = replaceAll(msg, secret)
			}
		}
		return fmt.Errorf("pushgateway: %s", msg)
	}
	return nil
}

func replaceAll(s, secret string) string { return strings.ReplaceAll(s, secret, "xxxxx") }
