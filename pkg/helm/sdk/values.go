package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/gitsync/gitsync/pkg/helm/chartrender"
	"github.com/gitsync/gitsync/pkg/sops"
)

// checkDependencies checks, through every level of subcharts, that each
// dependency Chart.yaml declares is present in charts/ in a version that
// satisfies its constraint. Helm would drop a dependency of the wrong
// version without a word; nothing is fetched here, so a chart must come
// with its dependencies (helm dependency build before packaging).
func checkDependencies(c *chart.Chart) error {
	var errs []error
	for _, d := range c.Metadata.Dependencies {
		if d == nil {
			continue
		}
		var versions []string
		ok := false
		for _, sub := range c.Dependencies() {
			if sub.Name() != d.Name {
				continue
			}
			versions = append(versions, sub.Metadata.Version)
			if d.Version == "" || chartutil.IsCompatibleRange(d.Version, sub.Metadata.Version) {
				ok = true
			}
		}
		switch {
		case ok:
		case len(versions) == 0:
			errs = append(errs, fmt.Errorf("%s: dependency %s %s is declared in Chart.yaml but missing in charts/ (run helm dependency build): %w",
				c.ChartFullPath(), d.Name, d.Version, chartrender.ErrInvalidChart))
		default:
			errs = append(errs, fmt.Errorf("%s: dependency %s: charts/ holds version %s, Chart.yaml asks for %s: %w",
				c.ChartFullPath(), d.Name, strings.Join(versions, ", "), d.Version, chartrender.ErrInvalidChart))
		}
	}
	for _, sub := range c.Dependencies() {
		if err := checkDependencies(sub); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// valuesFiles merges the chart's files named by names, in order; with
// ignoreMissing, names the chart does not have are left out. It also
// returns the values SOPS decryption revealed (sops.Revealed), so far.
func valuesFiles(c *chart.Chart, names []string, ignoreMissing bool, keys *sops.Keys) (out map[string]any, revealed []string, err error) {
	out = map[string]any{}
	for i, name := range names {
		clean := path.Clean(filepath.ToSlash(name))
		var data []byte
		found := false
		for _, f := range c.Raw {
			if f.Name == clean {
				data, found = f.Data, true
				break
			}
		}
		if !found && ignoreMissing {
			continue
		}
		if !found {
			return nil, revealed, fmt.Errorf("valuesFiles[%d] %s: no such file in the chart: %w", i, name, chartrender.ErrInvalidChart)
		}
		if sops.IsEncrypted(sops.YAML, data) {
			if keys == nil {
				return nil, revealed, fmt.Errorf("valuesFiles[%d] %s: %w", i, name, chartrender.ErrDecryptionRequired)
			}
			plain, err := sops.Decrypt(sops.YAML, data, keys)
			if err != nil {
				return nil, revealed, fmt.Errorf("valuesFiles[%d] %s: SOPS decryption failed: %w", i, name, err)
			}
			revealed = append(revealed, sops.Revealed(sops.YAML, data, plain)...)
			data = plain
		}
		v, err := chartloader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, revealed, fmt.Errorf("valuesFiles[%d] %s: %w: %w", i, name, chartrender.ErrInvalidChart, err)
		}
		out = mergeMaps(out, v)
	}
	return out, revealed, nil
}

// mergeMaps merges src into dst deeply and returns dst: mappings merge key
// by key, anything else replaces (as pkg/helm's MergeValues).
func mergeMaps(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeMaps(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// normalize returns a deep copy of values with the types Helm gives
// values read from YAML (maps, lists, strings, booleans, float64, nil).
func normalize(values map[string]any) (map[string]any, error) {
	if values == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// kindOf names the YAML kind of a decoded value for messages.
func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int64, int:
		return "a number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
