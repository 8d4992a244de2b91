//go:build !linux

package source

import "errors"

// memoryFile is not available here; the caller falls back to a temporary
// file.
func memoryFile(string, []byte) (string, func(), error) {
	return "", nil, errors.New("in-memory files are not supported on this system")
}
