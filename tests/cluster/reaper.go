package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A node-mode cluster changes the machine (bridge, iptables, cgroups, mounts).
// If the test binary dies without Stop (a `go test -timeout` panic, a panic in
// a test goroutine, SIGKILL), Pdeathsig kills the components, but nothing would
// undo those changes until the next node-mode Start. So Run starts a reaper:
// the test binary itself, re-executed with reaperEnv set, whose stdin is a
// pipe from the test process. Stop writes "stop" and closes it; a bare EOF
// means the test process died, and the reaper cleans up after it.

// reaperEnv carries the cluster directory to the reaper process.
const reaperEnv = "GITSYNC_CLUSTER_REAPER"

// reaper is the running reaper of a node-mode cluster.
type reaper struct {
	cmd  *exec.Cmd
	pipe *os.File
}

func (c *Cluster) startReaper() error {
	if !c.opts.withReaper {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), reaperEnv+"="+c.dir)
	cmd.Stdin = r
	// No stdout/stderr: go test waits for every holder of its pipes, and the
	// reaper must outlive the test process. Its own process group keeps a
	// terminal's Ctrl-C from killing it along with the tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("reaper: %w", errors.Join(err, r.Close(), w.Close()))
	}
	// The reaper holds its own copy of the read end now.
	c.node.reaper = &reaper{cmd: cmd, pipe: w}
	if err := r.Close(); err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	return nil
}

// dismiss tells the reaper that the cluster was stopped properly.
func (r *reaper) dismiss() error {
	_, werr := io.WriteString(r.pipe, "stop\n")
	// Closing the pipe wakes the reaper. Had "stop" not reached it, it would
	// clean up after a cluster Stop already removed: say so, but still wait.
	told := errors.Join(werr, r.pipe.Close())
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err := errors.Join(told, err); err != nil {
			return fmt.Errorf("reaper: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		return errors.Join(told, fmt.Errorf("reaper (pid %d): did not exit", r.cmd.Process.Pid))
	}
}

// reap is the reaper's main: it waits for its stdin to close and, unless told
// "stop", undoes what the node-mode cluster in dir changed.
func reap(dir string) (code int) {
	b, _ := io.ReadAll(os.Stdin)
	if strings.TrimSpace(string(b)) == "stop" {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lock, err := acquireNodeLock(ctx, filepath.Join(filepath.Dir(dir), nodeLockFile), nil)
	if err != nil {
		return 1
	}
	defer func() {
		// Nobody reads the reaper's output; its exit status is what is left.
		if releaseLock(lock) != nil {
			code = 1
		}
	}()
	// A later Start may have swept the directory already.
	st, err := readNodeState(dir)
	if err != nil {
		return 0
	}
	cleanNodeState(dir, st)
	_ = os.RemoveAll(dir)
	return 0
}
