//go:build !(linux || darwin || freebsd)

package metrics

// SelfPeakRSS returns 0: this system's peak memory is not read.
func SelfPeakRSS() int64 { return 0 }
