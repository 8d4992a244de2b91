package notify

import "testing"

// TestInvolvedUnit: the event of a Flux unit names the unit, not the sync:
// as involvedObject of the generic payload, and in the commit status
// context, so that the unit's check does not overwrite the sync's.
func TestInvolvedUnit(t *testing.T) {
	rcv := newReceiver(t)
	e := testEvent(ReasonFailed)
	e.Involved = &ObjectReference{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: "apps", Name: "front"}
	if d := sendOne(t, Provider{Type: "generic", Address: rcv.URL}, e); d.Result != Sent {
		t.Fatal(d)
	}
	p := decode[GenericPayload](t, rcv.requests()[len(rcv.requests())-1].Body)
	if p.InvolvedObject != *e.Involved {
		t.Errorf("involvedObject %+v, want %+v", p.InvolvedObject, *e.Involved)
	}
	if d := sendOne(t, Provider{Type: "github", Address: rcv.URL + "/org/app", Token: "T"}, e); d.Result != Sent {
		t.Fatal(d)
	}
	body := decode[map[string]string](t, rcv.requests()[len(rcv.requests())-1].Body)
	if want := "gitsync/apps/web/kustomization/front"; body["context"] != want {
		t.Errorf("context %q, want %q", body["context"], want)
	}
	if got := e.Object(); got != "Kustomization/apps/front" {
		t.Errorf("Object() = %q", got)
	}
}
