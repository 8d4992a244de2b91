package main

import (
	"os"
	"runtime"
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

// firstGCPercent is sync-job's GOGC until the first collection: the Go
// runtime's first goal is 4 MiB times GOGC/100, and a run with nothing to
// do, whose heap stays near 10 MiB, spent a quarter of its CPU collecting
// at GOGC 50 (a goal of 2 MiB, collected again and again). At 200 the
// first collection comes at 8 MiB: such a run collects once or twice, and
// a run that grows past it continues at gcPercent, so the peak of a large
// run is unchanged. 400 was faster still with nothing to do but raised the
// peak of a cold sync of 1,000 objects by 6 MiB (docs/benchmarks.md).
const firstGCPercent = 200

// tuneGC applies firstGCPercent, then gcPercent from the first collection
// on, and, with the container's memory limit (containerMemoryLimit; 0 for
// none), a soft memory limit, unless GOGC or GOMEMLIMIT say otherwise.
func tuneGC(limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(firstGCPercent)
		afterFirstGC(func() { debug.SetGCPercent(gcPercent) })
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

// afterFirstGC runs f once the first garbage collection from now has
// found an unreachable sentinel: a finalizer runs after the collection that
// freed its object.
func afterFirstGC(f func()) {
	sentinel := new([16]byte)
	runtime.SetFinalizer(sentinel, func(*[16]byte) { f() })
}
