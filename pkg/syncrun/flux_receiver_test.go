package syncrun

import (
	"strings"
	"testing"
)

// TestFluxReceiverNotRun: a Receiver in a Flux tree is read, never run,
// and does not fail the run, which says it did not run it and why; one
// with a mistake fails, named, as any Flux object that cannot be read.
func TestFluxReceiverNotRun(t *testing.T) {
	receiver := func(spec string) string {
		return "apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata: {name: github, namespace: NS}\nspec:\n" + spec
	}
	f := newFluxSync(t, map[string]string{
		"clusters/test/flux-system/gotk-sync.yaml": ownRepository,
		"clusters/test/apps.yaml":                  kustomization("apps", "./apps", ""),
		"clusters/test/receiver.yaml": receiver("  type: github\n  events: [ping, push]\n  secretRef: {name: webhook-token}\n" +
			"  resources: [{kind: GitRepository, name: NS}]\n"),
		"apps/cm.yaml": cm("app", "1"),
	})
	res := f.run()
	mustUnitsSucceed(t, res)
	if !strings.Contains(res.Message, "Receiver/"+f.ns+"/github: not run: gitsync runs no resident server to take webhooks") {
		t.Errorf("message %q does not say the Receiver was not run", res.Message)
	}
	if _, err := f.configMap("app"); err != nil {
		t.Errorf("the tree's objects: %v", err)
	}

	f.commit(expandNS(map[string]string{"clusters/test/receiver.yaml": receiver("  type: github\n  resources: [{kind: GitRepository, name: NS}]\n")}, f.ns))
	res = f.run()
	u := units(res)["Receiver/"+f.ns+"/github"]
	if res.Outcome != Failed || u.Outcome != Failed || !strings.Contains(u.Message, "spec.secretRef: required") {
		t.Errorf("a Receiver without secretRef: run %s, unit %s %q", res.Outcome, u.Outcome, u.Message)
	}
}
