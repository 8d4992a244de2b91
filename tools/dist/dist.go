package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	yaml3 "go.yaml.in/yaml/v3"
)

// module is the main module, whose version package the default ldflags stamp.
const module = "github.com/gitsync/gitsync"

// binary is the plugin's executable name, which krew links as kubectl-gitsync.
const binary = "kubectl-gitsync"

// completionShim is the executable kubectl (1.26+) runs from PATH to
// complete `kubectl gitsync ...`; it calls the plugin's __complete. Krew
// unpacks it next to the binary (it links only the binary into PATH; the
// manifest's caveats say how to link the shim).
const completionShim = "kubectl_complete-gitsync"

// platform is one release target.
type platform struct{ OS, Arch string }

func (p platform) String() string { return p.OS + "/" + p.Arch }

// platforms returns the release targets, in the manifest's order.
func platforms() []platform {
	return []platform{{"darwin", "amd64"}, {"darwin", "arm64"}, {"linux", "amd64"}, {"linux", "arm64"}, {"windows", "amd64"}}
}

// exe returns the name of an executable on p: name, with .exe on Windows.
func (p platform) exe(name string) string {
	if p.OS == "windows" {
		return name + ".exe"
	}
	return name
}

// shim returns the completion shim's file name on p: a shell script, or a
// .cmd script on Windows (kubectl finds it through PATHEXT).
func (p platform) shim() string {
	if p.OS == "windows" {
		return completionShim + ".cmd"
	}
	return completionShim
}

// config is what main parsed from the flags.
type config struct {
	Version, Commit, LDFlags string
	Out, Manifest, License   string
	BaseURL, Package         string
	// Shims is the directory holding the completion shims
	// (kubectl_complete-gitsync and kubectl_complete-gitsync.cmd).
	Shims          string
	UpdateManifest bool
	MTime          time.Time
}

// artifact is one built archive.
type artifact struct {
	Platform platform
	Name     string // file name in Out
	SHA256   string // hex
}

// archiveName returns the archive's file name for version and p.
func archiveName(version string, p platform) string {
	return fmt.Sprintf("%s_%s_%s_%s.tar.gz", binary, version, p.OS, p.Arch)
}

func run(ctx context.Context, cfg config, stdout io.Writer) (err error) {
	if cfg.LDFlags == "" {
		if cfg.Commit == "" {
			out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
			if err != nil {
				return fmt.Errorf("git rev-parse: %w (give -commit or -ldflags)", err)
			}
			cfg.Commit = strings.TrimSpace(string(out))
		}
		cfg.LDFlags = fmt.Sprintf("-s -w -X %s/pkg/version.Version=%s -X %s/pkg/version.Commit=%s", module, cfg.Version, module, cfg.Commit)
	}
	license, err := os.ReadFile(cfg.License)
	if err != nil {
		return err
	}
	manifest, err := os.ReadFile(cfg.Manifest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "gitsync-dist-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(work)) }()

	var arts []artifact
	for _, p := range platforms() {
		bin := filepath.Join(work, p.OS+"_"+p.Arch, p.exe(binary))
		if err := build(ctx, cfg, p, bin); err != nil {
			return err
		}
		exe, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		shim, err := os.ReadFile(filepath.Join(cfg.Shims, p.shim()))
		if err != nil {
			return err
		}
		data, err := archive([]file{
			{Name: p.exe(binary), Mode: 0o755, Content: exe},
			{Name: p.shim(), Mode: 0o755, Content: shim},
			{Name: "LICENSE", Mode: 0o644, Content: license},
		}, cfg.MTime)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		sum := sha256.Sum256(data)
		a := artifact{Platform: p, Name: archiveName(cfg.Version, p), SHA256: hex.EncodeToString(sum[:])}
		if err := os.WriteFile(filepath.Join(cfg.Out, a.Name), data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(cfg.Out, a.Name+".sha256"), []byte(a.SHA256+"  "+a.Name+"\n"), 0o644); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s  %s\n", a.SHA256, filepath.Join(cfg.Out, a.Name)); err != nil {
			return err
		}
		arts = append(arts, a)
	}
	var sums strings.Builder
	for _, a := range arts {
		fmt.Fprintf(&sums, "%s  %s\n", a.SHA256, a.Name)
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "checksums.txt"), []byte(sums.String()), 0o644); err != nil {
		return err
	}

	updated, err := fillManifest(manifest, cfg.Version, cfg.BaseURL, arts)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Manifest, err)
	}
	out := filepath.Join(cfg.Out, "plugin.yaml")
	if err := os.WriteFile(out, updated, 0o644); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, "wrote", out); err != nil {
		return err
	}
	if cfg.UpdateManifest {
		if err := os.WriteFile(cfg.Manifest, updated, 0o644); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(stdout, "updated", cfg.Manifest); err != nil {
			return err
		}
	}
	return nil
}

// build cross-compiles cfg.Package for p into out.
func build(ctx context.Context, cfg config, p platform, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", cfg.LDFlags, "-o", out, cfg.Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", cfg.Package, p, err, stderr.String())
	}
	return nil
}

// file is one archive entry.
type file struct {
	Name    string
	Mode    int64
	Content []byte
}

// archive returns a reproducible .tar.gz of files: sorted by name, owner
// 0:0 without user and group names, every mtime mtime, and a gzip header
// with neither name nor time.
func archive(files []file, mtime time.Time) ([]byte, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     f.Mode,
			Size:     int64(len(f.Content)),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fillManifest returns the krew manifest with spec.version set to version
// and, for every platform (matched by selector.matchLabels os and arch), uri
// and sha256 set from its artifact. Comments and key order are kept. Every
// platform of the manifest must have an artifact and the reverse.
func fillManifest(manifest []byte, version, baseURL string, arts []artifact) ([]byte, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(manifest, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	root := doc.Content[0]
	if kind := lookup(root, "kind"); kind == nil || kind.Value != "Plugin" {
		return nil, errors.New("kind: not a krew Plugin")
	}
	spec := lookup(root, "spec")
	if spec == nil {
		return nil, errors.New("spec: missing")
	}
	if err := set(spec, "version", version); err != nil {
		return nil, err
	}
	plats := lookup(spec, "platforms")
	if plats == nil || plats.Kind != yaml3.SequenceNode {
		return nil, errors.New("spec.platforms: missing")
	}
	byPlatform := map[platform]artifact{}
	for _, a := range arts {
		byPlatform[a.Platform] = a
	}
	seen := map[platform]bool{}
	for i, pn := range plats.Content {
		labels := lookup(lookup(pn, "selector"), "matchLabels")
		osNode, archNode := lookup(labels, "os"), lookup(labels, "arch")
		if osNode == nil || archNode == nil {
			return nil, fmt.Errorf("spec.platforms[%d]: selector.matchLabels needs os and arch", i)
		}
		p := platform{osNode.Value, archNode.Value}
		a, ok := byPlatform[p]
		if !ok {
			return nil, fmt.Errorf("spec.platforms[%d]: no archive built for %s", i, p)
		}
		seen[p] = true
		if err := set(pn, "uri", strings.TrimSuffix(baseURL, "/")+"/"+version+"/"+a.Name); err != nil {
			return nil, err
		}
		if err := set(pn, "sha256", a.SHA256); err != nil {
			return nil, err
		}
		if bin := lookup(pn, "bin"); bin == nil || bin.Value != p.exe(binary) {
			return nil, fmt.Errorf("spec.platforms[%d] (%s): bin must be %s", i, p, p.exe(binary))
		}
	}
	for _, a := range arts {
		if !seen[a.Platform] {
			return nil, fmt.Errorf("spec.platforms: no entry for %s", a.Platform)
		}
	}
	var buf bytes.Buffer
	enc := yaml3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml3.Node, key string) *yaml3.Node {
	if n == nil || n.Kind != yaml3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// set sets the scalar value of key in mapping n, which must exist.
func set(n *yaml3.Node, key, value string) error {
	v := lookup(n, key)
	if v == nil || v.Kind != yaml3.ScalarNode {
		return fmt.Errorf("%s: missing, or not a scalar", key)
	}
	v.Value, v.Tag, v.Style = value, "!!str", 0
	return nil
}
