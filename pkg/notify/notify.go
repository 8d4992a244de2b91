// Package notify tells people what a run did: it sends one event per run to
// chat and webhook receivers and sets a commit status on the forge, through
// the providers of Flux's notification-controller (generic, generic-hmac,
// slack, msteams, discord, googlechat, lark, webex, alertmanager, datadog,
// github, gitlab, gitea, bitbucket, azuredevops, ...: Types) with the same
// Secret keys (address, token, headers).
//
// A run sends on change only (Classify): a failure after a success, a
// recovery, a newly applied revision or a corrected drift. A run that
// changed nothing and succeeded sends nothing, so a sync on a five-minute
// schedule does not flood its channel.
//
// Sending is bounded in time per provider (Provider.Timeout, including the
// retries of transient failures), providers are sent to in parallel, and a
// failed delivery never fails the run: Send returns one Delivery per
// provider for the run's record. Neither a Delivery nor an error of this
// package holds a provider's address or token: webhook URLs carry their
// secret in the path, where no URL redactor can tell it apart.
//
// Only net/http and encoding/json are used, no vendor SDK, to keep sync-job
// small.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The reasons of an event: what a run did, as Classify sees it.
const (
	// ReasonFailed: the run failed, and the previous one did not fail at
	// the same revision.
	ReasonFailed = "Failed"
	// ReasonRecovered: the run succeeded after a failed run.
	ReasonRecovered = "Recovered"
	// ReasonChanged: the run succeeded and applied a new revision, or
	// created, changed, replaced or deleted objects (drift corrected).
	ReasonChanged = "Changed"
	// ReasonSucceeded: the run succeeded and changed nothing. Sent only to
	// providers whose events list it.
	ReasonSucceeded = "Succeeded"
)

// The severities of an event, as Flux's.
const (
	SeverityInfo  = "info"
	SeverityError = "error"
)

// DefaultEvents are the reasons sent when a provider lists none: every
// change, never a quiet success.
var DefaultEvents = []string{ReasonFailed, ReasonRecovered, ReasonChanged}

// Reasons lists every reason an events filter may name.
var Reasons = []string{ReasonFailed, ReasonRecovered, ReasonChanged, ReasonSucceeded}

// DefaultTimeout bounds the delivery to one provider, retries included,
// when Provider.Timeout is zero. It is Flux's Provider default.
const DefaultTimeout = 15 * time.Second

// MaxChanged is how many changed objects an event carries at most; the
// rest are counted in Event.MoreChanged.
const MaxChanged = 50

// Event is what one run tells its providers.
type Event struct {
	// Sync and Namespace name the sync.
	Sync, Namespace string
	// Reason is one of the Reason constants.
	Reason string
	// Revision is the source revision the run worked on, for example
	// main@sha1:<40 hex>; the commit status providers need a Git commit.
	Revision string
	// Message says what the run did, or why it failed, in one line.
	Message string
	// Summary is the spec's summary of the sync (Flux Alert's summary):
	// the cluster or environment, for example.
	Summary string
	// Metadata is added to the event as Flux Alert's eventMetadata.
	Metadata map[string]string
	// Counts holds the number of objects per apply and prune action.
	Counts map[string]int
	// Changed names the objects created, configured, replaced or deleted,
	// at most MaxChanged; MoreChanged counts the rest.
	Changed     []string
	MoreChanged int
	// Time is when the run ended.
	Time time.Time
	// Involved, when set, is the Flux unit the event is about (a Flux
	// Alert's event): it replaces the sync as the event's object.
	Involved *ObjectReference
}

// Severity is error for a failure and info otherwise.
func (e *Event) Severity() string {
	if e.Reason == ReasonFailed {
		return SeverityError
	}
	return SeverityInfo
}

// Object names the sync as gitsync's reporter does: Sync/NAMESPACE/NAME.
func (e *Event) Object() string {
	if e.Involved != nil {
		return e.Involved.Kind + "/" + e.Involved.Namespace + "/" + e.Involved.Name
	}
	return "Sync/" + e.Namespace + "/" + e.Sync
}

// Previous is what the record says about the run before this one.
type Previous struct {
	// Result is Succeeded, Failed, or "" before the first run.
	Result string
	// Revision is the revision the previous run worked on.
	Revision string
	// AppliedRevision is the revision of the last run that succeeded.
	AppliedRevision string
}

// Classify returns the reason of a run's event, or "" when the run is not
// worth telling anybody: a failure repeating the previous run's at the
// same revision. A quiet success returns ReasonSucceeded, which only
// providers that ask for it receive.
func Classify(prev Previous, failed bool, revision string, changedObjects int) string {
	switch {
	case failed && prev.Result == ReasonFailed && prev.Revision == revision:
		return ""
	case failed:
		return ReasonFailed
	case prev.Result == ReasonFailed:
		return ReasonRecovered
	case revision != prev.AppliedRevision || changedObjects > 0:
		return ReasonChanged
	}
	return ReasonSucceeded
}

// Provider is one receiver with its configuration resolved: the spec's
// fields plus the keys of its Secret.
type Provider struct {
	// Name identifies the provider in the record; default Type.
	Name string
	// Type is one of Types().
	Type string
	// Address is the webhook URL, the Alertmanager API URL or the
	// repository URL of a commit status provider (the Secret's address
	// wins over the spec's, as in Flux). Default: the receiver's public
	// API for the types that have one (webex, datadog), else required.
	Address string
	// Token is the HMAC key (generic-hmac), the bearer token (slack,
	// rocket, matrix, ntfy, grafana, webex, the forges), the bot's token
	// (telegram), the API key (opsgenie, datadog), a personal access token
	// (azuredevops) or user:password (bitbucket).
	Token string
	// Headers are added to every request (the Secret's headers key).
	Headers map[string]string
	// Channel and Username override the webhook's defaults (slack);
	// Channel is the room, topic, chat or routing key of the types that
	// need one (matrix, webex, ntfy, telegram, pagerduty).
	Channel, Username string
	// Events lists the reasons to send; default DefaultEvents.
	Events []string
	// EventSeverity is info (every reason in Events) or error (failures
	// only); default info.
	EventSeverity string
	// Timeout bounds the delivery, retries included; default
	// DefaultTimeout.
	Timeout time.Duration
	// Err, when set, is why the provider could not be configured (its
	// Secret is missing, say): Send records it as a failed delivery
	// instead of sending.
	Err error
}

// Wants reports whether p receives events of reason.
func (p *Provider) Wants(reason string) bool {
	if reason == "" {
		return false
	}
	if p.EventSeverity == SeverityError && reason != ReasonFailed {
		return false
	}
	events := p.Events
	if len(events) == 0 {
		events = DefaultEvents
	}
	for _, e := range events {
		// Succeeded asks for every successful run.
		if e == reason || e == ReasonSucceeded && reason != ReasonFailed {
			return true
		}
	}
	return false
}

// The results of a delivery.
const (
	// Sent: the receiver accepted the event.
	Sent = "Sent"
	// Failed: the event could not be delivered; Delivery.Error says why.
	Failed = "Failed"
	// Skipped: the provider cannot take this event (a commit status for a
	// revision that is not a Git commit).
	Skipped = "Skipped"
)

// Delivery is what became of an event sent to one provider. It holds
// neither the provider's address nor its token.
type Delivery struct {
	// Provider is the provider's name; Type its type.
	Provider string `json:"provider"`
	Type     string `json:"type"`
	// Reason is the event's reason.
	Reason string `json:"reason"`
	// Result is Sent, Failed or Skipped.
	Result string `json:"result"`
	// Attempts is how many requests were made.
	Attempts int `json:"attempts,omitempty"`
	// Error says why the delivery failed or was skipped.
	Error string `json:"error,omitempty"`
	// Alert and Object, for the event of a Flux unit, name the Flux
	// Alert that sent it and the unit it is about (Kind/namespace/name).
	Alert  string `json:"alert,omitempty"`
	Object string `json:"object,omitempty"`
}

// Options configure Send.
type Options struct {
	// Client sends the requests. Default: a client whose transport is
	// http.DefaultTransport's (proxy from the environment).
	Client *http.Client
	// Backoff is the wait before the first retry, doubled for each
	// further one. Default 500ms.
	Backoff time.Duration
	// MaxAttempts is how many requests are made at most per provider.
	// Default 3.
	MaxAttempts int
}

// sender delivers an event to one provider type. A new provider type
// implements it and is added to senders; nothing else changes.
type sender interface {
	// requests returns the requests that deliver e to p (usually one), or
	// errSkip when p cannot take e.
	requests(p *Provider, e *Event) ([]request, error)
}

// defaultAddresser is a sender whose receiver has one public API: its
// address is used when the provider sets none.
type defaultAddresser interface {
	defaultAddress() string
}

// request is one HTTP request of a delivery. Its body is kept to be sent
// again on retry.
type request struct {
	method, url string
	body        []byte
	header      http.Header
}

// errSkip wraps the reason a provider cannot take an event.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

var senders = map[string]sender{
	"generic":         generic{},
	"generic-hmac":    generic{hmac: true},
	"slack":           slack{},
	"msteams":         msteams{},
	"discord":         discord{},
	"googlechat":      googlechat{},
	"lark":            lark{},
	"webex":           webex{},
	"rocket":          slack{}, // Rocket.Chat's incoming webhooks take Slack's format
	"matrix":          matrix{},
	"ntfy":            ntfy{},
	"grafana":         grafana{},
	"telegram":        telegram{},
	"opsgenie":        opsgenie{},
	"pagerduty":       pagerduty{},
	"datadog":         datadog{},
	"alertmanager":    alertmanager{},
	"github":          commitStatus{forge: github},
	"githubdispatch":  githubDispatch{},
	"gitlab":          commitStatus{forge: gitlab},
	"gitea":           commitStatus{forge: gitea},
	"bitbucket":       commitStatus{forge: bitbucket},
	"bitbucketserver": commitStatus{forge: bitbucketServer},
	"azuredevops":     commitStatus{forge: azureDevOps},
}

// Types returns the provider types, sorted.
func Types() []string {
	out := make([]string, 0, len(senders))
	for t := range senders {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// IsCommitStatus reports whether providers of type t set a commit status
// (and so need a Git commit in the revision) rather than post a message.
func IsCommitStatus(t string) bool {
	_, ok := senders[t].(commitStatus)
	return ok
}

// Send delivers e to every provider that wants it, in parallel, each
// bounded by its timeout, and returns one Delivery per such provider in
// the order of providers. It never fails: what could not be sent is a
// Delivery with Result Failed. ctx bounds the whole.
func Send(ctx context.Context, providers []Provider, e Event, opts Options) []Delivery {
	if opts.Client == nil {
		opts.Client = &http.Client{Transport: http.DefaultTransport}
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	out := make([]Delivery, len(providers))
	want := make([]bool, len(providers))
	var wg sync.WaitGroup
	for i := range providers {
		p := &providers[i]
		if !p.Wants(e.Reason) {
			continue
		}
		want[i] = true
		wg.Go(func() { out[i] = deliver(ctx, p, &e, opts) })
	}
	wg.Wait()
	var sent []Delivery
	for i, d := range out {
		if want[i] {
			sent = append(sent, d)
		}
	}
	return sent
}

func deliver(ctx context.Context, p *Provider, e *Event, opts Options) Delivery {
	d := Delivery{Provider: p.Name, Type: p.Type, Reason: e.Reason}
	if d.Provider == "" {
		d.Provider = p.Type
	}
	fail := func(err error) Delivery {
		d.Result, d.Error = Failed, err.Error()
		return d
	}
	if p.Err != nil {
		return fail(p.Err)
	}
	s, ok := senders[p.Type]
	if !ok {
		return fail(fmt.Errorf("unknown provider type %q (one of %s)", p.Type, strings.Join(Types(), ", ")))
	}
	if da, ok := s.(defaultAddresser); ok && p.Address == "" {
		// A copy: the caller's provider stays as configured.
		withDefault := *p
		withDefault.Address = da.defaultAddress()
		p = &withDefault
	}
	if p.Address == "" {
		return fail(errors.New("no address: set it in the provider's Secret (key address) or in the spec"))
	}
	if u, err := url.Parse(p.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse's error quotes the URL: say only what is wrong.
		return fail(errors.New("the address is not an http(s) URL"))
	}
	reqs, err := s.requests(p, e)
	var skip *skipError
	if errors.As(err, &skip) {
		d.Result, d.Error = Skipped, skip.reason
		return d
	}
	if err != nil {
		return fail(err)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, r := range reqs {
		n, err := post(ctx, opts, p, r)
		d.Attempts += n
		if err != nil {
			return fail(err)
		}
	}
	d.Result = Sent
	return d
}

// post sends r, again after a transient failure (network error, 429, 5xx)
// with exponential backoff while ctx and the attempts last. It returns the
// number of attempts. Its errors name the provider, never the URL.
func post(ctx context.Context, opts Options, p *Provider, r request) (int, error) {
	wait := opts.Backoff
	var last error
	for attempt := 1; ; attempt++ {
		retryable, err := postOnce(ctx, opts.Client, p, r)
		if err == nil {
			return attempt, nil
		}
		last = err
		if !retryable || attempt >= opts.MaxAttempts {
			return attempt, last
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("%w (gave up after %d attempts: %v)", last, attempt, context.Cause(ctx))
		case <-t.C:
		}
		wait *= 2
	}
}

func postOnce(ctx context.Context, c *http.Client, p *Provider, r request) (retryable bool, err error) {
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		return false, errors.New("building the request failed")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gitsync-notify")
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error quotes the URL, whose path may hold the webhook's
		// secret: keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return false, fmt.Errorf("%s %s: no answer within the provider's timeout", r.method, p.Type)
		}
		return true, fmt.Errorf("%s %s: %s", r.method, p.Type, scrub(err.Error(), p))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	// The body is not quoted: a receiver may echo the request, token and
	// all.
	err = fmt.Errorf("%s %s: the receiver answered %s", r.method, p.Type, resp.Status)
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, err
}

// scrub removes the provider's address and token from s, should a
// transport error quote them.
func scrub(s string, p *Provider) string {
	for _, secret := range []string{p.Address, p.Token} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "xxxxx")
		}
	}
	if u, err := url.Parse(p.Address); err == nil && u.Path != "" && u.Path != "/" {
		s = strings.ReplaceAll(s, u.Path, "/xxxxx")
	}
	return s
}

// ChangedObjects caps ids at MaxChanged, returning the rest's count.
func ChangedObjects(ids []string) ([]string, int) {
	ids = slices.Clone(ids)
	sort.Strings(ids)
	if len(ids) <= MaxChanged {
		return ids, 0
	}
	return ids[:MaxChanged], len(ids) - MaxChanged
}
