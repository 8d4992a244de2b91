package source

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memoryFile puts data in an anonymous in-memory file and returns a path
// that opens it, and a function that releases it.
func memoryFile(name string, data []byte) (string, func(), error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return "", nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	cleanup := func() { _ = f.Close() }
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	if _, err := f.Write(data); err != nil {
		cleanup()
		return "", nil, err
	}
	// /proc may be missing; then the caller falls back to a temporary file.
	if _, err := os.Stat(path); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}
