package spec

import (
	"fmt"
	"net/url"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gitsync/gitsync/pkg/notify"
)

// NotifyProvider is one receiver of a sync's run events (spec.notify[i]):
// Flux's Provider (type, address, channel, username, secretRef, timeout)
// and Alert (eventSeverity, summary, eventMetadata) in one entry. Secrets —
// webhook URLs, tokens, HMAC keys — come from the Secret SecretRef names,
// with Flux's keys: address, token, headers (a YAML map of HTTP headers).
//
// spec.notify is not part of the spec's digest: changing who is told does
// not make the next run render again.
type NotifyProvider struct {
	// Name identifies the provider in the run's record; default Type, and
	// required when two providers have the same type.
	Name string `json:"name,omitempty"`
	// Type is one of notify.Types() (docs/notifications.md lists them):
	// chat (slack, msteams, discord, ...), incident tools, webhooks and
	// commit statuses (github, gitlab, gitea, bitbucket, azuredevops, ...).
	Type string `json:"type"`
	// Address is the receiver's URL when it holds no secret (an
	// Alertmanager, a repository URL for a commit status); the Secret's
	// address key wins over it.
	Address string `json:"address,omitempty"`
	// Channel overrides the webhook's channel (slack) or names the room,
	// topic or chat (matrix, webex, ntfy, telegram).
	Channel string `json:"channel,omitempty"`
	// Username overrides the webhook's user name (slack, discord).
	Username string `json:"username,omitempty"`
	// SecretRef names a Secret in the sync's namespace with keys address,
	// token and headers. The sync's Job may read exactly these Secrets.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Timeout bounds one delivery, retries included. Default
	// notify.DefaultTimeout (15s).
	Timeout *Duration `json:"timeout,omitempty"`
	// Events lists the reasons to send: Failed, Recovered, Changed,
	// Succeeded (every successful run). Default Failed, Recovered, Changed.
	Events []string `json:"events,omitempty"`
	// EventSeverity is info (all of Events) or error (failures only), as
	// Flux's Alert. Default info.
	EventSeverity string `json:"eventSeverity,omitempty"`
	// Summary is added to every event (Flux Alert's summary): which
	// cluster, which environment.
	Summary string `json:"summary,omitempty"`
	// EventMetadata is added to every event's metadata, as Flux Alert's.
	EventMetadata map[string]string `json:"eventMetadata,omitempty"`
}

// ProviderName returns the provider's name: Name, else Type.
func (n *NotifyProvider) ProviderName() string {
	if n.Name != "" {
		return n.Name
	}
	return n.Type
}

// MetricsSpec says where a run's metrics go (spec.metrics). Not part of
// the spec's digest.
type MetricsSpec struct {
	// Pushgateway receives the run's metrics after each run, grouped by
	// job gitsync, namespace and sync.
	Pushgateway *PushgatewaySpec `json:"pushgateway,omitempty"`
}

// PushgatewaySpec is a Prometheus Pushgateway.
type PushgatewaySpec struct {
	// URL is the Pushgateway's base URL, http(s)://HOST:9091.
	URL string `json:"url"`
	// SecretRef names a Secret with username and password for basic
	// authentication, or bearerToken. Optional.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Timeout bounds the push. Default 10s.
	Timeout *Duration `json:"timeout,omitempty"`
}

func validateNotify(p *field.Path, providers []NotifyProvider) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]int{}
	for i := range providers {
		n := &providers[i]
		ip := p.Index(i)
		if n.Name != "" {
			errs = append(errs, dns1123Label(ip.Child("name"), n.Name)...)
		}
		if j, dup := seen[n.ProviderName()]; dup {
			errs = append(errs, field.Duplicate(ip.Child("name"),
				fmt.Sprintf("%s (also spec.notify[%d]; name the providers apart)", n.ProviderName(), j)))
		}
		seen[n.ProviderName()] = i
		switch {
		case n.Type == "":
			errs = append(errs, field.Required(ip.Child("type"), "one of "+fmt.Sprint(notify.Types())))
		case !slices.Contains(notify.Types(), n.Type):
			errs = append(errs, field.NotSupported(ip.Child("type"), n.Type, notify.Types()))
		}
		if n.Address != "" {
			errs = append(errs, validateNotifyAddress(ip.Child("address"), n.Address)...)
		}
		if n.SecretRef == nil && n.Address == "" {
			errs = append(errs, field.Required(ip.Child("secretRef"),
				"a Secret with the receiver's address (and token), or spec.notify[].address for one that holds no secret"))
		}
		if n.SecretRef != nil {
			errs = append(errs, validateRefName(ip.Child("secretRef", "name"), n.SecretRef.Name)...)
		}
		if notify.IsCommitStatus(n.Type) && n.SecretRef == nil {
			errs = append(errs, field.Required(ip.Child("secretRef"), "a Secret with the forge's API token (key token)"))
		}
		errs = append(errs, validateDuration(ip.Child("timeout"), n.Timeout)...)
		for j, e := range n.Events {
			if !slices.Contains(notify.Reasons, e) {
				errs = append(errs, field.NotSupported(ip.Child("events").Index(j), e, notify.Reasons))
			}
		}
		if s := n.EventSeverity; s != "" && s != notify.SeverityInfo && s != notify.SeverityError {
			errs = append(errs, field.NotSupported(ip.Child("eventSeverity"), s, []string{notify.SeverityInfo, notify.SeverityError}))
		}
	}
	return errs
}

// validateNotifyAddress refuses an address in the spec that carries a
// credential: those belong in the Secret. The value is never echoed.
func validateNotifyAddress(p *field.Path, address string) field.ErrorList {
	u, err := url.Parse(address)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "must be an http(s) URL")}
	case u.User != nil || u.RawQuery != "":
		return field.ErrorList{field.Invalid(p, field.OmitValueType{},
			"must not hold a credential (user info or query): put the address in the Secret's address key")}
	}
	return nil
}

func (m *MetricsSpec) validate(p *field.Path) field.ErrorList {
	if m == nil || m.Pushgateway == nil {
		return nil
	}
	pg := m.Pushgateway
	var errs field.ErrorList
	if pg.URL == "" {
		errs = append(errs, field.Required(p.Child("pushgateway", "url"), "the Pushgateway's URL, http(s)://HOST:9091"))
	} else {
		errs = append(errs, validateNotifyAddress(p.Child("pushgateway", "url"), pg.URL)...)
	}
	if pg.SecretRef != nil {
		errs = append(errs, validateRefName(p.Child("pushgateway", "secretRef", "name"), pg.SecretRef.Name)...)
	}
	return append(errs, validateDuration(p.Child("pushgateway", "timeout"), pg.Timeout)...)
}

// notifySecretNames returns the Secrets spec.notify and spec.metrics name.
func (s *SyncSpec) notifySecretNames() []string {
	var out []string
	for _, n := range s.Notify {
		if n.SecretRef != nil {
			out = append(out, n.SecretRef.Name)
		}
	}
	if s.Metrics != nil && s.Metrics.Pushgateway != nil && s.Metrics.Pushgateway.SecretRef != nil {
		out = append(out, s.Metrics.Pushgateway.SecretRef.Name)
	}
	return out
}
