package cli

import (
	"context"
	"io"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/metrics"
)

// outputPrometheus is `status -o prometheus`: the metrics a run pushes
// (pkg/metrics), made from the records, in Prometheus' text format.
const outputPrometheus = "prometheus"

// printPrometheus prints the metrics of the syncs status selects, for a
// node exporter's textfile collector or a cluster without a Pushgateway.
func (o *statusOptions) printPrometheus(ctx context.Context) error {
	var items []action.SyncStatus
	if o.Name != "" {
		st, err := action.Status(ctx, o.cfg, action.StatusOptions{Ref: o.ref()})
		if err != nil {
			return err
		}
		items = append(items, *st)
	} else {
		list, err := action.StatusOfAll(ctx, o.cfg, action.ListOptions{Namespace: o.listNamespace()})
		if err != nil {
			return err
		}
		items = list.Items
	}
	return writePrometheus(o.Out, items)
}

func writePrometheus(w io.Writer, items []action.SyncStatus) error {
	syncs := make([]metrics.Sync, 0, len(items))
	for _, st := range items {
		rec := inventory.Record{
			LastAppliedRevision:   st.LastAppliedRevision,
			LastAttemptedRevision: st.LastAttemptedRevision,
		}
		if st.LastAppliedTime != nil {
			rec.LastAppliedTime = *st.LastAppliedTime
		}
		if st.LastRun != nil {
			rec.LastRun = *st.LastRun
			// Runs since that found nothing to do recorded nothing; their
			// Jobs say when they ended (lastCheckedTime), and they succeeded
			// as the recorded run did.
			if c := st.LastCheckedTime; c != nil && rec.LastRun.Result == inventory.ResultSucceeded && c.After(rec.LastRun.End) {
				rec.LastRun.End, rec.LastAppliedTime = *c, *c
			}
		}
		suspended := st.Suspended
		syncs = append(syncs, metrics.Sync{Namespace: st.Namespace, Name: st.Name, Record: rec, Objects: st.Objects, Suspended: &suspended})
	}
	return metrics.WriteText(w, syncs)
}
