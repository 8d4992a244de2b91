package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/tests/gitserver"
)

// sparseCheckout measures spec.source.git.sparseCheckout of one small
// directory of a repository whose other directories hold 10,000 files,
// against a full shallow fetch of the same commit, over HTTP from a local
// `git http-backend`: wall time (median of three), bytes the server sent,
// and bytes written below the fetch directory (.git kept, so the packfile
// counts). It runs with a server that supports partial clone and with one
// that does not (go-git then fetches every blob and writes only the
// directory).
func (b *bench) sparseCheckout(ctx context.Context) error {
	const others, small = 10000, 5
	workload := fmt.Sprintf("commit of %d YAML files (~600 B) in 100 directories + %d in apps/web; HTTP, local git http-backend", others, small)
	files := make(map[string]string, others+small)
	for i := range others {
		files[fmt.Sprintf("other/d%02d/f%05d.yaml", i%100, i)] = fmt.Sprintf(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-%05d\n  labels: {app: other, shard: \"%02d\"}\ndata:\n"+
				"  index: \"%d\"\n  text: |\n    object %d of a large repository that a sparse checkout leaves out;\n"+
				"    a little text so that each file has a few hundred bytes, like a small manifest.\n"+
				"  checksum: %x\n", i, i%100, i, i, uint64(i)*0x9E3779B97F4A7C15)
	}
	for i := range small {
		files[fmt.Sprintf("apps/web/m%d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-%d\n", i)
	}
	for _, filter := range []bool{true, false} {
		srv, err := gitserver.Start(ctx, gitserver.Options{NoFilter: !filter})
		if err != nil {
			return err
		}
		err = b.sparseOn(ctx, srv, files, filter, workload)
		if cerr := srv.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sparseOn measures on one server.
func (b *bench) sparseOn(ctx context.Context, srv *gitserver.Server, files map[string]string, filter bool, workload string) error {
	repo, err := srv.CreateRepo(ctx, "large")
	if err != nil {
		return err
	}
	if _, err := repo.Commit(ctx, "large", files); err != nil {
		return err
	}
	opts := source.GitOptions{URL: srv.HTTPURL("large"), Insecure: true, Ref: source.GitRef{Branch: "main"}, KeepGitDir: true}
	server := "server with partial clone"
	if !filter {
		server = "server without partial clone"
	}
	var fullTime time.Duration
	var fullSent, fullWritten int64
	for _, sparse := range [][]string{nil, {"apps/web"}} {
		opts.SparseCheckout = sparse
		var times []time.Duration
		var sent, written int64
		for range 3 {
			dir, err := os.MkdirTemp(b.tmp, "sparse-")
			if err != nil {
				return err
			}
			before := srv.Stats().HTTPBytesSent
			start := time.Now()
			art, err := source.Fetch(ctx, opts, dir)
			if err != nil {
				return fmt.Errorf("sparse bench: %w", err)
			}
			times = append(times, time.Since(start))
			sent = srv.Stats().HTTPBytesSent - before
			if written, err = dirSize(art.Dir); err != nil {
				return err
			}
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
		slices.Sort(times)
		median := times[len(times)/2]
		if sparse == nil {
			if !filter {
				// The same fetch as with the other server: measured once.
				fullTime, fullSent, fullWritten = median, sent, written
				continue
			}
			fullTime, fullSent, fullWritten = median, sent, written
			b.rows = append(b.rows, row{"git fetch, full shallow", fmt.Sprintf("%.2f s, %s sent, %s written",
				median.Seconds(), mb(sent), mb(written)), "", workload})
			continue
		}
		b.rows = append(b.rows, row{"git fetch, sparseCheckout [apps/web], " + server,
			fmt.Sprintf("%.2f s, %s sent, %s written", median.Seconds(), mb(sent), mb(written)),
			fmt.Sprintf("< full (%.0f%% time, %.1f%% bytes sent, %.1f%% written)",
				100*median.Seconds()/fullTime.Seconds(), 100*float64(sent)/float64(fullSent), 100*float64(written)/float64(fullWritten)),
			workload})
	}
	return nil
}

// dirSize sums the sizes of the regular files below dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	return n, err
}

// mb formats a byte count in MB (10^6 bytes), or kB below one MB.
func mb(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.2f MB", float64(n)/1e6)
}
