package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// TestStatusShowsWaits checks that status says what a sync depends on and
// what its last run waited on, in the table, the detail and JSON.
func TestStatusShowsWaits(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := action.SyncStatus{
		Name: "web", Namespace: "apps", Schedule: "*/5 * * * *", DependsOn: []string{"apps/db", "infra/crds"},
		LastRun: &inventory.Run{
			Start: now.Add(-time.Minute), End: now.Add(-time.Minute), Result: inventory.ResultDependencyNotReady,
			Message: "DependencyNotReady: apps/db has not run yet", WaitingOn: []string{"apps/db"},
		},
	}
	var table bytes.Buffer
	if err := printStatusTable(&table, []action.SyncStatus{st}, now, false, false, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "DependencyNotReady (apps/db)") {
		t.Errorf("table lacks the wait:\n%s", table.String())
	}
	var detail bytes.Buffer
	if err := printStatusDetail(&detail, st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Depends On:", "apps/db, infra/crds", "Waiting On:", "DependencyNotReady: apps/db has not run yet"} {
		if !strings.Contains(detail.String(), want) {
			t.Errorf("detail lacks %q:\n%s", want, detail.String())
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"dependsOn":["apps/db","infra/crds"]`, `"waitingOn":["apps/db"]`, `"result":"DependencyNotReady"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}
