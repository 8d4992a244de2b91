package flux

import (
	"fmt"
	"strings"
)

// Flux 2.7's source-watcher controller composes and splits sources: an
// ArtifactGenerator (source.extensions.fluxcd.io) copies files of Flux
// sources into ExternalArtifacts, which Kustomizations read as their
// sourceRef. A run has no controller and no artifact storage: it reads the
// generator as it reads a source, and each of its artifacts becomes an
// *ExternalArtifact of the graph whose tree the run assembles from the
// generator's sources when a unit reads it.

// ExtensionsGroup is the API group of the ArtifactGenerator.
const ExtensionsGroup = "source.extensions.fluxcd.io"

// Kinds of Flux's source-watcher.
const (
	KindArtifactGenerator = "ArtifactGenerator"
	KindExternalArtifact  = "ExternalArtifact"
)

// Copy strategies of an ArtifactGenerator's copy operation.
const (
	// CopyOverwrite replaces what an earlier operation wrote (the default).
	CopyOverwrite = "Overwrite"
	// CopyMerge merges a YAML file into the one an earlier operation
	// wrote, as Helm merges values files: maps deeply, lists replaced.
	CopyMerge = "Merge"
)

// ArtifactGenerator is a decoded source.extensions.fluxcd.io
// ArtifactGenerator.
type ArtifactGenerator struct {
	Meta
	// Sources are the Flux sources the artifacts copy from, by alias.
	Sources []GeneratorSource
	// Artifacts are the ExternalArtifacts it generates, in the
	// generator's namespace.
	Artifacts []GeneratedArtifact
}

// GeneratorSource is one source of an ArtifactGenerator.
type GeneratorSource struct {
	// Alias names the source in copy operations (@alias/...).
	Alias string
	// Ref is the source object, namespace defaulted to the generator's.
	Ref ID
}

// GeneratedArtifact is one artifact of an ArtifactGenerator.
type GeneratedArtifact struct {
	// Name is the ExternalArtifact's name.
	Name string
	// Revision, "@alias", makes the artifact's revision that source's;
	// "" derives it from all of them.
	Revision string
	// OriginRevision, "@alias", is recorded as Flux records it (the
	// origin of the content, such as the monorepo commit).
	OriginRevision string
	// Copy are the operations, in order.
	Copy []CopyOperation
}

// CopyOperation copies files of a source into the artifact.
type CopyOperation struct {
	// From is @alias/path or @alias/glob; To is @artifact/path, a
	// directory when it ends with a slash.
	From, To string
	// Exclude are glob patterns of files left out.
	Exclude []string
	// Strategy is CopyOverwrite (default) or CopyMerge.
	Strategy string
}

// ExternalArtifact is one artifact of an ArtifactGenerator, as units read
// it: its ID is ExternalArtifact/<generator's namespace>/<artifact name>.
type ExternalArtifact struct {
	Meta
	// Generator is the ArtifactGenerator that makes it.
	Generator *ArtifactGenerator
	// Artifact is its entry in Generator.Artifacts.
	Artifact GeneratedArtifact
}

// SourceIndex returns the index in Generator.Sources of alias ("@alias"
// or "alias"), or -1.
func (e *ExternalArtifact) SourceIndex(alias string) int {
	alias = strings.TrimPrefix(alias, "@")
	for i, s := range e.Generator.Sources {
		if s.Alias == alias {
			return i
		}
	}
	return -1
}

// ExternalArtifacts returns the generator's artifacts as objects of the
// graph, in order.
func (g *ArtifactGenerator) ExternalArtifacts() []Object {
	out := make([]Object, 0, len(g.Artifacts))
	for _, a := range g.Artifacts {
		id := ID{Kind: KindExternalArtifact, Namespace: g.ID.Namespace, Name: a.Name}
		out = append(out, &ExternalArtifact{Meta: Meta{ID: id, APIVersion: g.APIVersion, Labels: g.Labels, Annotations: g.Annotations},
			Generator: g, Artifact: a})
	}
	return out
}

// generatorSchemas is the schema of the ArtifactGenerator.
func generatorSchemas() []*kindSchema {
	return []*kindSchema{
		{group: ExtensionsGroup, kind: KindArtifactGenerator, versions: []string{"v1beta1"}, spec: []field{
			mapF("sources", tObjects, "the Flux sources copied from, each resolved and fetched once per run as a unit's "+
				"source is; an alias names each in `copy`").req().sub(
				mapF("alias", tString, "the name `@alias` in `copy`; letters, digits, `-` and `_`, unique").req().
					match(`^[A-Za-z0-9_-]+$`, "letters, digits, - and _"),
				mapF("kind", tString, "`GitRepository`, `OCIRepository` or `Bucket`").req().
					oneOf(KindGitRepository, KindOCIRepository, KindBucket, KindHelmChart, KindExternalArtifact).
					refusing("`HelmChart` and `ExternalArtifact` are refused: gitsync keeps no packaged chart or other "+
						"artifact to copy from", refuseExcept("gitsync copies only from a source's tree of files",
						KindGitRepository, KindOCIRepository, KindBucket)),
				mapF("name", tString, "name").req(),
				mapF("namespace", tString, "namespace; default the generator's (see `--no-cross-namespace-refs` under [Order](#order))"),
			),
			mapF("artifacts", tObjects, "the ExternalArtifacts generated, in the generator's namespace; a Kustomization's "+
				"`sourceRef` of kind `ExternalArtifact` reads one").req().sub(
				mapF("name", tString, "the ExternalArtifact's name").req(),
				mapF("revision", tString, "`@alias`: the artifact's revision is that source's; default "+
					"`latest@sha256:` and a digest of the sources' revisions and the copy rules (Flux digests the "+
					"copied content, which a run knows only after fetching)").match(`^@[A-Za-z0-9_-]+$`, "@alias"),
				mapF("originRevision", tString, "`@alias`: the source whose revision is the origin of the content; "+
					"checked to name a source").match(`^@[A-Za-z0-9_-]+$`, "@alias"),
				mapF("copy", tObjects, "copy operations, in order, with `cp`'s rules, as source-watcher").req().sub(
					mapF("from", tString, "`@alias/path` or `@alias/glob` (`dir/**` copies the contents of dir)").req().
						match(`^@[A-Za-z0-9_-]+/`, "@alias/path"),
					mapF("to", tString, "`@artifact/path`; a directory when it ends with `/`").req().
						match(`^@artifact/`, "@artifact/path"),
					mapF("exclude", tStrings, "glob patterns of files left out, relative to the source or to the "+
						"literal prefix of `from`; a pattern without `/` matches the file name at any depth"),
					mapF("strategy", tString, "`Overwrite` (default) or `Merge` (YAML, as Helm merges values files)").
						oneOf(CopyOverwrite, CopyMerge, "Extract").
						refusing("`Extract` (unpacking tarballs) is refused: not supported yet",
							refuseExcept("unpacking tarballs is not supported yet", CopyOverwrite, CopyMerge)),
				),
			),
			refF("pathPattern", "one artifact per directory matching a pattern", ""),
		}},
	}
}

func decodeArtifactGenerator(d *decoder, meta Meta, r reader) *ArtifactGenerator {
	g := &ArtifactGenerator{Meta: meta}
	aliases := map[string]bool{}
	for i, s := range r.list("sources") {
		ref := ID{Kind: s.str("kind"), Namespace: orDefault(s.str("namespace"), meta.ID.Namespace), Name: s.str("name")}
		alias := s.str("alias")
		if aliases[alias] {
			d.errorf(fmt.Sprintf("spec.sources[%d].alias", i), ErrInvalid, "alias %q is used twice", alias)
		}
		aliases[alias] = true
		g.Sources = append(g.Sources, GeneratorSource{Alias: alias, Ref: ref})
	}
	names := map[string]bool{}
	for i, a := range r.list("artifacts") {
		p := fmt.Sprintf("spec.artifacts[%d]", i)
		ga := GeneratedArtifact{Name: a.str("name"), Revision: a.str("revision"), OriginRevision: a.str("originRevision")}
		if names[ga.Name] {
			d.errorf(p+".name", ErrInvalid, "artifact %q is defined twice", ga.Name)
		}
		names[ga.Name] = true
		for _, f := range []struct{ name, v string }{{"revision", ga.Revision}, {"originRevision", ga.OriginRevision}} {
			if f.v != "" && !aliases[strings.TrimPrefix(f.v, "@")] {
				d.errorf(p+"."+f.name, ErrInvalid, "%s names no alias of spec.sources", f.v)
			}
		}
		for j, c := range a.list("copy") {
			op := CopyOperation{From: c.str("from"), To: c.str("to"), Exclude: c.strs("exclude"),
				Strategy: orDefault(c.str("strategy"), CopyOverwrite)}
			alias, _, _ := strings.Cut(strings.TrimPrefix(op.From, "@"), "/")
			if op.From != "" && !aliases[alias] {
				d.errorf(fmt.Sprintf("%s.copy[%d].from", p, j), ErrInvalid, "@%s names no alias of spec.sources", alias)
			}
			ga.Copy = append(ga.Copy, op)
		}
		g.Artifacts = append(g.Artifacts, ga)
	}
	return g
}
