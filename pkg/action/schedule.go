package action

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// NextRun returns when the CronJob cj will start its next run, seen at
// now; zero when it is suspended or its schedule never fires. It follows
// the CronJob controller: the schedule fires after status.lastScheduleTime
// (or the creation time); a time already passed is started at once if it is
// within spec.startingDeadlineSeconds (NextRun then returns now), else
// skipped. Without spec.timeZone the controller's zone is taken to be UTC.
func NextRun(cj *batchv1.CronJob, now time.Time) (time.Time, error) {
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return time.Time{}, nil
	}
	expr := cj.Spec.Schedule
	if tz := cj.Spec.TimeZone; tz != nil && *tz != "" && !strings.Contains(expr, "TZ=") {
		expr = "CRON_TZ=" + *tz + " " + expr
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: %w", cj.Spec.Schedule, err)
	}
	base := cj.CreationTimestamp.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		base = t.Time
	}
	next := sched.Next(base.UTC())
	if next.IsZero() || next.After(now) {
		return next, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d == nil || now.Sub(next) <= time.Duration(*d)*time.Second {
		return now, nil
	}
	return sched.Next(now.UTC()), nil
}
