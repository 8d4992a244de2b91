package notify

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Incident and monitoring tools, as Flux's providers of the same names send
// to them.

// opsgenie creates an alert through Opsgenie's Alert API: address is
// https://api.opsgenie.com/v2/alerts (or the EU one), token the API key
// (GenieKey).
type opsgenie struct{}

// OpsgeniePayload is the JSON body of the opsgenie provider.
type OpsgeniePayload struct {
	Message     string            `json:"message"`
	Description string            `json:"description"`
	Details     map[string]string `json:"details"`
}

func (opsgenie) requests(p *Provider, e *Event) ([]request, error) {
	if p.Token == "" {
		return nil, errNoToken("the Opsgenie API key")
	}
	details := metadata(e)
	details["severity"] = e.Severity()
	details["reason"] = e.Reason
	return jsonRequest(p.Address, OpsgeniePayload{Message: e.Object(), Description: e.Message, Details: details},
		http.Header{"Authorization": {"GenieKey " + p.Token}})
}

// pagerduty sends to PagerDuty's Events API v2: address is
// https://events.pagerduty.com, channel the integration's routing key. A
// failure triggers an incident, deduplicated by the sync (or unit); any
// other event resolves it and is sent as a change event too.
type pagerduty struct{}

// PagerDutyEvent is the body of an alert event of the pagerduty provider.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
}

// PagerDutyPayload is what an incident says.
type PagerDutyPayload struct {
	Summary   string         `json:"summary"`
	Source    string         `json:"source"`
	Severity  string         `json:"severity"`
	Timestamp string         `json:"timestamp,omitempty"`
	Component string         `json:"component,omitempty"`
	Group     string         `json:"group,omitempty"`
	Details   map[string]any `json:"custom_details,omitempty"`
}

// PagerDutyChange is the body of a change event of the pagerduty provider.
type PagerDutyChange struct {
	RoutingKey string           `json:"routing_key"`
	Payload    PagerDutyPayload `json:"payload"`
}

func (pagerduty) requests(p *Provider, e *Event) ([]request, error) {
	if p.Channel == "" {
		return nil, errors.New("pagerduty needs channel (the integration's routing key)")
	}
	u, err := url.Parse(p.Address)
	if err != nil {
		return nil, errors.New("the address is not a URL")
	}
	base := u.Scheme + "://" + u.Host
	payload := PagerDutyPayload{Summary: title(e) + ": " + cut(e.Message, 900), Source: "gitsync", Severity: "error",
		Timestamp: e.Time.UTC().Format(time.RFC3339), Component: e.Object(),
		Details: map[string]any{"message": e.Message, "metadata": metadata(e)}}
	ev := PagerDutyEvent{RoutingKey: p.Channel, EventAction: "resolve", DedupKey: e.Object()}
	if e.Severity() == SeverityError {
		ev.EventAction, ev.Payload = "trigger", &payload
	}
	reqs, err := jsonRequest(base+"/v2/enqueue", ev, nil)
	if err != nil || e.Severity() == SeverityError {
		return reqs, err
	}
	payload.Severity = "info"
	change, err := jsonRequest(base+"/v2/change/enqueue", PagerDutyChange{RoutingKey: p.Channel, Payload: payload}, nil)
	return append(reqs, change...), err
}

// datadog posts an event to Datadog's Events API, as Flux's datadog
// provider: address is the site's API (https://api.datadoghq.com, the
// default, or https://api.datadoghq.eu, ...; its path is not used), token
// the API key (not an application key), sent in the header DD-API-KEY.
// The tags are Flux's: flux_reporting_controller, flux_reason, kube_kind,
// kube_name, kube_namespace and KEY:VALUE per metadata entry, lowercased,
// as Datadog stores tags.
type datadog struct{}

// DatadogAPI is Datadog's US1 site, the datadog provider's default
// address.
const DatadogAPI = "https://api.datadoghq.com"

func (datadog) defaultAddress() string { return DatadogAPI }

// DatadogEvent is the JSON body of the datadog provider.
type DatadogEvent struct {
	Title          string   `json:"title"`
	Text           string   `json:"text"`
	Tags           []string `json:"tags"`
	SourceTypeName string   `json:"source_type_name"`
	DateHappened   int64    `json:"date_happened"`
	AlertType      string   `json:"alert_type"`
}

func (datadog) requests(p *Provider, e *Event) ([]request, error) {
	if p.Token == "" {
		return nil, errNoToken("the Datadog API key")
	}
	u, err := url.Parse(p.Address)
	if err != nil {
		return nil, errors.New("the address is not a URL")
	}
	o := genericPayload(e).InvolvedObject
	tags := []string{"flux_reporting_controller:gitsync", "flux_reason:" + e.Reason,
		"kube_kind:" + o.Kind, "kube_name:" + o.Name, "kube_namespace:" + o.Namespace}
	m := metadata(e)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		tags = append(tags, k+":"+m[k])
	}
	for i := range tags {
		tags[i] = strings.ToLower(tags[i])
	}
	ev := DatadogEvent{
		// The title of the events of Datadog's Kubernetes integration, as
		// Flux's.
		Title: cut(fmt.Sprintf("Events from the %s %s/%s", o.Kind, o.Name, o.Namespace), 100),
		Text:  cut(e.Message, 4000),
		Tags:  tags,
		// The source of Datadog's Flux integration, as Flux's: gitsync's
		// events land beside Flux's.
		SourceTypeName: "fluxcd",
		DateHappened:   e.Time.Unix(),
		AlertType:      map[bool]string{false: "info", true: "error"}[e.Severity() == SeverityError],
	}
	return jsonRequest(u.Scheme+"://"+u.Host+"/api/v1/events", ev, http.Header{"Dd-Api-Key": {p.Token}})
}
