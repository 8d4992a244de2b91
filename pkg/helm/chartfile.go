package helm

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxChartYAML caps the Chart.yaml read from a package.
const maxChartYAML = 1 << 20

// chartMetadata is the part of a Chart.yaml Fetch checks.
type chartMetadata struct {
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Version    string `json:"version"`
}

// packagedChart reads the Chart.yaml of a packaged chart (a gzipped tar
// whose entries lie in a top-level directory, as `helm package` writes
// it) and returns its metadata, which must name the API version, the
// chart and its version. It reads nothing else: the templates and values
// are checked when the chart is rendered.
func packagedChart(file string) (*chartMetadata, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("not a gzipped archive: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no Chart.yaml in the archive")
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		name := strings.TrimPrefix(path.Clean(strings.ReplaceAll(h.Name, `\`, "/")), "/")
		// As Helm's loader, the first path element is the chart's
		// directory, whatever its name.
		if _, rest, _ := strings.Cut(name, "/"); rest != "Chart.yaml" || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxChartYAML {
			return nil, fmt.Errorf("%s: larger than %d bytes", h.Name, maxChartYAML)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxChartYAML))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		var m chartMetadata
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		switch {
		case m.APIVersion == "":
			return nil, fmt.Errorf("%s: apiVersion is required", h.Name)
		case m.Name == "":
			return nil, fmt.Errorf("%s: name is required", h.Name)
		case m.Version == "":
			return nil, fmt.Errorf("%s: version is required", h.Name)
		}
		return &m, nil
	}
}
