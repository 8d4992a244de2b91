package syncrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/artifactgen"
)

// An ArtifactGenerator's artifact (an ExternalArtifact of the graph) is a
// source of files like a GitRepository: a Kustomization's sourceRef reads
// it. The run has no artifact storage: it resolves and fetches the
// generator's sources through its cache, as units' sources are (the sync's
// own repository is its checkout), and assembles the artifact from their
// trees with source-watcher's copy rules (pkg/source/artifactgen), once per
// run however many units read it.

// generated is what a fluxSource of an ExternalArtifact holds instead of a
// spec.Source.
type generated struct {
	artifact *flux.ExternalArtifact
	// inputs are the generator's sources, in the order of its
	// spec.sources.
	inputs []*fluxSource
}

// externalArtifactTree reads an ExternalArtifact as a tree of files;
// inputs are its generator's sources (flux.Graph.Sources).
func externalArtifactTree(ctx context.Context, r *runner, obj flux.Object, inputs []flux.Object) (*fluxSource, error) {
	ea := obj.(*flux.ExternalArtifact)
	gen := ea.Generator
	if len(inputs) != len(gen.Sources) {
		// flux.Graph.Sources returns them all or fails.
		return nil, fmt.Errorf("%s spec.sources: %d sources, %d found", gen.ID, len(gen.Sources), len(inputs))
	}
	fs := &fluxSource{id: ea.ID, gen: &generated{artifact: ea}}
	for i, in := range inputs {
		field := fmt.Sprintf("%s spec.sources[%d]", gen.ID, i)
		if b, ok := in.(*brokenObject); ok {
			return nil, fmt.Errorf("%s %s: %w", field, b.meta.ID, b.err)
		}
		if g, ok := in.(*flux.GitRepository); ok && len(g.Include) > 0 && !r.isOwnSource(g) {
			return nil, fmt.Errorf("%s %s: spec.include of a generator's source: %w", field, g.ID, flux.ErrUnsupported)
		}
		sub, err := r.treeSource(ctx, in, nil, ea.ID, field)
		if err != nil {
			return nil, err
		}
		fs.gen.inputs = append(fs.gen.inputs, sub)
	}
	return fs, nil
}

// resolveGenerated resolves each source of the generator and returns the
// artifact's resolution, through the run's cache. The revision is the
// source's named by the artifact's `revision` (@alias), else
// latest@sha256: and a digest of every source's revision and of the copy
// rules: it moves when any of them does, where Flux's moves only with the
// copied content, which a run knows only after fetching.
func (r *runner) resolveGenerated(ctx context.Context, fs *fluxSource) (*source.Resolved, error) {
	ea := fs.gen.artifact
	var resolved []*source.Resolved
	h := sha256.New()
	for i, in := range fs.gen.inputs {
		res, err := r.resolveFlux(ctx, in, "")
		if err != nil {
			return nil, fmt.Errorf("%s spec.sources[%d] %w", ea.Generator.ID, i, err)
		}
		resolved = append(resolved, res)
		fmt.Fprintf(h, "%s=%s %s\n", ea.Generator.Sources[i].Alias, res.Key, res.Revision)
	}
	rules, err := json.Marshal(ea.Artifact.Copy)
	if err != nil {
		return nil, err
	}
	h.Write(rules)
	digest := hex.EncodeToString(h.Sum(nil))
	rev := source.Revision("latest@sha256:" + digest)
	if a := ea.Artifact.Revision; a != "" {
		rev = resolved[ea.SourceIndex(a)].Revision
	}
	src := &generatedSource{r: r, fs: fs, inputs: resolved, rev: rev}
	res, err := r.sources.Resolve(ctx, "artifact:"+ea.ID.String()+"@"+digest, src)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("%s: %w", fs.id, err))
	}
	return res, nil
}

// generatedSource is an artifact as a source.Source of the run's cache:
// Resolve returns what resolveGenerated computed; Fetch fetches the
// generator's sources and copies.
type generatedSource struct {
	r      *runner
	fs     *fluxSource
	inputs []*source.Resolved
	rev    source.Revision
}

func (g *generatedSource) Resolve(context.Context) (source.Revision, error) { return g.rev, nil }

func (g *generatedSource) Fetch(ctx context.Context, rev source.Revision, dir string) (*source.Artifact, error) {
	ea := g.fs.gen.artifact
	trees := map[string]string{}
	for i, in := range g.inputs {
		art, err := g.r.fetchFlux(ctx, g.fs.gen.inputs[i], in)
		if err != nil {
			return nil, fmt.Errorf("%s spec.sources[%d] %w", ea.Generator.ID, i, err)
		}
		trees[ea.Generator.Sources[i].Alias] = art.Dir
	}
	ops := make([]artifactgen.Op, len(ea.Artifact.Copy))
	for i, c := range ea.Artifact.Copy {
		ops[i] = artifactgen.Op{From: c.From, To: c.To, Exclude: c.Exclude, Merge: c.Strategy == flux.CopyMerge}
	}
	if err := artifactgen.Build(ctx, ops, trees, dir, artifactgen.Options{}); err != nil {
		idx := ""
		for i, a := range ea.Generator.Artifacts {
			if a.Name == ea.Artifact.Name {
				idx = fmt.Sprintf("[%d]", i)
			}
		}
		return nil, fmt.Errorf("%s spec.artifacts%s.%w", ea.Generator.ID, idx, err)
	}
	return &source.Artifact{Dir: dir, Revision: rev}, nil
}
