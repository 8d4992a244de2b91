//go:build tools

// Package s3server records the command `make s3server` builds, so that
// `go mod tidy` keeps its dependencies.
package s3server

import _ "github.com/seaweedfs/seaweedfs/weed"
