package helm

import (
	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/source"
)

// Errors that callers branch on. Resolve, Fetch and Render wrap them, so
// test with errors.Is. The errors every kind of source shares are
// pkg/source's; they are named here too so that callers of this package
// need not import it.
var (
	// ErrVersionNotFound means the repository has no version of the chart
	// that satisfies the constraint, or no chart of that name at all. The
	// message lists the highest versions there are. It also matches
	// source.ErrRefNotFound.
	ErrVersionNotFound = source.Narrow("no matching chart version", source.ErrRefNotFound)

	// ErrAuthentication means the repository or registry refused the
	// credentials, or asked for credentials and got none.
	ErrAuthentication = source.ErrAuthentication

	// ErrTooLarge means an index or chart exceeded its size limit.
	ErrTooLarge = source.ErrTooLarge

	// ErrDigestMismatch means a downloaded chart does not have the digest
	// the index or registry announced for it.
	ErrDigestMismatch = source.ErrDigestMismatch

	// ErrInvalidOptions means the options cannot be used as given (a URL
	// scheme that is not supported, a bad constraint, unusable
	// credentials). Nothing was sent over the network.
	ErrInvalidOptions = source.ErrInvalidOptions

	// ErrInvalidChart means a chart cannot be rendered as it is: a missing
	// or mismatched dependency, values that are not a map, values that
	// fail the chart's schema, a template that does not render or renders
	// objects that are not valid.
	ErrInvalidChart = chartrender.ErrInvalidChart
)
