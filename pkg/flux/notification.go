package flux

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Flux's notification kinds (notification-controller): a Provider says
// where events go and an Alert which units' events go there. gitsync has no
// event stream to watch: a run sends, at its end, one event per unit whose
// result is worth telling (changed, failed, recovered), to the Providers of
// the Alerts whose eventSources match the unit (docs/notifications.md).

// NotificationGroup is the API group of Flux's notification kinds.
const NotificationGroup = "notification.toolkit.fluxcd.io"

// Notification kinds this package decodes.
const (
	KindProvider = "Provider"
	KindAlert    = "Alert"
	KindReceiver = "Receiver"
)

// SeverityError is the Alert eventSeverity that keeps failures only.
const SeverityError = "error"

// Provider is a notification.toolkit.fluxcd.io Provider.
type Provider struct {
	Meta
	// Type is Flux's provider type; a type gitsync cannot send to is
	// refused when an Alert uses the Provider, not when it is read.
	Type string
	// Address, Channel and Username as Flux's; the Secret's address key
	// wins over Address.
	Address, Channel, Username string
	// SecretRef names a Secret in the Provider's namespace with keys
	// address, token and headers. "" for none.
	SecretRef string
	// Timeout bounds one delivery, retries included; 0 for the default.
	Timeout time.Duration
	// Suspend: nothing is sent through the Provider.
	Suspend bool
}

// EventSource selects the objects whose events an Alert sends.
type EventSource struct {
	// Kind of the objects; Name is a name or "*" for all of Kind in
	// Namespace (the Alert's when not set).
	Kind, Name, Namespace string
	// MatchLabels narrows Name "*" to the objects with these labels.
	MatchLabels map[string]string
}

// Alert is a notification.toolkit.fluxcd.io Alert.
type Alert struct {
	Meta
	// ProviderRef is the Provider, in the Alert's namespace.
	ProviderRef ID
	// EventSources select the objects whose events are sent.
	EventSources []EventSource
	// EventSeverity is info (every event) or error (failures only).
	EventSeverity string
	// InclusionList and ExclusionList filter events by their message:
	// an event is sent when it matches one of InclusionList (when set)
	// and none of ExclusionList.
	InclusionList, ExclusionList []*regexp.Regexp
	// EventMetadata is added to every event's metadata; Summary too, as
	// metadata summary.
	EventMetadata map[string]string
	Summary       string
	// Suspend: the Alert sends nothing.
	Suspend bool
}

// Matches reports whether the Alert sends the events of the object m.
func (a *Alert) Matches(m *Meta) bool {
	for _, s := range a.EventSources {
		ns := orDefault(s.Namespace, a.ID.Namespace)
		if s.Kind != m.ID.Kind || ns != m.ID.Namespace {
			continue
		}
		if s.Name == "*" {
			if labels.SelectorFromSet(s.MatchLabels).Matches(labels.Set(m.Labels)) {
				return true
			}
			continue
		}
		if s.Name == m.ID.Name {
			return true
		}
	}
	return false
}

// Admits reports whether an event with message passes the Alert's
// inclusion and exclusion lists.
func (a *Alert) Admits(message string) bool {
	if len(a.InclusionList) > 0 && !slices.ContainsFunc(a.InclusionList, func(re *regexp.Regexp) bool { return re.MatchString(message) }) {
		return false
	}
	return !slices.ContainsFunc(a.ExclusionList, func(re *regexp.Regexp) bool { return re.MatchString(message) })
}

// Objects returns every object of the graph of kind, sorted by ID.
func (g *Graph) Objects(kind string) []Object {
	var out []Object
	for id, o := range g.objects {
		if id.Kind == kind {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Metadata().ID.String(), b.Metadata().ID.String()) })
	return out
}

var notificationVersions = []string{"v1beta3", "v1beta2", "v1beta1"}

// eventSourceKinds are the kinds an Alert's eventSources may name, as
// Flux's CRD enumerates them.
var eventSourceKinds = []string{"Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart",
	"HelmRepository", "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "OCIRepository",
	"ArtifactGenerator", "ExternalArtifact", "FluxInstance", "ResourceSet", "ResourceSetInputProvider"}

const (
	noteNotifyTLS   = "gitsync's senders trust the system's CAs only; use a receiver with a publicly trusted certificate"
	noteNotifyProxy = "set HTTPS_PROXY in the sync's Job environment instead"
)

// Receiver is a notification.toolkit.fluxcd.io Receiver: a webhook
// endpoint that makes Flux reconcile at once on a forge's or registry's
// push. gitsync runs no resident server to take webhooks: a Receiver is
// read (so that a mistake in it is still named) and never run; each run
// says so (NoteReceiver).
type Receiver struct {
	Meta
}

// NoteReceiver says what gitsync does instead of running a Receiver.
const NoteReceiver = "not run: gitsync runs no resident server to take webhooks; the sync's schedule picks the push up, " +
	"or call `kubectl gitsync run NAME` from the forge's CI"

// notificationSchemas are the schemas of Provider, Alert and Receiver.
func notificationSchemas() []*kindSchema {
	return []*kindSchema{
		{group: NotificationGroup, kind: KindReceiver, versions: []string{"v1", "v1beta2", "v1beta1"}, spec: []field{
			ignF("type", tString, NoteReceiver).req().oneOf("generic", "generic-hmac", "github", "gitlab", "bitbucket",
				"harbor", "dockerhub", "quay", "gcr", "nexus", "acr", "cdevents"),
			ignF("interval", tDuration, NoteReceiver).only("v1", "v1beta2"),
			ignF("events", tStrings, NoteReceiver),
			ignF("resources", tObjects, NoteReceiver).sub(
				ignF("apiVersion", tString, ""),
				ignF("kind", tString, "").req(),
				ignF("name", tString, "").req(),
				ignF("namespace", tString, ""),
				ignF("matchLabels", tStringMap, ""),
			),
			ignF("resourceFilter", tString, NoteReceiver).only("v1"),
			ignF("secretRef", tObject, NoteReceiver).req().sub(ignF("name", tString, "").req()),
			ignF("suspend", tBool, NoteReceiver),
		}},
		{group: NotificationGroup, kind: KindProvider, versions: notificationVersions, spec: []field{
			mapF("type", tString, "the sender: generic, generic-hmac, slack, rocket, msteams, discord, googlechat, matrix, ntfy, telegram, lark, webex, "+
				"grafana, alertmanager, opsgenie, pagerduty, datadog, github, githubdispatch, gitlab, gitea, bitbucket, bitbucketserver, azuredevops; any other type fails each Alert using the Provider (not the run)").req(),
			ignF("interval", tDuration, "deprecated in Flux; events are sent at the end of the run"),
			mapF("channel", tString, "as `spec.notify[].channel` (matrix: the room ID; ntfy: the topic; telegram: the chat ID; webex: the room ID; pagerduty: the routing key)"),
			mapF("username", tString, "as `spec.notify[].username`"),
			mapF("address", tString, "the receiver's URL; the Secret's `address` key wins over it"),
			mapF("timeout", tDuration, "bounds one delivery, retries included; default 15s"),
			refF("proxy", noteNotifyProxy, ""),
			refF("proxySecretRef", noteNotifyProxy, "").only("v1beta3"),
			secretRefF("secretRef", "a Secret in the Provider's namespace with keys `address`, `token`, `headers`"),
			refF("certSecretRef", noteNotifyTLS, ""),
			refF("commitStatusExpr", "the commit status context is `gitsync/NAMESPACE/SYNC`", "").only("v1beta3"),
			refF("serviceAccountName", "workload identity for cloud providers; gitsync has no sender that uses it", "").only("v1beta3"),
			mapF("suspend", tBool, "nothing is sent through the Provider"),
		}},
		{group: NotificationGroup, kind: KindAlert, versions: notificationVersions, spec: []field{
			{name: "providerRef", typ: tObject, how: mapped, fields: []field{
				mapF("name", tString, "a Provider of the Alert's namespace").req(),
			}, required: true},
			{name: "eventSources", typ: tObjects, how: mapped, required: true, fields: []field{
				ignF("apiVersion", tString, "the kind identifies the objects"),
				mapF("kind", tString, "Kustomization and HelmRelease units send events; other kinds never do in gitsync "+
					"(a source's failure is its units' failure)").req().oneOf(eventSourceKinds...),
				mapF("name", tString, "a name, or `*` for every object of the kind in the namespace").req(),
				mapF("namespace", tString, "default: the Alert's namespace"),
				mapF("matchLabels", tStringMap, "with name `*`: only the objects with these labels"),
			}},
			mapF("eventSeverity", tString, "`info` (default): changes, failures and recoveries; `error`: failures only").oneOf("info", "error"),
			mapF("inclusionList", tStrings, "regular expressions: only events whose message matches one are sent").only("v1beta3", "v1beta2"),
			mapF("exclusionList", tStrings, "regular expressions: events whose message matches one are not sent"),
			mapF("eventMetadata", tStringMap, "added to each event's metadata").only("v1beta3", "v1beta2"),
			mapF("summary", tString, "added to each event's metadata as `summary`"),
			mapF("suspend", tBool, "the Alert sends nothing"),
		}},
	}
}

func decodeProvider(meta Meta, r reader) *Provider {
	p := &Provider{Meta: meta, Type: r.str("type"), Channel: r.str("channel"), Username: r.str("username"),
		Address: r.str("address"), Timeout: r.duration("timeout", 0), Suspend: r.boolean("suspend")}
	p.SecretRef = r.obj("secretRef").str("name")
	return p
}

func decodeAlert(d *decoder, meta Meta, r reader) *Alert {
	a := &Alert{Meta: meta, EventSeverity: orDefault(r.str("eventSeverity"), "info"),
		EventMetadata: r.strMap("eventMetadata"), Summary: r.str("summary"), Suspend: r.boolean("suspend")}
	a.ProviderRef = ID{Kind: KindProvider, Namespace: meta.ID.Namespace, Name: r.obj("providerRef").str("name")}
	for _, s := range r.list("eventSources") {
		a.EventSources = append(a.EventSources, EventSource{Kind: s.str("kind"), Name: s.str("name"),
			Namespace: s.str("namespace"), MatchLabels: s.strMap("matchLabels")})
	}
	compile := func(name string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for i, e := range r.strs(name) {
			re, err := regexp.Compile(e)
			if err != nil {
				d.errorf(fmt.Sprintf("%s[%d]", r.at(name), i), ErrInvalid, "not a regular expression: %v", err)
				continue
			}
			out = append(out, re)
		}
		return out
	}
	a.InclusionList, a.ExclusionList = compile("inclusionList"), compile("exclusionList")
	return a
}
