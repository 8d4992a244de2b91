package install_test

import (
	"testing"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/syncrun"
)

// The label naming the sync's namespace is written by install and by
// sync-job; pkg/install does not import pkg/sync for one constant, so this
// keeps the two equal.
func TestLabelSyncNamespace(t *testing.T) {
	if install.LabelSyncNamespace != syncrun.LabelSyncNamespace {
		t.Errorf("install.LabelSyncNamespace %q != syncrun.LabelSyncNamespace %q", install.LabelSyncNamespace, syncrun.LabelSyncNamespace)
	}
}
