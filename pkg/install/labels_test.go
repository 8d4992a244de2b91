package install_test

import (
	"testing"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/sync"
)

// The label naming the sync's namespace is written by install and by
// sync-job; pkg/install does not import pkg/sync for one constant, so this
// keeps the two equal.
func TestLabelSyncNamespace(t *testing.T) {
	if install.LabelSyncNamespace != sync.LabelSyncNamespace {
		t.Errorf("install.LabelSyncNamespace %q != sync.LabelSyncNamespace %q", install.LabelSyncNamespace, sync.LabelSyncNamespace)
	}
}
