package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// krewManifest is the part of a krew Plugin manifest the tests check.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

var (
	semverTag = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// checkManifest checks what krew requires of a manifest, strictly (unknown
// fields are errors).
func checkManifest(t *testing.T, data []byte) krewManifest {
	t.Helper()
	var m krewManifest
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "gitsync" {
		t.Errorf("apiVersion %q kind %q name %q", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if !semverTag.MatchString(m.Spec.Version) {
		t.Errorf("version %q is not v-prefixed semver", m.Spec.Version)
	}
	if !strings.HasPrefix(m.Spec.Homepage, "https://") || m.Spec.ShortDescription == "" || len(m.Spec.ShortDescription) > 50 || m.Spec.Description == "" {
		t.Errorf("homepage %q shortDescription %q (%d chars)", m.Spec.Homepage, m.Spec.ShortDescription, len(m.Spec.ShortDescription))
	}
	var got []platform
	for _, p := range m.Spec.Platforms {
		pl := platform{p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]}
		got = append(got, pl)
		if want := archiveName(m.Spec.Version, pl); !strings.HasPrefix(p.URI, "https://") || !strings.HasSuffix(p.URI, "/"+m.Spec.Version+"/"+want) {
			t.Errorf("%s: uri %q does not end in /%s/%s", pl, p.URI, m.Spec.Version, want)
		}
		if !hexSHA256.MatchString(p.SHA256) {
			t.Errorf("%s: sha256 %q", pl, p.SHA256)
		}
		if p.Bin != pl.exe(binary) {
			t.Errorf("%s: bin %q", pl, p.Bin)
		}
		froms := map[string]string{}
		for _, f := range p.Files {
			froms[f.From] = f.To
		}
		if diff := cmp.Diff(map[string]string{pl.exe(binary): ".", pl.shim(): ".", "LICENSE": "."}, froms); diff != "" {
			t.Errorf("%s: files (-want +got):\n%s", pl, diff)
		}
	}
	if diff := cmp.Diff(platforms(), got); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	return m
}

func TestCheckedInManifest(t *testing.T) {
	data, err := os.ReadFile("../../plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := checkManifest(t, data)
	// The checked-in file is in the form fillManifest writes, so that
	// -update-manifest changes only values.
	var arts []artifact
	for _, p := range m.Spec.Platforms {
		arts = append(arts, artifact{
			Platform: platform{p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]},
			Name:     p.URI[strings.LastIndex(p.URI, "/")+1:],
			SHA256:   p.SHA256,
		})
	}
	again, err := fillManifest(data, m.Spec.Version, "https://github.com/gitsync/gitsync/releases/download", arts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(data), string(again)); diff != "" {
		t.Errorf("plugin.yaml is not in fillManifest's form (-file +filled):\n%s", diff)
	}
}

func TestFillManifest(t *testing.T) {
	data, err := os.ReadFile("../../plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var arts []artifact
	for i, p := range platforms() {
		arts = append(arts, artifact{Platform: p, Name: archiveName("v9.8.7", p), SHA256: strings.Repeat(string(rune('a'+i)), 64)})
	}
	out, err := fillManifest(data, "v9.8.7", "https://example.com/dl/", arts)
	if err != nil {
		t.Fatal(err)
	}
	m := checkManifest(t, out)
	if m.Spec.Version != "v9.8.7" {
		t.Errorf("version %q", m.Spec.Version)
	}
	for i, p := range m.Spec.Platforms {
		if want := "https://example.com/dl/v9.8.7/" + arts[i].Name; p.URI != want || p.SHA256 != arts[i].SHA256 {
			t.Errorf("platform %d: uri %q sha256 %q, want %q %q", i, p.URI, p.SHA256, want, arts[i].SHA256)
		}
	}
	if !strings.HasPrefix(string(out), "# krew plugin manifest") {
		t.Error("the leading comment was lost")
	}

	if _, err := fillManifest(data, "v1.0.0", "https://x", arts[:3]); err == nil || !strings.Contains(err.Error(), "no archive built for linux/arm64") {
		t.Errorf("missing archive: err = %v", err)
	}
	extra := append(arts, artifact{Platform: platform{"freebsd", "amd64"}, Name: "x", SHA256: arts[0].SHA256})
	if _, err := fillManifest(data, "v1.0.0", "https://x", extra); err == nil || !strings.Contains(err.Error(), "no entry for freebsd/amd64") {
		t.Errorf("extra archive: err = %v", err)
	}
	if _, err := fillManifest([]byte("kind: Deployment\n"), "v1.0.0", "https://x", arts); err == nil {
		t.Error("not a Plugin: no error")
	}
}

func TestArchiveReproducible(t *testing.T) {
	mtime := time.Unix(1700000000, 0).UTC()
	files := []file{
		{Name: "kubectl-gitsync", Mode: 0o755, Content: []byte("\x7fELF binary")},
		{Name: "LICENSE", Mode: 0o644, Content: []byte("license text\n")},
	}
	a, err := archive(files, mtime)
	if err != nil {
		t.Fatal(err)
	}
	b, err := archive([]file{files[1], files[0]}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the same files in another order give another archive")
	}
	c, err := archive(files, mtime.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("mtime is not in the archive")
	}

	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header name %q time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	type entry struct {
		Name    string
		Mode    int64
		UID     int
		GID     int
		Uname   string
		Gname   string
		ModTime time.Time
		Content string
	}
	var got []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entry{h.Name, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime.UTC(), string(body)})
	}
	want := []entry{
		{Name: "LICENSE", Mode: 0o644, ModTime: mtime, Content: "license text\n"},
		{Name: "kubectl-gitsync", Mode: 0o755, ModTime: mtime, Content: "\x7fELF binary"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// TestRun runs the whole tool on a tiny main package: five cross builds,
// archives, checksums and the manifest, twice, with identical results.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds five binaries")
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, "plugin.yaml")
	orig, err := os.ReadFile("../../plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config{
		Version: "v1.2.3", LDFlags: "-s -w -X main.version=v1.2.3",
		Manifest: manifest, License: "../../LICENSE", Package: "./testdata/hello", Shims: "../../cmd/kubectl-gitsync",
		BaseURL: "https://example.com/releases/download", MTime: time.Unix(0, 0).UTC(),
	}
	var sums [2]string
	for i := range sums {
		cfg.Out = filepath.Join(dir, "dist"+string(rune('0'+i)))
		cfg.UpdateManifest = i == 1
		var out bytes.Buffer
		if err := run(t.Context(), cfg, &out); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(cfg.Out, "checksums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = string(data)
		m := checkManifest(t, mustRead(t, filepath.Join(cfg.Out, "plugin.yaml")))
		for _, p := range m.Spec.Platforms {
			name := p.URI[strings.LastIndex(p.URI, "/")+1:]
			if !strings.Contains(sums[i], p.SHA256+"  "+name+"\n") {
				t.Errorf("manifest sha256 %s of %s is not in checksums.txt:\n%s", p.SHA256, name, sums[i])
			}
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("two runs differ:\n%s\n%s", sums[0], sums[1])
	}
	if strings.Count(sums[0], "\n") != len(platforms()) {
		t.Errorf("checksums.txt:\n%s", sums[0])
	}
	if got := mustRead(t, manifest); !bytes.Equal(got, mustRead(t, filepath.Join(dir, "dist1", "plugin.yaml"))) {
		t.Error("-update-manifest did not rewrite the manifest")
	}

	// The host's binary runs and carries the stamped version.
	p := platform{runtime.GOOS, runtime.GOARCH}
	data := mustRead(t, filepath.Join(dir, "dist0", archiveName("v1.2.3", p)))
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	entries := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = body
	}
	shim := mustRead(t, filepath.Join("../../cmd/kubectl-gitsync", p.shim()))
	if !bytes.Equal(entries[p.shim()], shim) || entries["LICENSE"] == nil {
		t.Errorf("the archive lacks the completion shim %s or LICENSE: %v", p.shim(), slices.Sorted(maps.Keys(entries)))
	}
	exe := filepath.Join(dir, binary)
	if err := os.WriteFile(exe, entries[p.exe(binary)], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), exe).Output()
	if err != nil || strings.TrimSpace(string(out)) != "v1.2.3" {
		t.Errorf("%s printed %q, %v; want v1.2.3", binary, out, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
