package syncrun

import (
	"context"
	"fmt"
	"strings"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/notify"
)

// fluxNotify sends the events of the run's Flux units through the Flux
// Alerts and Providers of the tree (docs/notifications.md, "Flux Alerts and
// Providers"). Each unit's event is decided against the unit's previous
// record, with spec.notify's rule (notify.Classify): a change, a failure
// (once per revision) or a recovery is sent, a quiet success is not. Each
// Alert whose eventSources match the unit sends through its Provider with
// pkg/notify's senders. A delivery that fails, or an Alert that cannot
// send (its Provider is missing, suspended, of a type gitsync lacks, its
// Secret unreadable), is recorded in res.Notify and logged; it never fails
// the run.
func (r *runner) fluxNotify(ctx context.Context, g *flux.Graph, prev []inventory.UnitRecord, units []UnitResult, res *Result) {
	if r.checking() {
		return // the run under the Lease sends, once
	}
	var alerts []*flux.Alert
	for _, o := range g.Objects(flux.KindAlert) {
		if a, ok := o.(*flux.Alert); ok && !a.Suspend {
			alerts = append(alerts, a)
		}
	}
	if len(alerts) == 0 {
		return
	}
	before := map[flux.ID]inventory.UnitRecord{}
	for _, p := range prev {
		before[flux.ID{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}] = p
	}
	nctx, cancel := r.notifyContext(ctx)
	defer cancel()
	for i := range units {
		u := &units[i]
		if u.State == "" || u.Removed || u.Suspended || u.Outcome == Skipped {
			continue
		}
		o := g.Object(u.ID)
		if o == nil {
			continue
		}
		p := before[u.ID]
		last := notify.Previous{Result: string(p.Result), Revision: p.Revision}
		if p.Result == inventory.ResultSucceeded {
			last.AppliedRevision = p.Revision
		}
		changed := changedObjects(&u.Result)
		reason := notify.Classify(last, u.Outcome != Succeeded, u.Revision, len(changed))
		if reason == "" || reason == notify.ReasonSucceeded {
			continue
		}
		m := o.Metadata()
		e := notify.Event{
			Sync: r.opts.Name, Namespace: r.opts.Namespace, Reason: reason, Revision: u.Revision,
			Message: r.secrets.Text(u.Message), Counts: u.Counts(), Time: u.End,
			Involved: &notify.ObjectReference{APIVersion: m.APIVersion, Kind: u.ID.Kind, Namespace: u.ID.Namespace, Name: u.ID.Name},
		}
		e.Changed, e.MoreChanged = notify.ChangedObjects(changed)
		for _, a := range alerts {
			if !a.Matches(m) || !a.Admits(e.Message) {
				continue
			}
			pr, skip := r.alertProvider(nctx, g, a)
			if skip || !pr.Wants(reason) {
				continue
			}
			ev := e
			ev.Summary, ev.Metadata = a.Summary, a.EventMetadata
			for _, d := range notify.Send(nctx, []notify.Provider{pr}, ev, notify.Options{}) {
				d.Alert, d.Object = a.ID.String(), u.ID.String()
				if d.Result == notify.Failed {
					r.log.Warn("notification not delivered", "alert", d.Alert, "object", d.Object, "provider", d.Provider,
						"type", d.Type, "reason", d.Reason, "attempts", d.Attempts, "error", d.Error)
				} else {
					r.log.Info("notification", "alert", d.Alert, "object", d.Object, "provider", d.Provider,
						"type", d.Type, "reason", d.Reason, "result", d.Result)
				}
				res.Notify = append(res.Notify, d)
			}
		}
	}
}

// alertProvider resolves the Provider of Alert a, its Secret read in the
// Provider's namespace. A Provider that cannot be used is returned with
// Err set, so that the delivery records why; skip is set for a suspended
// Provider, which sends nothing, as in Flux.
func (r *runner) alertProvider(ctx context.Context, g *flux.Graph, a *flux.Alert) (notify.Provider, bool) {
	pr := notify.Provider{Name: a.ProviderRef.String(), Type: "unknown", EventSeverity: a.EventSeverity}
	switch p := g.Object(a.ProviderRef).(type) {
	case nil:
		pr.Err = fmt.Errorf("%s: spec.providerRef: %s is not in the run", a.ID, a.ProviderRef)
	case *flux.Provider:
		if p.Suspend {
			return pr, true
		}
		pr.Type, pr.Address, pr.Channel, pr.Username, pr.Timeout = p.Type, p.Address, p.Channel, p.Username, p.Timeout
		if !isSender(p.Type) {
			pr.Err = fmt.Errorf("%s: spec.type: %q is not a provider type gitsync sends to (it sends to %s), so %s sends nothing",
				p.ID, p.Type, strings.Join(notify.Types(), ", "), a.ID)
		} else if p.SecretRef != "" {
			pr.Err = r.readProviderSecret(ctx, p.ID.Namespace, p.SecretRef, p.ID.String()+" spec.secretRef", &pr)
		}
	default:
		pr.Err = fmt.Errorf("%s: spec.providerRef: %s could not be read (see its own error)", a.ID, a.ProviderRef)
	}
	return pr, false
}

func isSender(t string) bool {
	for _, s := range notify.Types() {
		if s == t {
			return true
		}
	}
	return false
}
