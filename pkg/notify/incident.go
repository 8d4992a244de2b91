package notify

import (
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Incident tools, as Flux's providers of the same names send to them.

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
