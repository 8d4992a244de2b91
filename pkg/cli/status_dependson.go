package cli

import (
	"strings"

	"github.com/gitsync/gitsync/pkg/format"
	"github.com/gitsync/gitsync/pkg/inventory"
)

// resultCell is the RESULT column of a run: its result, and for a run
// that waited on its dependencies the syncs it waited on.
func resultCell(r inventory.Run) string {
	if r.Result == inventory.ResultDependencyNotReady && len(r.WaitingOn) > 0 {
		return string(r.Result) + " (" + strings.Join(r.WaitingOn, ",") + ")"
	}
	return format.OrDash(string(r.Result))
}
