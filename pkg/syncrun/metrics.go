package syncrun

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/metrics"
)

// pushMetrics pushes the run's metrics to spec.metrics.pushgateway, after
// the record is written and the Lease released: the metrics are the
// record's, and the push needs no Lease. A failed push is logged; it does
// not change the run's outcome, and the next run pushes again.
func (r *runner) pushMetrics(ctx context.Context, inv *inventory.Inventory, res *Result) {
	m := r.sync.Spec.Metrics
	if m == nil || m.Pushgateway == nil || res.Outcome == Busy {
		return
	}
	pg := m.Pushgateway
	opts := metrics.PushOptions{URL: pg.URL}
	if pg.Timeout != nil {
		opts.Timeout = pg.Timeout.Duration
	}
	// Detached from the run's context, as the record is.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if pg.SecretRef != nil {
		ref := fmt.Sprintf("Secret/%s/%s", r.opts.Namespace, pg.SecretRef.Name)
		s, err := r.client.Secrets(r.opts.Namespace).Get(pctx, pg.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			err = fmt.Errorf("not found")
		}
		if err == nil {
			r.secrets.AddData(s.Data)
		}
		if err != nil {
			r.log.Warn("metrics not pushed", "error", fmt.Sprintf("%s (spec.metrics.pushgateway.secretRef): %v", ref, err))
			return
		}
		opts.Username, opts.Password, opts.BearerToken = string(s.Data["username"]), string(s.Data["password"]), string(s.Data["bearerToken"])
	}
	err := metrics.Push(pctx, opts, metrics.Sync{
		Namespace: r.opts.Namespace, Name: r.opts.Name, Record: inv.Record, Objects: len(inv.Entries),
		PeakRSS: metrics.SelfPeakRSS(),
	})
	if err != nil {
		r.log.Warn("metrics not pushed", "error", err)
		return
	}
	r.log.Info("metrics pushed", "pushgateway", "spec.metrics.pushgateway")
}
