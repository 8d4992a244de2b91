//go:build linux || darwin || freebsd

package metrics

import (
	"runtime"
	"syscall"
)

// SelfPeakRSS returns the peak resident memory of this process in bytes,
// or 0 when the system does not say.
func SelfPeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return ru.Maxrss // bytes on macOS
	}
	return ru.Maxrss * 1024 // kilobytes elsewhere
}
