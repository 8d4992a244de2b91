package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// ignoredFiles are tooling files that Flux's source-controller leaves out of
// every artifact by default; a plain directory never renders them.
var ignoredFiles = []string{
	".travis.yml", ".gitlab-ci.yml", ".drone.yml", ".goreleaser.yml", ".sops.yaml", ".flux.yaml",
	"appveyor.yml", "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
}

// entry is one resource of a generated kustomization.
type entry struct {
	path  string // absolute, as reached (symlinks not resolved)
	isDir bool   // a directory holding its own kustomization
}

// kustomizationIn returns the kustomization file of dir, "" if there is
// none. More than one is left for kustomize to report.
func (c *confinedFS) kustomizationIn(dir string) (string, int) {
	found, n := "", 0
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, name)
		if real, err := c.resolve(p); err == nil {
			if info, err := os.Stat(real); err == nil && !info.IsDir() {
				if found == "" {
					found = p
				}
				n++
			}
		}
	}
	return found, n
}

// scan lists what Flux puts into the kustomization it generates for a
// directory that has none: every .yaml/.yml file below dir, in lexical walk
// order, except under a subdirectory that has its own kustomization, which
// is listed as a directory and not descended into. Hidden directories are
// skipped; symlinks are followed when they stay inside the root.
func (c *confinedFS) scan(ctx context.Context, dir string) ([]entry, error) {
	var out []entry
	onPath := map[string]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		real, err := c.resolve(dir)
		if err != nil {
			return err
		}
		if onPath[real] {
			return fmt.Errorf("%s: directory symlink loop", c.rel(dir))
		}
		onPath[real] = true
		defer delete(onPath, real)
		c.touch(real)
		des, err := os.ReadDir(real)
		if err != nil {
			return fmt.Errorf("%s: %w", c.rel(dir), err)
		}
		for _, de := range des {
			p := filepath.Join(dir, de.Name())
			isDir := de.IsDir()
			if de.Type()&os.ModeSymlink != 0 {
				target, err := c.resolve(p)
				if err != nil {
					return err
				}
				info, err := os.Stat(target)
				if err != nil {
					return fmt.Errorf("%s: %w", c.rel(p), err)
				}
				isDir = info.IsDir()
			} else if !isDir && !de.Type().IsRegular() {
				continue
			}
			if isDir {
				if strings.HasPrefix(de.Name(), ".") {
					continue
				}
				if k, _ := c.kustomizationIn(p); k != "" {
					out = append(out, entry{path: p, isDir: true})
					continue
				}
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			if ext := filepath.Ext(de.Name()); ext != ".yaml" && ext != ".yml" {
				continue
			}
			if slices.Contains(ignoredFiles, de.Name()) || isKustomizationFile(p) {
				continue
			}
			out = append(out, entry{path: p})
		}
		return nil
	}
	return out, walk(dir)
}

// simpleKeys are the only fields a kustomization may have for Render to
// read its resources itself instead of running kustomize: with nothing else
// in it, a kustomization is a plain list of files, and kustomize's output is
// those files' objects.
var simpleKeys = map[string]bool{"apiVersion": true, "kind": true, "resources": true}

// collectSimple returns the manifest files that a tree of plain-list
// kustomizations rooted at kfile (or the generated list entries when kfile
// is "") amounts to, in kustomize's order. ok is false when any part of the
// tree needs kustomize itself.
func (c *confinedFS) collectSimple(ctx context.Context, dir, kfile string, entries []entry) (files []string, ok bool, err error) {
	visiting := map[string]bool{}
	var fromKust func(dir, kfile string) (bool, error)
	addEntry := func(e entry) (bool, error) {
		if !e.isDir {
			files = append(files, e.path)
			return true, nil
		}
		k, n := c.kustomizationIn(e.path)
		if n != 1 {
			return false, nil
		}
		return fromKust(e.path, k)
	}
	fromKust = func(dir, kfile string) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		real, err := c.resolve(dir)
		if err != nil {
			return false, err
		}
		if visiting[real] {
			return false, nil
		}
		visiting[real] = true
		defer delete(visiting, real)
		data, err := c.ReadFile(kfile)
		if err != nil {
			return false, err
		}
		var k map[string]any
		if err := kyaml.Unmarshal(data, &k); err != nil || k == nil {
			return false, nil
		}
		for key := range k {
			if !simpleKeys[key] {
				return false, nil
			}
		}
		if kind, ok := k["kind"]; ok && kind != "Kustomization" {
			return false, nil
		}
		res, ok := k["resources"].([]any)
		if !ok || len(res) == 0 {
			return false, nil
		}
		for _, r := range res {
			s, ok := r.(string)
			if !ok || s == "" || filepath.IsAbs(s) || isRemote(s) {
				return false, nil
			}
			p := filepath.Join(dir, s)
			target, err := c.resolve(p)
			if err != nil {
				return false, err
			}
			info, err := os.Stat(target)
			if err != nil {
				return false, nil
			}
			if ok, err := addEntry(entry{path: p, isDir: info.IsDir()}); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if kfile != "" {
		ok, err = fromKust(dir, kfile)
		return files, ok, err
	}
	for _, e := range entries {
		if ok, err := addEntry(e); !ok || err != nil {
			return nil, false, err
		}
	}
	return files, true, nil
}
