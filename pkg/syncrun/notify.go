package syncrun

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/notify"
)

// maxNotifyBudget bounds the notifications of one run, whatever the
// providers' timeouts say: providers are sent to in parallel, and a Job's
// Pod has 30 seconds between SIGTERM and its end to notify, record and
// release the Lease (finishBudget).
const maxNotifyBudget = 20 * time.Second

// notifyContext returns a context detached from ctx, so that a run
// stopped by SIGTERM or its timeout still notifies, that ends
// maxNotifyBudget after the run's first notification began: spec.notify's
// providers and the Flux Alerts of the tree share that one budget, and the
// run still records and releases its Lease within its Pod's grace period.
func (r *runner) notifyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.notifyBy.IsZero() {
		r.notifyBy = time.Now().Add(maxNotifyBudget) // a context's deadline is on the real clock
	}
	return context.WithDeadline(context.WithoutCancel(ctx), r.notifyBy)
}

// notify tells spec.notify's providers what the run did, when it is worth
// telling (notify.Classify against the previous run's record), and keeps
// what became of each delivery in res.Notify for the record. It runs on a
// context detached from the run's, so that a run stopped by SIGTERM or its
// timeout still says so, and it never changes the run's outcome.
func (r *runner) notify(ctx context.Context, inv *inventory.Inventory, res *Result) {
	if len(r.sync.Spec.Notify) == 0 || res.Outcome == Busy {
		return
	}
	r.maskResult(res)
	prev := notify.Previous{
		Result:          string(inv.Record.LastRun.Result),
		Revision:        inv.Record.LastRun.Revision,
		AppliedRevision: inv.Record.LastAppliedRevision,
	}
	changed := changedObjects(res)
	reason := notify.Classify(prev, res.Outcome != Succeeded, res.Revision, len(changed))
	if reason == "" {
		return
	}
	nctx, cancel := r.notifyContext(ctx)
	defer cancel()
	providers := r.notifyProviders(nctx, reason)
	if len(providers) == 0 {
		return
	}
	e := notify.Event{
		Sync: r.opts.Name, Namespace: r.opts.Namespace, Reason: reason, Revision: res.Revision,
		Message: res.Message, Counts: res.Counts(), Time: res.End,
	}
	e.Changed, e.MoreChanged = notify.ChangedObjects(changed)
	// Summary and eventMetadata are per provider (they are Alert fields).
	var out []notify.Delivery
	for i := range providers {
		ev := e
		ev.Summary, ev.Metadata = providers[i].summary, providers[i].metadata
		out = append(out, notify.Send(nctx, []notify.Provider{providers[i].Provider}, ev, notify.Options{})...)
	}
	for _, d := range out {
		if d.Result == notify.Failed {
			r.log.Warn("notification not delivered", "provider", d.Provider, "type", d.Type, "reason", d.Reason, "attempts", d.Attempts, "error", d.Error)
		} else {
			r.log.Info("notification", "provider", d.Provider, "type", d.Type, "reason", d.Reason, "result", d.Result)
		}
	}
	// Appended: the events of Flux Alerts (fluxnotify.go) are there
	// already.
	res.Notify = append(res.Notify, out...)
}

// provider is a spec.notify entry resolved with its Secret.
type provider struct {
	notify.Provider
	summary  string
	metadata map[string]string
}

// notifyProviders resolves the providers that want reason, reading their
// Secrets. A provider whose Secret cannot be read is kept, with Err set,
// so that the record says why nothing was sent to it.
func (r *runner) notifyProviders(ctx context.Context, reason string) []provider {
	var out []provider
	for i := range r.sync.Spec.Notify {
		n := &r.sync.Spec.Notify[i]
		p := provider{
			Provider: notify.Provider{
				Name: n.ProviderName(), Type: n.Type, Address: n.Address, Channel: n.Channel, Username: n.Username,
				Events: n.Events, EventSeverity: n.EventSeverity,
			},
			summary: n.Summary, metadata: n.EventMetadata,
		}
		if n.Timeout != nil {
			p.Timeout = n.Timeout.Duration
		}
		if !p.Wants(reason) {
			continue
		}
		if n.SecretRef != nil {
			p.Err = r.readNotifySecret(ctx, n.SecretRef.Name, &p.Provider)
		}
		out = append(out, p)
	}
	return out
}

// readNotifySecret fills p from the Secret's keys address, token and
// headers, as Flux's Provider reads them. Its errors name the Secret and
// the key, never a value.
func (r *runner) readNotifySecret(ctx context.Context, name string, p *notify.Provider) error {
	return r.readProviderSecret(ctx, r.opts.Namespace, name, "spec.notify secretRef", p)
}

// readProviderSecret reads the Secret namespace/name that field names into
// p (see readNotifySecret).
func (r *runner) readProviderSecret(ctx context.Context, namespace, name, field string, p *notify.Provider) error {
	ref := fmt.Sprintf("Secret/%s/%s", namespace, name)
	s, err := r.client.Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s (%s): not found", ref, field)
	case err != nil:
		return fmt.Errorf("%s (%s): %w%s", ref, field, err, r.secretHint("Secret", namespace, name, err))
	}
	r.secrets.AddData(s.Data)
	if a := strings.TrimSpace(string(s.Data["address"])); a != "" {
		p.Address = a
	}
	p.Token = strings.TrimSpace(string(s.Data["token"]))
	if h, ok := s.Data["headers"]; ok {
		if err := yaml.Unmarshal(h, &p.Headers); err != nil {
			return fmt.Errorf("%s: key headers: must be a YAML map of header names to values", ref)
		}
	}
	return nil
}

// changedObjects names the objects the run created, configured, replaced
// or deleted.
func changedObjects(res *Result) []string {
	var out []string
	for _, cs := range []*apply.ChangeSet{res.Applied, res.Pruned} {
		if cs == nil {
			continue
		}
		for _, c := range cs.Changes {
			switch c.Action {
			case apply.Created, apply.Configured, apply.Replaced, apply.Deleted:
				out = append(out, c.ID.String())
			}
		}
	}
	return out
}
