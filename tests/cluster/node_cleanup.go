package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopNode runs before the processes are stopped: it stops kubelet (which
// would otherwise restart what is killed next) and has containerd kill and
// delete every container, so the shims exit and the Pods' network namespaces
// and mounts are released.
func (c *Cluster) stopNode() []error {
	var errs []error
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	for _, p := range procs {
		if p.name == "kubelet" || p.name == "kube-scheduler" || p.name == "kube-controller-manager" {
			if err := p.stop(5 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.node.containerd == "" {
		return errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.ctr(ctx, "tasks", "ls", "-q")
	if err != nil {
		// containerd may never have started; the sweep below still kills
		// whatever runs in the Pods' cgroups.
		return errs
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := c.ctr(ctx, append([]string{"tasks", "delete", "--force"}, ids...)...); err != nil {
			// A task that ended and went away between the listing and the
			// delete fails it ("cannot delete a deleted process"); ctr still
			// deletes the others. Only a task that is still there is an
			// error.
			if left, lerr := c.ctr(ctx, "tasks", "ls", "-q"); lerr != nil || strings.TrimSpace(left) != "" {
				errs = append(errs, fmt.Errorf("deleting containers: %w", err))
			}
		}
	}
	return errs
}

// cleanUpNode runs after every process has stopped and undoes what node mode
// did outside the temporary directory.
func (c *Cluster) cleanUpNode() []error {
	return cleanNodeState(c.dir, c.node.state)
}

// cleanNodeState undoes what a node-mode run recorded in st: it is used by
// Stop, by the reaper of a run that died, and by the sweep of a later run.
// The caller holds the node lock.
func cleanNodeState(dir string, st nodeState) []error {
	var errs []error
	// Containers and shims first: they hold mounts, cgroups and veths.
	errs = append(errs, killCgroupProcesses(st.Cgroups)...)
	if err := killPIDs(harnessProcesses(dir, nil)); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	for _, p := range st.Created {
		if err := unmountUnder(p); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, removeCgroups(st.Cgroups)...)
	errs = append(errs, removeChains()...)
	if st.Bridge != "" {
		errs = append(errs, removeBridge(st.Bridge)...)
	}
	for name, value := range st.Sysctls {
		p := filepath.Join("/proc/sys", name)
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) != value {
			if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s=%s: %w", name, value, err))
			}
		}
	}
	for _, p := range st.Created {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	// In fixed paths that existed before, remove only this run's entries.
	results, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", cniNetwork+"-*"))
	for _, r := range results {
		errs = append(errs, ignoreNotExist(os.Remove(r)))
	}
	for _, logDir := range []string{"/var/log/containers", "/var/log/pods"} {
		entries, _ := os.ReadDir(logDir)
		for _, e := range entries {
			p := filepath.Join(logDir, e.Name())
			target, err := os.Readlink(p)
			if err != nil {
				continue
			}
			if _, statErr := os.Stat(p); strings.HasPrefix(target, dir+"/") || errors.Is(statErr, os.ErrNotExist) {
				errs = append(errs, ignoreNotExist(os.Remove(p)))
			}
		}
	}
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// kubeCgroup is the cgroup subtree kubelet (cgroupfs driver) puts Pods in.
const kubeCgroup = "kubepods"

// killCgroupProcesses kills every process in the kubepods cgroups: container
// processes survive their shims otherwise.
func killCgroupProcesses(hierarchies []string) []error {
	var pids []int
	for _, h := range hierarchies {
		root := filepath.Join(h, kubeCgroup)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	if len(pids) == 0 {
		return nil
	}
	return []error{killPIDs(pids)}
}

// removeCgroups removes the kubepods subtrees, deepest first. A cgroup whose
// last task has just died may still be busy for a moment, so it retries.
func removeCgroups(hierarchies []string) []error {
	var errs []error
	for _, h := range hierarchies {
		root := filepath.Join(h, kubeCgroup)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, d := range dirs {
			var err error
			for range 50 {
				err = syscall.Rmdir(d)
				if err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("cgroup %s: %w", d, err))
			}
		}
	}
	return errs
}

// mountPoints lists the mount points at or under prefix, deepest and latest
// first, so they can be unmounted in order.
func mountPoints(prefix string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == prefix || strings.HasPrefix(mp, prefix+"/") {
			out = append(out, mp)
		}
	}
	slices.Reverse(out)
	return out
}

// unescapeMountinfo decodes the octal escapes (\040 for space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder lazily unmounts every mount at or under prefix.
func unmountUnder(prefix string) error {
	var errs []error
	for range 3 { // stacked mounts show up again after the top one goes
		mps := mountPoints(prefix)
		if len(mps) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
			}
		}
	}
	if mps := mountPoints(prefix); len(mps) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(mps, ", ")))
	}
	return errors.Join(errs...)
}

// ownChain reports whether an iptables chain was made by kube-proxy, kubelet
// or a CNI plugin.
func ownChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-")
}

// removeChains deletes every KUBE-* and CNI-* chain, and the rules of other
// chains that jump to them, from the IPv4 and IPv6 tables.
func removeChains() []error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := runCmd(ctx, bin, "-w", "-t", table, "-S")
			if err != nil {
				continue // table or family not available
			}
			var chains [][]string
			for _, line := range strings.Split(out, "\n") {
				args := splitRule(line)
				if len(args) < 2 {
					continue
				}
				switch args[0] {
				case "-N":
					if ownChain(args[1]) {
						chains = append(chains, args[1:2])
					}
				case "-A":
					if ownChain(args[1]) {
						continue // goes with its chain
					}
					if i := slices.IndexFunc(args, func(a string) bool { return a == "-j" || a == "-g" }); i >= 0 && i+1 < len(args) && ownChain(args[i+1]) {
						del := append([]string{"-w", "-t", table, "-D"}, args[1:]...)
						if _, err := runCmd(ctx, bin, del...); err != nil {
							errs = append(errs, err)
						}
					}
				}
			}
			for _, op := range []string{"-F", "-X"} {
				for _, ch := range chains {
					if _, err := runCmd(ctx, bin, "-w", "-t", table, op, ch[0]); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	return errs
}

// splitRule splits a line of `iptables -S` into arguments; comments are
// double-quoted with backslash escapes.
func splitRule(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			have = true
		case ch == '"':
			inQuote = !inQuote
			have = true
		case ch == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// removeBridge deletes the veths attached to the bridge, then the bridge.
func removeBridge(br string) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := os.Stat(filepath.Join("/sys/class/net", br)); err != nil {
		return nil
	}
	var errs []error
	ports, _ := os.ReadDir(filepath.Join("/sys/class/net", br, "brif"))
	for _, p := range ports {
		if _, err := runCmd(ctx, "ip", "link", "del", p.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := runCmd(ctx, "ip", "link", "del", br); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// sweepStaleNodes undoes what dead node-mode runs left: their recorded state
// first, then anything of the harness's making that is still there (the
// bridge, iptables chains, kubepods cgroups). The caller holds the node lock,
// so none of it belongs to a live run.
func sweepStaleNodes(parent, bridge string) {
	matches, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*", "node-state.json"))
	for _, stateFile := range matches {
		dir := filepath.Dir(stateFile)
		if ownerAlive(dir) {
			continue
		}
		if st, err := readNodeState(dir); err == nil {
			if errs := cleanNodeState(dir, st); len(errs) > 0 {
				fmt.Fprintf(os.Stderr, "test cluster: cleaning up the dead run in %s: %v\n", dir, errors.Join(errs...))
			}
		}
		_ = os.RemoveAll(dir)
	}
	hierarchies := cgroupHierarchies()
	_ = killCgroupProcesses(hierarchies)
	_ = removeCgroups(hierarchies)
	_ = removeChains()
	_ = removeBridge(bridge)
}

func readNodeState(dir string) (nodeState, error) {
	var st nodeState
	b, err := os.ReadFile(filepath.Join(dir, "node-state.json"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// ownerAlive reports whether the process that made a cluster directory is
// still running (or the directory is too new to say).
func ownerAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		return true
	}
	pid, err := strconv.Atoi(string(b))
	return err != nil || pidAlive(pid)
}
