//go:build tools

// Package pushgateway records the command `make pushgateway` builds, so that
// `go mod tidy` keeps its dependencies.
package pushgateway

import _ "github.com/prometheus/pushgateway"
