//go:build linux

// Package hugeheap asks Linux for transparent huge pages on the Go heap as
// the process starts. sync-job imports it for that effect only.
//
// A run is a short process whose heap grows from nothing to tens of MiB.
// With 4 KiB pages every first touch of a heap page is a page fault, and on
// a virtualised node a fault costs microseconds: 12 µs each on the test
// machine, where a run with nothing to do faulted some 3,000 pages, a
// third of its CPU time (docs/benchmarks.md). With transparent huge pages
// in "madvise" mode, the usual default, the kernel backs memory with 2 MiB
// pages only where a process asked for them with madvise(MADV_HUGEPAGE).
//
// The Go runtime maps its heap in steps as it grows, each step a new
// mapping that would not carry the advice. So this package first makes the
// heap map a large block at once (an allocation of ballastBytes, which the
// runtime maps in one step and never touches: fresh memory is known to be
// zero), advises the heap arena holding it, and frees it with a collection.
// The run's allocations then reuse those advised pages, lowest addresses
// first, and fault 2 MiB at a time. The ballast never becomes resident; the
// cost is one collection of a nearly empty heap at start-up and a resident
// size rounded up to 2 MiB steps.
//
// Where THP is "always" the heap has huge pages anyway; where it is
// "never", or the kernel refuses the advice, nothing changes.
// GODEBUG=disablethp=1 (the Go runtime's own switch against huge pages on
// the heap) or GITSYNC_THP=0 turns it off.
//
// It imports little, so that it initialises early: Go initialises the
// packages whose dependencies are ready in the order of their import
// paths, and the heavy initialisers (k8s.io, sigs.k8s.io, golang.org,
// google.golang.org) come after this one.
package hugeheap

import (
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

// heapArenaBytes is the size of a heap arena of the Go runtime on 64-bit
// Linux, the unit in which it reserves the heap's address space.
const heapArenaBytes = 64 << 20

// ballastBytes is how much of the heap is mapped at once, and advised: a
// run with nothing to do stays within it.
const ballastBytes = 24 << 20

// madvHugepage is MADV_HUGEPAGE (linux/mman.h).
const madvHugepage = 14

// first is a heap allocation whose address locates the first arena.
var first *[64]byte

func init() {
	if v, _ := syscall.Getenv("GITSYNC_THP"); v == "0" || disabled() {
		return
	}
	first = new([64]byte)
	ballast := make([]byte, ballastBytes)
	start := uintptr(unsafe.Pointer(first)) &^ (heapArenaBytes - 1)
	end := (uintptr(unsafe.Pointer(unsafe.SliceData(ballast))) + ballastBytes + heapArenaBytes - 1) &^ (heapArenaBytes - 1)
	// A failure (an old kernel, a seccomp profile) leaves 4 KiB pages.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, start, end-start, madvHugepage)
	runtime.KeepAlive(ballast) // and not after: the collection frees it
	runtime.GC()
}

// disabled reports whether GODEBUG holds disablethp=1.
func disabled() bool {
	godebug, _ := syscall.Getenv("GODEBUG")
	for _, kv := range strings.Split(godebug, ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return true
		}
	}
	return false
}
