package notify

import (
	"time"
)

// alertmanager posts alerts to Alertmanager's API (address:
// http://alertmanager:9093/api/v2/alerts). A failure fires the alert
// GitsyncSyncFailed; a recovery resolves it (endsAt is now); a change
// fires GitsyncSyncChanged, which Alertmanager resolves by itself after its
// resolve_timeout.
type alertmanager struct{}

// Alert is one alert of the alertmanager provider's JSON body (a list).
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"`
}

func (alertmanager) requests(p *Provider, e *Event) ([]request, error) {
	name, severity := "GitsyncSyncChanged", "info"
	var ends *time.Time
	switch e.Reason {
	case ReasonFailed:
		name, severity = "GitsyncSyncFailed", "error"
	case ReasonRecovered:
		name, severity = "GitsyncSyncFailed", "error"
		t := e.Time.UTC()
		ends = &t
	case ReasonSucceeded:
		name = "GitsyncSyncSucceeded"
	}
	labels := map[string]string{"alertname": name, "severity": severity, "sync": e.Sync, "namespace": e.Namespace}
	for k, v := range e.Metadata {
		if _, taken := labels[k]; !taken {
			labels[k] = v
		}
	}
	ann := map[string]string{"message": e.Message, "reason": e.Reason}
	if e.Revision != "" {
		ann["revision"] = e.Revision
	}
	if e.Summary != "" {
		ann["summary"] = e.Summary
	}
	return jsonRequest(p.Address, []Alert{{Labels: labels, Annotations: ann, StartsAt: e.Time.UTC(), EndsAt: ends}}, nil)
}
