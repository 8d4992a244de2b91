package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// gcPercent is sync-job's GOGC when the environment sets none. A run is
// short and its live heap is mostly the rendered objects, held to the end;
// collecting at +50% instead of +100% lowered the peak of a 10,000-object
// cold sync from 125.7 to 109.6 MiB without slowing it (docs/benchmarks.md).
const gcPercent = 50

// memoryLimitShare is the part of the container's memory limit that
// sync-job gives the Go runtime as its soft limit (GOMEMLIMIT) when the
// environment sets none: near the limit the GC works harder instead of the
// Pod being OOM-killed; the rest is for the binary's pages and the page cache
// of the checkout, which the cgroup counts too.
const memoryLimitShare = 0.75

// cgroupMemoryFiles are where a container's memory limit is read: cgroup v2,
// then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// tuneGC applies gcPercent and, with the container's memory limit
// (containerMemoryLimit; 0 for none), a soft memory limit, unless GOGC or
// GOMEMLIMIT say otherwise.
func tuneGC(limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" || limit == 0 {
		return
	}
	debug.SetMemoryLimit(int64(float64(limit) * memoryLimitShare))
}

// containerMemoryLimit returns the container's memory limit in bytes, or
// 0 when it has none or it cannot be read.
func containerMemoryLimit() int64 {
	for _, f := range cgroupMemoryFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		limit, _ := memoryLimit(string(data))
		return limit
	}
	return 0
}

// memoryLimit reads a cgroup memory limit file: a byte count, or "max"
// (v2) or a huge number (v1) for none.
func memoryLimit(content string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(content), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
