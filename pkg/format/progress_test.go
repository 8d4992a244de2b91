package format

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProgress(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	t.Run("not a terminal: events only", func(t *testing.T) {
		var buf bytes.Buffer
		p := NewProgress(&buf, clock)
		p.Eventf("Job %s created", "j")
		p.Status("waiting for the Pod")
		p.Tick()
		now = now.Add(12 * time.Second)
		p.Event("Pod scheduled")
		p.Clear()
		want := "[  0s] Job j created\n[ 12s] Pod scheduled\n"
		if diff := cmp.Diff(want, buf.String()); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
	t.Run("terminal: a spinner line that events replace", func(t *testing.T) {
		var buf bytes.Buffer
		p := NewProgress(&buf, clock)
		p.Terminal = true
		p.Status("waiting for the Pod")
		p.Tick()
		now = now.Add(time.Second)
		p.Event("Pod created")
		p.Status("")
		want := "⠋ waiting for the Pod (0s)" + "\r\033[K" + "⠙ waiting for the Pod (0s)" + "\r\033[K" +
			"[  1s] Pod created\n" + "⠙ waiting for the Pod (1s)" + "\r\033[K"
		if diff := cmp.Diff(want, buf.String()); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
}
