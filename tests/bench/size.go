package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// The size step (-only size, `make size`) needs no cluster. It prints:
//
//   - the stripped size of sync-job, its Helm renderer sync-job-helm and
//     kubectl-gitsync, built as the release builds them (go build
//     -trimpath -ldflags '-s -w');
//   - what sync-job's bytes are, by module (top 25): the sizes of the
//     symbols in the file's sections (code, read-only data, data), from an
//     unstripped build, each symbol charged to its package's module;
//   - its init work (GODEBUG=inittrace=1: every package's init, summed,
//     and the most expensive ones);
//   - its start-up time, exec to the first API request, measured by a
//     stand-in API server that records when the first request arrives
//     and answers 404 to everything (the run then ends: no spec).
//
// startupRuns is how many processes the start-up time is the median of.
const startupRuns = 9

// sizeBench measures the binaries; see above.
func (b *bench) sizeBench(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "size")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stripped := map[string]string{}
	for _, cmdName := range []string{"sync-job", "sync-job-helm", "kubectl-gitsync"} {
		out := filepath.Join(dir, cmdName)
		fmt.Fprintf(os.Stderr, "building %s ...\n", cmdName)
		if err := goBuild(ctx, out, "./cmd/"+cmdName, "-s -w"); err != nil {
			return err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return err
		}
		stripped[cmdName] = out
		b.rows = append(b.rows, row{cmdName + " binary, stripped", mb(fi.Size()), "", "go build -trimpath -ldflags '-s -w', CGO_ENABLED=0, " + goEnv(ctx, "GOOS") + "/" + goEnv(ctx, "GOARCH")})
	}

	full := filepath.Join(dir, "sync-job.full")
	if err := goBuild(ctx, full, "./cmd/sync-job", ""); err != nil {
		return err
	}
	if err := printBreakdown(ctx, full, "./cmd/sync-job"); err != nil {
		return err
	}
	if err := b.initTrace(ctx, stripped["sync-job"]); err != nil {
		return err
	}
	return b.startup(ctx, stripped["sync-job"], dir)
}

func goBuild(ctx context.Context, out, pkg, ldflags string) error {
	args := []string{"build", "-trimpath"}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", out, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

func goEnv(ctx context.Context, name string) string {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// printBreakdown prints the bytes of the binary at path by module, top 25,
// and the share of the file no symbol accounts for (mostly the function
// table, runtime.pclntab, which grows with the code).
func printBreakdown(ctx context.Context, path, pkg string) error {
	modules, err := packageModules(ctx, pkg)
	if err != nil {
		return err
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("%s: symbols: %w", path, err)
	}
	bySection := map[elf.SectionIndex]bool{}
	var fileBytes int64
	var sections []string
	for i, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Flags&elf.SHF_ALLOC != 0 {
			bySection[elf.SectionIndex(i)] = true
			fileBytes += int64(s.Size)
			if s.Size >= 1e6 {
				sections = append(sections, fmt.Sprintf("%s %s", s.Name, mb(int64(s.Size))))
			}
		}
	}
	sizes := map[string]int64{}
	var attributed int64
	for _, s := range syms {
		if !bySection[s.Section] || s.Size == 0 {
			continue
		}
		mod := "(runtime tables, strings, types)"
		if p := symbolPackage(s.Name); p != "" {
			if m, ok := modules[p]; ok {
				mod = m
			}
		}
		sizes[mod] += int64(s.Size)
		attributed += int64(s.Size)
	}
	type entry struct {
		mod  string
		size int64
	}
	var all []entry
	for m, s := range sizes {
		all = append(all, entry{m, s})
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(b.size, a.size) })
	fmt.Printf("\nsync-job's bytes by module: %s in loaded sections (%s), %s of them in symbols, charged to their module below;\n"+
		"the rest is the function table (.gopclntab), which grows with the code (unstripped build, same code)\n", mb(fileBytes), strings.Join(sections, ", "), mb(attributed))
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "BYTES\tSHARE\tMODULE\t")
	var rest int64
	for i, e := range all {
		if i >= 25 {
			rest += e.size
			continue
		}
		fmt.Fprintf(w, "%s\t%.1f%%\t%s\t\n", mb(e.size), 100*float64(e.size)/float64(attributed), e.mod)
	}
	fmt.Fprintf(w, "%s\t%.1f%%\t%d other modules\t\n", mb(rest), 100*float64(rest)/float64(attributed), max(0, len(all)-25))
	return w.Flush()
}

// packageModules maps every package pkg links to its module path; the
// standard library's packages map to "std", the main module's to its own
// path.
func packageModules(ctx context.Context, pkg string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		p, mod, _ := strings.Cut(line, "\t")
		if mod == "" {
			mod = "std"
		}
		m[p] = mod
		if strings.HasPrefix(p, "vendor/") { // the standard library's vendored copies
			m[p] = "std"
		}
	}
	return m, nil
}

// symbolPackage returns the import path of the package a Go symbol belongs
// to ("k8s.io/api/core/v1.(*Pod).Marshal" → "k8s.io/api/core/v1"; a type
// descriptor "type:*k8s.io/api/core/v1.Pod" and an interface table
// "go:itab.*k8s.io/api/core/v1.Pod,fmt.Stringer" to the type's package), or
// "" for the linker's own symbols (strings, function tables).
func symbolPackage(name string) string {
	switch {
	case strings.HasPrefix(name, "type:"):
		name = strings.TrimLeft(strings.TrimPrefix(name, "type:"), "*[]")
	case strings.HasPrefix(name, "go:itab."):
		name = strings.TrimLeft(strings.TrimPrefix(name, "go:itab."), "*")
	case strings.HasPrefix(name, "go:"):
		return ""
	}
	head := name
	if i := strings.IndexAny(head, "([ "); i >= 0 {
		head = head[:i]
	}
	slash := strings.LastIndexByte(head, '/') + 1
	dot := strings.IndexByte(head[slash:], '.')
	if dot < 0 {
		return ""
	}
	return head[:slash+dot]
}

// initTrace runs `sync-job version` with GODEBUG=inittrace=1 and adds the
// sum of every package's init and the five most expensive ones.
func (b *bench) initTrace(ctx context.Context, bin string) error {
	type pkgInit struct {
		pkg         string
		ms          float64
		bytes, alls int64
	}
	// The best of five: the first runs pay for page faults on a cold cache.
	var best []pkgInit
	var bestMS float64
	for range 5 {
		cmd := exec.CommandContext(ctx, bin, "version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stderr, cmd.Stdout = &stderr, nil
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s version: %w: %s", bin, err, tail(stderr.String(), 500))
		}
		var inits []pkgInit
		var sum float64
		sc := bufio.NewScanner(&stderr)
		for sc.Scan() {
			// init k8s.io/api/core/v1 @21 ms, 0.13 ms clock, 99976 bytes, 553 allocs
			f := strings.Fields(sc.Text())
			if len(f) != 11 || f[0] != "init" {
				continue
			}
			ms, err1 := strconv.ParseFloat(f[4], 64)
			by, err2 := strconv.ParseInt(f[7], 10, 64)
			al, err3 := strconv.ParseInt(f[9], 10, 64)
			if err := errors.Join(err1, err2, err3); err != nil {
				return fmt.Errorf("inittrace line %q: %w", sc.Text(), err)
			}
			inits = append(inits, pkgInit{f[1], ms, by, al})
			sum += ms
		}
		if len(inits) == 0 {
			return fmt.Errorf("%s: GODEBUG=inittrace=1 printed no init lines", bin)
		}
		if best == nil || sum < bestMS {
			best, bestMS = inits, sum
		}
	}
	var bytesSum, allocs int64
	for _, p := range best {
		bytesSum += p.bytes
		allocs += p.alls
	}
	slices.SortFunc(best, func(a, b pkgInit) int { return cmp.Compare(b.ms, a.ms) })
	var top []string
	for _, p := range best[:min(5, len(best))] {
		top = append(top, fmt.Sprintf("%s %.2f ms", p.pkg, p.ms))
	}
	b.rows = append(b.rows, row{"sync-job init work (GODEBUG=inittrace=1)", fmt.Sprintf("%.1f ms", bestMS), "",
		fmt.Sprintf("%d packages' init, %.1f MiB in %d allocations, best of 5 `sync-job version`; most: %s",
			len(best), float64(bytesSum)/(1<<20), allocs, strings.Join(top, ", "))})
	return nil
}

// startup measures exec → first API request of sync-job against a
// stand-in API server (plain HTTP on loopback) that answers 404.
func (b *bench) startup(ctx context.Context, bin, dir string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var first chan time.Time
	var firstPath string
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		mu.Lock()
		if first != nil {
			first <- now
			first, firstPath = nil, r.Method+" "+r.URL.Path
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"NotFound","code":404}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: stand-in, cluster: {server: "http://%s"}}]
users: [{name: stand-in, user: {token: stand-in}}]
contexts: [{name: stand-in, context: {cluster: stand-in, user: stand-in, namespace: startup}}]
current-context: stand-in
`, ln.Addr()), 0o600); err != nil {
		return err
	}
	var times []time.Duration
	for range startupRuns {
		got := make(chan time.Time, 1)
		mu.Lock()
		first = got
		mu.Unlock()
		cmd := exec.CommandContext(ctx, bin, "--sync", "startup", "--kubeconfig", kubeconfig)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		werr := cmd.Wait()
		select {
		case at := <-got:
			times = append(times, at.Sub(start))
		default:
			return fmt.Errorf("sync-job made no API request (%v): %s", werr, tail(stderr.String(), 500))
		}
	}
	slices.Sort(times)
	mu.Lock()
	defer mu.Unlock()
	b.rows = append(b.rows, row{"sync-job start-up, exec → first API request", fmt.Sprintf("%.1f ms", float64(times[len(times)/2].Microseconds())/1000), "",
		fmt.Sprintf("median of %d processes (fastest %.1f ms, slowest %.1f ms); first request %s; stand-in API server on loopback",
			len(times), float64(times[0].Microseconds())/1000, float64(times[len(times)-1].Microseconds())/1000, firstPath)})
	return nil
}
