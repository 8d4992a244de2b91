//go:build linux

package hugeheap

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestHeapArenaAdvised checks that the heap arena holding this process's
// first allocations is marked for huge pages (VmFlags "hg" in
// /proc/self/smaps), and that GITSYNC_THP=0 and GODEBUG=disablethp=1 leave
// it unmarked, in a child process.
func TestHeapArenaAdvised(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	if os.Getenv("HUGEHEAP_CHILD") != "" {
		return // the child only reports, below
	}
	if !advised(t, addr()) {
		t.Error("the heap arena is not marked for huge pages")
	}
	for _, env := range []string{"GITSYNC_THP=0", "GODEBUG=disablethp=1"} {
		cmd := exec.Command(os.Args[0], "-test.run=TestChildReports", "-test.v")
		cmd.Env = append(os.Environ(), "HUGEHEAP_CHILD=1", env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with %s: %v\n%s", env, err, out)
		}
		if !strings.Contains(string(out), "advised=false") {
			t.Errorf("with %s the heap arena is marked for huge pages:\n%s", env, out)
		}
	}
}

// TestChildReports prints, in the child of TestHeapArenaAdvised, whether
// its heap arena is marked.
func TestChildReports(t *testing.T) {
	if os.Getenv("HUGEHEAP_CHILD") == "" {
		t.Skip("run by TestHeapArenaAdvised")
	}
	fmt.Printf("advised=%v\n", advised(t, addr()))
}

// addr is the address of a heap allocation of this process's first arena.
func addr() uintptr {
	p := new([64]byte)
	sink = p
	return uintptr(unsafe.Pointer(p))
}

var sink *[64]byte

// advised reports whether the mapping holding a has VM_HUGEPAGE set.
func advised(t *testing.T, a uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mapping(line); ok {
			in = lo <= a && a < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Contains(" "+strings.TrimPrefix(line, "VmFlags:")+" ", " hg ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping holds %#x", a)
	return false
}

// mapping reads the address range of a mapping's first line in smaps.
func mapping(line string) (lo, hi uintptr, ok bool) {
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasSuffix(fields[0], ":") {
		return 0, 0, false
	}
	from, to, found := strings.Cut(fields[0], "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(from, 16, 64)
	h, err2 := strconv.ParseUint(to, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
