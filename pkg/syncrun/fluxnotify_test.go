package syncrun

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/notify"
)

const fluxNotifyObjects = `---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: NS}
spec:
  type: generic-hmac
  secretRef: {name: hook}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: web, namespace: NS}
spec:
  providerRef: {name: hook}
  summary: prod
  eventMetadata: {cluster: eu}
  eventSources:
  - {kind: Kustomization, name: web}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: web-errors, namespace: NS}
spec:
  providerRef: {name: hook}
  eventSeverity: error
  summary: errors
  eventSources:
  - {kind: Kustomization, name: '*', matchLabels: {tier: front}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: nats, namespace: NS}
spec: {type: nats, address: 'nats://nats.messaging:4222', channel: flux}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {name: chat, namespace: NS}
spec:
  providerRef: {name: nats}
  eventSources:
  - {kind: Kustomization, name: web}
`

// TestFluxAlerts: a Flux tree holding a generic-hmac Provider (address and
// key from a Secret) and an Alert for one of two Kustomizations, on the
// real control plane. The first run sends one Changed event for that unit
// and none for the other; an unchanged run sends nothing; a failing unit
// sends one error event. An Alert whose Provider has a type gitsync lacks
// is recorded as failed, naming the type, without failing the run. Neither
// the key nor the address reaches the record.
func TestFluxAlerts(t *testing.T) {
	key := "hmac-KEY-S3CRET"
	rcv := newHookReceiver(t, key)
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/units.yaml":                 strings.Replace(kustomization("web", "./web", ""), "  namespace: NS\n", "  namespace: NS\n  labels: {tier: front}\n", 1) + kustomization("db", "./db", ""),
		"clusters/test/notify.yaml":                fluxNotifyObjects,
		"web/cm.yaml":                              cm("web", "1"),
		"db/cm.yaml":                               cm("db", "1"),
	})
	if _, err := env.Client().CoreV1().Secrets(f.ns).Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook"},
		StringData: map[string]string{"address": rcv.URL + "/hooks/S3CRETPATH", "token": key}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web, alertWeb, alertChat := "Kustomization/"+f.ns+"/web", "Alert/"+f.ns+"/web", "Alert/"+f.ns+"/chat"

	res := f.run()
	f.mustSucceed(res)
	f.mustHave("web", "db")
	events, bad := rcv.take()
	if len(bad) > 0 || len(events) != 1 || events[0] != "Kustomization/web Changed info prod eu" {
		t.Errorf("first run: the receiver got %q (bad %q), want one Changed event for web", events, bad)
	}
	got := map[string]notify.Delivery{}
	for _, d := range res.Notify {
		got[d.Alert] = d
	}
	if d := got[alertWeb]; d.Result != notify.Sent || d.Object != web || d.Reason != notify.ReasonChanged || d.Provider != "Provider/"+f.ns+"/hook" {
		t.Errorf("first run: delivery of %s: %+v", alertWeb, d)
	}
	if d := got[alertChat]; d.Result != notify.Failed || !strings.Contains(d.Error, `spec.type: "nats" is not a provider type gitsync sends to`) {
		t.Errorf("first run: delivery of %s: %+v, want Failed naming the type", alertChat, d)
	}
	if len(res.Notify) != 2 {
		t.Errorf("first run: deliveries %+v, want one per Alert", res.Notify)
	}
	rec, _ := json.Marshal(f.inventory().Record)
	if !strings.Contains(string(rec), `"alert":"`+alertWeb+`"`) {
		t.Errorf("the record does not keep the delivery: %s", rec)
	}
	for _, secret := range []string{key, "S3CRETPATH"} {
		if strings.Contains(string(rec), secret) {
			t.Errorf("the record holds a secret (%s)", secret)
		}
	}

	res = f.run()
	f.mustSucceed(res)
	if events, bad := rcv.take(); len(events)+len(bad) > 0 {
		t.Errorf("unchanged run: the receiver got %q %q, want nothing", events, bad)
	}
	if len(res.Notify) != 0 {
		t.Errorf("unchanged run: deliveries %+v", res.Notify)
	}

	f.commit(map[string]string{"web/cm.yaml": "kind: [unclosed"})
	res = f.run()
	if res.Outcome != Failed {
		t.Fatalf("broken web: the run %s (%s)", res.Outcome, res.Message)
	}
	events, bad = rcv.take()
	slices.Sort(events)
	if want := []string{"Kustomization/web Failed error errors ", "Kustomization/web Failed error prod eu"}; len(bad) > 0 || !slices.Equal(events, want) {
		t.Errorf("failing unit: the receiver got %q (bad %q), want %q (both Alerts)", events, bad, want)
	}

	res = f.run()
	if events, bad := rcv.take(); res.Outcome != Failed || len(events)+len(bad) > 0 {
		t.Errorf("failing again at the same revision: %s, the receiver got %q %q, want nothing", res.Outcome, events, bad)
	}

	f.commit(map[string]string{"web/cm.yaml": cm("web", "2")})
	f.mustSucceed(f.run())
	events, bad = rcv.take()
	if len(bad) > 0 || len(events) != 1 || events[0] != "Kustomization/web Recovered info prod eu" {
		t.Errorf("recovery: the receiver got %q (bad %q), want one Recovered event (not to the error-only Alert)", events, bad)
	}
}
