package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gitsync/gitsync/pkg/notify"
	"github.com/gitsync/gitsync/pkg/spec"
)

// notifyFlags are install's flags for spec.notify and spec.metrics.
type notifyFlags struct {
	// Notify are TYPE=SECRET providers (--notify, repeatable): each becomes
	// a spec.notify entry reading its address and token from SECRET.
	Notify []string
	// NotifyEvents are the reasons every --notify provider receives
	// (--notify-events); default notify.DefaultEvents.
	NotifyEvents []string
	// Pushgateway sets spec.metrics.pushgateway.url.
	Pushgateway string
}

func (n *notifyFlags) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&n.Notify, "notify", nil, "notification provider as TYPE=SECRET, the Secret holding its address (and token) (spec.notify; repeatable; TYPE one of "+strings.Join(notify.Types(), ", ")+")")
	f.StringSliceVar(&n.NotifyEvents, "notify-events", nil, "events the --notify providers receive: "+strings.Join(notify.Reasons, ", ")+" (spec.notify[].events; default Failed,Recovered,Changed)")
	f.StringVar(&n.Pushgateway, "pushgateway", "", "Prometheus Pushgateway URL each run pushes its metrics to (spec.metrics.pushgateway.url)")
}

// notifySpecFlags are the flags notifyFlags adds to specFlags.
var notifySpecFlags = []struct{ flag, path string }{
	{"notify", "spec.notify"},
	{"notify-events", "spec.notify"},
	{"pushgateway", "spec.metrics.pushgateway"},
}

// apply sets spec.notify and spec.metrics from the flags.
func (n *notifyFlags) apply(s *spec.Sync) error {
	if len(n.NotifyEvents) > 0 && len(n.Notify) == 0 {
		return fmt.Errorf("--notify-events: only with --notify")
	}
	for _, e := range n.NotifyEvents {
		if !slices.Contains(notify.Reasons, e) {
			return fmt.Errorf("--notify-events: %q is not one of %s", e, strings.Join(notify.Reasons, ", "))
		}
	}
	for _, v := range n.Notify {
		typ, secret, ok := strings.Cut(v, "=")
		if !ok || typ == "" || secret == "" {
			return fmt.Errorf("--notify %s: must be TYPE=SECRET, for example slack=slack-webhook", v)
		}
		p := spec.NotifyProvider{Type: typ, SecretRef: &spec.LocalObjectReference{Name: secret}, Events: n.NotifyEvents}
		if slices.ContainsFunc(s.Spec.Notify, func(q spec.NotifyProvider) bool { return q.Type == typ }) {
			// Two providers of one type need names apart.
			p.Name = typ + "-" + secret
		}
		s.Spec.Notify = append(s.Spec.Notify, p)
	}
	if n.Pushgateway != "" {
		s.Spec.Metrics = &spec.MetricsSpec{Pushgateway: &spec.PushgatewaySpec{URL: n.Pushgateway}}
	}
	return nil
}
