package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// spawner starts child processes from one OS thread that stays alive until the
// cluster has stopped. Pdeathsig is delivered when the thread that forked the
// child exits, not the process, so forking from arbitrary goroutines could kill
// a child as soon as the Go runtime retires that thread.
type spawner struct {
	reqs chan spawnRequest
	done chan struct{}
}

type spawnRequest struct {
	cmd  *exec.Cmd
	resp chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnRequest), done: make(chan struct{})}
	go func() {
		// Never unlocked on purpose: when this goroutine returns, its thread
		// exits and any child still running gets SIGKILL.
		runtime.LockOSThread()
		defer close(s.done)
		for r := range s.reqs {
			r.resp <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	resp := make(chan error, 1)
	s.reqs <- spawnRequest{cmd: cmd, resp: resp}
	return <-resp
}

func (s *spawner) close() {
	close(s.reqs)
	<-s.done
}

// process is one component the cluster started.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{} // closed once Wait returned
	waitErr error
}

// startProcess starts bin with args, logging stdout and stderr to
// dir/logs/<name>.log.
func (c *Cluster) startProcess(name, bin string, args []string, env []string) (*process, error) {
	logPath := filepath.Join(c.dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.spawner.start(cmd); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, errors.Join(err, logFile.Close()))
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if cerr := logFile.Close(); cerr != nil {
			// Reported with the exit: the log's tail may be incomplete.
			err = errors.Join(err, fmt.Errorf("%s: %w", logPath, cerr))
		}
		p.waitErr = err
		close(p.exited)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// pid is the process id, which is also its process group id.
func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// exitError is a component's early exit, with the end of its log, for
// Start's errors.
type exitError struct {
	name string
	err  error
	log  string
}

func (e *exitError) Error() string {
	return fmt.Sprintf("%s exited early (%v); end of its log:\n%s", e.name, e.err, e.log)
}

func (p *process) exitError() error {
	return &exitError{name: p.name, err: p.waitErr, log: tail(p.logPath, 30)}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and waits.
func (p *process) stop(grace time.Duration) error {
	if p.hasExited() {
		return nil
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d): still running after SIGKILL", p.name, p.pid())
		}
	}
	// The group may hold children the component forked; they must not
	// outlive it.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	return nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// harnessProcesses lists the live processes that a cluster in dir started
// directly or indirectly: members of the process groups pgids (a component
// and what it forked), and containerd shims serving the containerd in dir
// (they leave containerd's process group on purpose). The calling process is
// never listed, nor anything else that merely mentions dir.
func harnessProcesses(dir string, pgids []int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !pidAlive(pid) {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && slices.Contains(pgids, pgid) {
			pids = append(pids, pid)
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		if strings.HasPrefix(filepath.Base(string(args[0])), "containerd-shim") && bytes.Contains(cmdline, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// pidAlive reports whether pid names a process that is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z'
}

// killPIDs sends SIGKILL to each pid and waits briefly until they are gone.
func killPIDs(pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var alive []string
		for _, pid := range pids {
			if pidAlive(pid) {
				alive = append(alive, strconv.Itoa(pid))
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("processes still alive after SIGKILL: " + strings.Join(alive, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
