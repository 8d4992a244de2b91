package sdk

import (
	"slices"
	"testing"

	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"

	"github.com/gitsync/gitsync/pkg/helm"
)

// TestInstallOrderIsHelms: pkg/helm keeps its own copy of Helm's install
// order of kinds (it does not link the SDK); it must stay Helm's.
func TestInstallOrderIsHelms(t *testing.T) {
	if !slices.Equal(helm.InstallOrder, []string(releaseutil.InstallOrder)) {
		t.Errorf("helm.InstallOrder %v\nHelm's InstallOrder %v", helm.InstallOrder, releaseutil.InstallOrder)
	}
}
