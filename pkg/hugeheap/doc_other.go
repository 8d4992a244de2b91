//go:build !linux

// Package hugeheap asks Linux for transparent huge pages on the Go heap;
// elsewhere it does nothing.
package hugeheap
