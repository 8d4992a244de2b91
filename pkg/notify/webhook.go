package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"time"
)

// generic posts the event as JSON to the address (Flux's generic); with
// hmac, it signs the body with the token as HMAC-SHA256 key in the header
// X-Signature: sha256=<hex> (Flux's generic-hmac), so the receiver can
// check who sent it.
type generic struct{ hmac bool }

// GenericPayload is the JSON body of the generic and generic-hmac
// providers: Flux's event fields (involvedObject, severity, timestamp,
// message, reason, metadata, reportingController) and what a run knows
// beyond them.
type GenericPayload struct {
	InvolvedObject      ObjectReference   `json:"involvedObject"`
	Severity            string            `json:"severity"`
	Timestamp           time.Time         `json:"timestamp"`
	Message             string            `json:"message"`
	Reason              string            `json:"reason"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	ReportingController string            `json:"reportingController"`
	// Counts holds the number of objects per apply and prune action.
	Counts map[string]int `json:"counts,omitempty"`
	// Changed names the objects the run changed, at most MaxChanged;
	// MoreChanged counts the others.
	Changed     []string `json:"changed,omitempty"`
	MoreChanged int      `json:"moreChanged,omitempty"`
}

// ObjectReference names the sync an event is about.
type ObjectReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// SignatureHeader is the header generic-hmac signs the body in.
const SignatureHeader = "X-Signature"

// Sign returns the value of SignatureHeader for body and key.
func Sign(body []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// genericPayload is e as the generic providers send it.
func genericPayload(e *Event) GenericPayload {
	involved := ObjectReference{APIVersion: "gitsync.io/v1alpha1", Kind: "Sync", Namespace: e.Namespace, Name: e.Sync}
	if e.Involved != nil {
		involved = *e.Involved
	}
	return GenericPayload{
		InvolvedObject:      involved,
		Severity:            e.Severity(),
		Timestamp:           e.Time.UTC(),
		Message:             e.Message,
		Reason:              e.Reason,
		Metadata:            metadata(e),
		ReportingController: "gitsync",
		Counts:              e.Counts,
		Changed:             e.Changed,
		MoreChanged:         e.MoreChanged,
	}
}

func (g generic) requests(p *Provider, e *Event) ([]request, error) {
	body, err := json.Marshal(genericPayload(e))
	if err != nil {
		return nil, err
	}
	r := request{method: http.MethodPost, url: p.Address, body: body}
	if g.hmac {
		if p.Token == "" {
			return nil, errNoToken("the HMAC key")
		}
		r.header = http.Header{SignatureHeader: {Sign(body, p.Token)}}
	}
	return []request{r}, nil
}

// metadata is Flux's event metadata: the revision, the summary and the
// spec's eventMetadata (which cannot override the first two).
func metadata(e *Event) map[string]string {
	m := maps.Clone(e.Metadata)
	if m == nil {
		m = map[string]string{}
	}
	if e.Revision != "" {
		m["revision"] = e.Revision
	}
	if e.Summary != "" {
		m["summary"] = e.Summary
	}
	return m
}

type tokenError struct{ what string }

func (t *tokenError) Error() string {
	return "no token: the provider's Secret must hold " + t.what + " under key token"
}

func errNoToken(what string) error { return &tokenError{what} }
