// Package version holds the build's version, stamped at link time by the
// Makefile with -ldflags "-X github.com/gitsync/gitsync/pkg/version.Version=...".
package version

import (
	"fmt"
	"runtime"
)

// These are set by the linker; the defaults mark an unstamped developer build.
var (
	// Version is the release version, such as v0.1.0.
	Version = "v0.0.0-dev"
	// Commit is the Git commit the binary was built from.
	Commit = "unknown"
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the version information of the running binary.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String returns the one-line form printed by the version commands.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s, %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}
