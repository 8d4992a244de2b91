package helmrepo

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"sigs.k8s.io/yaml"
)

// modTime is the time stamped on every packaged file, so that packaging the
// same Chart twice gives the same bytes (and digest).
var modTime = time.Unix(1_700_000_000, 0).UTC()

// Chart describes a chart to package. Name and Version are required.
type Chart struct {
	// Name, Version, AppVersion, KubeVersion, Description and Type are
	// Chart.yaml fields. APIVersion defaults to "v2".
	Name, Version, AppVersion, KubeVersion, Description, Type, APIVersion string
	// Templates are files below templates/, by name ("deploy.yaml",
	// "_helpers.tpl", "NOTES.txt").
	Templates map[string]string
	// Values is values.yaml; empty means none.
	Values string
	// Schema is values.schema.json; empty means none.
	Schema string
	// CRDs are files below crds/, by name.
	CRDs map[string]string
	// Files are any other files, by chart-relative path
	// ("values-prod.yaml", "files/config.txt").
	Files map[string]string
	// Dependencies are Chart.yaml's dependencies. They are not derived
	// from Subcharts, so that a test can leave one out.
	Dependencies []Dependency
	// Subcharts are packaged into charts/ as NAME-VERSION.tgz, as `helm
	// dependency build` leaves them.
	Subcharts []Chart
	// Lock writes a Chart.lock listing Dependencies at the subcharts'
	// versions.
	Lock bool
}

// Dependency is one entry of Chart.yaml's dependencies.
type Dependency struct {
	Name, Version, Repository, Condition, Alias string
}

// FileMap returns every file of the chart by chart-relative path, as a chart
// directory holds them.
func (c Chart) FileMap() (map[string][]byte, error) {
	if c.Name == "" || c.Version == "" {
		return nil, fmt.Errorf("chart %q: name and version are required", c.Name)
	}
	md := chart.Metadata{
		APIVersion:  c.APIVersion,
		Name:        c.Name,
		Version:     c.Version,
		AppVersion:  c.AppVersion,
		KubeVersion: c.KubeVersion,
		Description: c.Description,
		Type:        c.Type,
	}
	if md.APIVersion == "" {
		md.APIVersion = chart.APIVersionV2
	}
	for _, d := range c.Dependencies {
		md.Dependencies = append(md.Dependencies, &chart.Dependency{
			Name: d.Name, Version: d.Version, Repository: d.Repository, Condition: d.Condition, Alias: d.Alias,
		})
	}
	chartYAML, err := yaml.Marshal(md)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"Chart.yaml": chartYAML}
	if c.Values != "" {
		files["values.yaml"] = []byte(c.Values)
	}
	if c.Schema != "" {
		files["values.schema.json"] = []byte(c.Schema)
	}
	for name, data := range c.Templates {
		files[path.Join("templates", name)] = []byte(data)
	}
	for name, data := range c.CRDs {
		files[path.Join("crds", name)] = []byte(data)
	}
	for name, data := range c.Files {
		files[name] = []byte(data)
	}
	for _, sub := range c.Subcharts {
		tgz, err := sub.Package()
		if err != nil {
			return nil, fmt.Errorf("subchart of %s: %w", c.Name, err)
		}
		files[fmt.Sprintf("charts/%s-%s.tgz", sub.Name, sub.Version)] = tgz
	}
	if c.Lock {
		lock := chart.Lock{Generated: modTime}
		for _, d := range c.Dependencies {
			v := d.Version
			for _, sub := range c.Subcharts {
				if sub.Name == d.Name {
					v = sub.Version
				}
			}
			lock.Dependencies = append(lock.Dependencies, &chart.Dependency{Name: d.Name, Version: v, Repository: d.Repository})
		}
		b, err := yaml.Marshal(lock)
		if err != nil {
			return nil, err
		}
		files["Chart.lock"] = b
	}
	return files, nil
}

// Load returns the chart as the Helm SDK loads it.
func (c Chart) Load() (*chart.Chart, error) {
	files, err := c.FileMap()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var bf []*archive.BufferedFile
	for _, name := range names {
		bf = append(bf, &archive.BufferedFile{Name: name, ModTime: modTime, Data: files[name]})
	}
	ch, err := chartloader.LoadFiles(bf)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", c.Name, c.Version, err)
	}
	return ch, nil
}

// Package returns the packaged chart (.tgz), as `helm package` writes it.
func (c Chart) Package() (_ []byte, err error) {
	ch, err := c.Load()
	if err != nil {
		return nil, err
	}
	ch.StampModTimes(modTime)
	dir, err := os.MkdirTemp("", "helmrepo-package-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	p, err := chartutil.Save(ch, dir)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: package: %w", c.Name, c.Version, err)
	}
	return os.ReadFile(p)
}

// WriteDir writes the chart's files below dir (dir/Chart.yaml, ...), the
// layout of a chart directory in a Git repository.
func (c Chart) WriteDir(dir string) error {
	files, err := c.FileMap()
	if err != nil {
		return err
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
