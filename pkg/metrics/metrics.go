// Package metrics turns what a run recorded into Prometheus metrics: pushed
// to a Pushgateway at the end of each run (spec.metrics.pushgateway), and
// printed by `kubectl gitsync status -o prometheus` from the records, for a
// node exporter's textfile collector or a cluster without a Pushgateway.
// Both write the same families (gather) in the same text format, so they
// agree.
//
// Every metric is a gauge labelled namespace and sync; see docs/monitoring.md.
package metrics

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

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

// family is one metric family: gauges of one name.
type family struct {
	name, help string
	// labels are the label names of every sample, in the order of values.
	labels  []string
	samples []sample
}

type sample struct {
	values []string
	value  float64
}

// set adds a sample with the label values given, in f.labels' order.
func (f *family) set(value float64, values ...string) {
	f.samples = append(f.samples, sample{values: values, value: value})
}

// gather builds the metrics; without syncLabels the namespace and sync
// labels are left out, for a push whose grouping key adds them (the
// Pushgateway refuses metrics that carry a grouping label themselves).
// A family without samples is left out, as client_golang's registry
// leaves it out.
func gather(syncs []Sync, syncLabels bool) []*family {
	var base []string
	if syncLabels {
		base = labels
	}
	var all []*family
	g := func(name, help string, extra ...string) *family {
		f := &family{name: name, help: help, labels: append(slices.Clone(base), extra...)}
		all = append(all, f)
		return f
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
	suspended := g(Suspended, "1 when the sync's scheduled runs are suspended.")
	rss := g(PeakRSS, "Peak resident memory of the sync's last run.")
	for _, s := range syncs {
		var l []string
		if syncLabels {
			l = []string{s.Namespace, s.Name}
		}
		with := func(extra ...string) []string { return append(slices.Clone(l), extra...) }
		rec, run := s.Record, s.Record.LastRun
		objects.set(float64(s.Objects), l...)
		if rec.LastAppliedRevision != "" || rec.LastAttemptedRevision != "" {
			revision.set(1, with(rec.LastAppliedRevision, rec.LastAttemptedRevision)...)
		}
		if !rec.LastAppliedTime.IsZero() {
			success.set(seconds(rec.LastAppliedTime), l...)
		}
		if s.Suspended != nil {
			suspended.set(b2f(*s.Suspended), l...)
		}
		if s.PeakRSS > 0 {
			rss.set(float64(s.PeakRSS), l...)
		}
		if run.Result == "" {
			continue // never ran: no run metrics
		}
		duration.set(run.Duration.Seconds(), l...)
		succeeded.set(b2f(run.Result == inventory.ResultSucceeded), l...)
		if run.Result == inventory.ResultDependencyNotReady {
			waiting.set(1, l...)
		}
		ended.set(seconds(run.End), l...)
		failures.set(float64(run.ConsecutiveFailures), l...)
		for _, a := range slices.Sorted(maps.Keys(run.Counts)) {
			runObjects.set(float64(run.Counts[a]), with(a)...)
		}
		drifted.set(float64(run.Drifted), l...)
		retries.set(float64(run.Retries), l...)
		n := 0
		for _, d := range run.Notify {
			if d.Result == notify.Failed {
				n++
			}
		}
		notifyFailures.set(float64(n), l...)
	}
	return slices.DeleteFunc(all, func(f *family) bool { return len(f.samples) == 0 })
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
	_, err := w.Write(text(gather(syncs, true)))
	return err
}

// text is families in Prometheus' text exposition format (version 0.0.4)
// as client_golang's expfmt writes it: families by name, each sample's
// labels by name, samples by their sorted label values, a family's HELP
// and TYPE first. (sync-job does not link client_golang: its init alone
// cost every run more than the metrics do.)
func text(families []*family) []byte {
	slices.SortFunc(families, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	var b bytes.Buffer
	for _, f := range families {
		order := make([]int, len(f.labels)) // f.labels' indexes, by name
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(i, j int) int { return strings.Compare(f.labels[i], f.labels[j]) })
		samples := slices.Clone(f.samples)
		slices.SortStableFunc(samples, func(x, y sample) int {
			for _, i := range order {
				if c := strings.Compare(x.values[i], y.values[i]); c != 0 {
					return c
				}
			}
			return 0
		})
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", f.name, helpEscaper.Replace(f.help), f.name)
		for _, s := range samples {
			b.WriteString(f.name)
			if len(order) > 0 {
				b.WriteByte('{')
				for k, i := range order {
					if k > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%s=\"%s\"", f.labels[i], valueEscaper.Replace(s.values[i]))
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(formatFloat(s.value))
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// formatFloat writes a sample's value as the text format does.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
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
// gitsync, namespace, sync: each run's push replaces the last (a PUT of
// the group, in the text format). Its error names neither the URL's
// credentials nor the token.
func Push(ctx context.Context, opts PushOptions, s Sync) error {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("pushgateway: the URL is not an http(s) URL")
	}
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
	if err := push(ctx, c, u, opts, s); err != nil {
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

// push sends the PUT of s's group to the Pushgateway at u.
func push(ctx context.Context, c *http.Client, u *url.URL, opts PushOptions, s Sync) error {
	target := *u
	target.User = nil
	target.Path = strings.TrimSuffix(target.Path, "/") + "/metrics/job/" + Job +
		"/" + groupingPath("namespace", s.Namespace) + "/" + groupingPath("sync", s.Name)
	target.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target.String(), bytes.NewReader(text(gather([]Sync{s}, false))))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	switch {
	case opts.Username != "" || opts.Password != "":
		req.SetBasicAuth(opts.Username, opts.Password)
	case u.User != nil:
		password, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), password)
	}
	if opts.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+opts.BearerToken)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("PUT %s: %s: %s", target.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// groupingPath is one label of a Pushgateway grouping key as a path:
// name/value, or name@base64/value (URL-safe base64) when the value has a
// slash or is empty, as the Pushgateway's API asks.
func groupingPath(name, value string) string {
	if value == "" || strings.Contains(value, "/") {
		return name + "@base64/" + cmp.Or(base64.RawURLEncoding.EncodeToString([]byte(value)), "=")
	}
	return name + "/" + url.PathEscape(value)
}

func replaceAll(s, secret string) string { return strings.ReplaceAll(s, secret, "xxxxx") }
