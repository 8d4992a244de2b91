package install

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// ScheduleForInterval returns a cron schedule that runs exactly every d, for
// users who think in Flux's intervals. Cron can do that only for intervals
// that divide an hour (1m, 2m, 3m, 4m, 5m, 6m, 10m, 12m, 15m, 20m, 30m) or a
// day (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h), and for a week (168h); any other
// interval is an error saying so, since "*/7" restarts every hour and would
// not be every 7 minutes.
//
// The offset within the interval (the minute, and the hour or weekday for
// longer intervals) is derived from seed, normally namespace/name, so that
// many syncs with the same interval do not all start at the same second:
// 5m may become "3-59/5 * * * *", 1h "42 * * * *".
func ScheduleForInterval(d time.Duration, seed string) (string, error) {
	if d <= 0 {
		return "", fmt.Errorf("interval %s: must be positive", ShortDuration(d))
	}
	if d%time.Minute != 0 {
		return "", fmt.Errorf("interval %s: cron counts whole minutes", ShortDuration(d))
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(seed))
	sum := h.Sum64()
	minutes := int(d / time.Minute)
	minute := int(sum % 60)
	switch {
	case minutes == 1:
		return "* * * * *", nil
	case minutes < 60 && 60%minutes == 0:
		if off := int(sum % uint64(minutes)); off != 0 {
			return fmt.Sprintf("%d-59/%d * * * *", off, minutes), nil
		}
		return fmt.Sprintf("*/%d * * * *", minutes), nil
	case minutes%60 != 0:
	case minutes == 60:
		return fmt.Sprintf("%d * * * *", minute), nil
	case minutes < 24*60 && 24*60%minutes == 0:
		hours := minutes / 60
		if off := int((sum / 60) % uint64(hours)); off != 0 {
			return fmt.Sprintf("%d %d-23/%d * * *", minute, off, hours), nil
		}
		return fmt.Sprintf("%d */%d * * *", minute, hours), nil
	case minutes == 24*60:
		return fmt.Sprintf("%d %d * * *", minute, (sum/60)%24), nil
	case minutes == 7*24*60:
		return fmt.Sprintf("%d %d * * %d", minute, (sum/60)%24, (sum/(60*24))%7), nil
	}
	return "", fmt.Errorf("interval %s cannot be expressed exactly as a cron schedule: use one of %s, or write a cron schedule",
		ShortDuration(d), strings.Join(expressibleIntervals(), ", "))
}

// expressibleIntervals lists the intervals ScheduleForInterval accepts.
func expressibleIntervals() []string {
	var out []string
	for m := 1; m < 60; m++ {
		if 60%m == 0 {
			out = append(out, fmt.Sprintf("%dm", m))
		}
	}
	for h := 1; h <= 24; h++ {
		if 24%h == 0 {
			out = append(out, fmt.Sprintf("%dh", h))
		}
	}
	return append(out, "168h")
}

// ShortDuration prints d without the zero units time.Duration.String
// appends: 7m and 1h30m rather than 7m0s and 1h30m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
