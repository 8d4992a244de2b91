package syncrun

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/fromspec"
	"github.com/gitsync/gitsync/pkg/spec"
)

// The kinds of Flux objects a run executes, and the kinds of Flux sources
// they read, are two tables: a new unit kind is a constructor in
// unitKinds, a new source kind an entry in fluxSourceKinds. Neither the
// pass (unit.go) nor the scheduling of units (units.go) names a kind.

// unitBuilder makes the unitKind and settings of one Flux unit u, whose
// sources Graph.Sources returned (nearest first), whose state is inv.
type unitBuilder func(ctx context.Context, r *runner, u flux.Unit, sources []flux.Object, inv *inventory.Inventory) (unitKind, unitSettings, error)

// unitKinds are the Flux kinds a run executes as units.
var unitKinds = map[string]unitBuilder{
	flux.KindKustomization: newKustomizationUnit,
	flux.KindHelmRelease:   newHelmReleaseUnit,
	// The Flux Operator's ResourceSet (fluxresourceset.go).
	flux.KindResourceSet: newResourceSetUnit,
}

// fluxSource is a Flux source object as a run reads it: a source of the
// run's cache, built by fromspec from an equivalent spec.Source.
type fluxSource struct {
	id   flux.ID
	spec spec.Source
	// creds were read from the object's secretRef and certSecretRef, in
	// the object's namespace; data holds the other Secrets the spec names
	// (verification keys, included repositories' credentials) by name,
	// as fromspec.Options.Secrets; secrets names every Secret read, for
	// the cache key.
	creds   source.Credentials
	data    map[string]map[string][]byte
	secrets string
	// filter applies ignore rules to the fetched tree (source.WithIgnore):
	// for an OCIRepository or a Bucket, whose spec.Source member has no
	// ignore field; ignore is nil for Flux's default exclusions.
	filter bool
	ignore *string
	// own is set for the GitRepository the sync itself came from: the
	// unit reads the sync's checkout.
	own bool
	// suspended keeps the revision the unit used last.
	suspended bool
	// gen is set, and spec empty, for an ArtifactGenerator's artifact
	// (fluxartifact.go).
	gen *generated
	// objects are the Flux objects the source was built from: the source
	// and the GitRepositories it includes. Their manifests are part of
	// the unit's spec digest, so that a change of one (ignore rules,
	// verify, layerSelector) renders the unit again although the
	// revision did not move.
	objects []flux.ID
}

// fluxSourceKind turns one kind of Flux source object into a fluxSource,
// as a tree of files (a Kustomization's sourceRef, a chart directory) or
// as a packaged chart (of a Helm repository or registry). A nil function
// is a use the kind does not support (yet).
type fluxSourceKind struct {
	// tree is given the GitRepositories obj includes, in order (see
	// flux.Graph.Sources); nil for other kinds.
	tree  func(ctx context.Context, r *runner, obj flux.Object, includes []flux.Object) (*fluxSource, error)
	chart func(ctx context.Context, r *runner, obj flux.Object, name, version string, verify *flux.OCIVerify) (*fluxSource, error)
}

// fluxSourceKinds are the Flux source kinds units read. An OCIRepository
// is a tree for a Kustomization and a packaged chart for a HelmRelease's
// chartRef. (A function, not a variable: an ExternalArtifact's tree reads
// its generator's sources through treeSource, which looks kinds up here.)
func fluxSourceKinds() map[string]fluxSourceKind {
	return map[string]fluxSourceKind{
		flux.KindGitRepository:  {tree: gitRepositoryTree},
		flux.KindHelmRepository: {chart: helmRepositoryChart},
		flux.KindOCIRepository:  {tree: ociRepositoryTree, chart: ociRepositoryChart},
		flux.KindBucket:         {tree: bucketTree},
		// An ArtifactGenerator's artifact (fluxartifact.go).
		flux.KindExternalArtifact: {tree: externalArtifactTree},
	}
}

// treeSource returns obj, with the GitRepositories it includes, as a tree
// of files for unit (field names the reference in errors).
func (r *runner) treeSource(ctx context.Context, obj flux.Object, includes []flux.Object, unit flux.ID, field string) (*fluxSource, error) {
	id := obj.Metadata().ID
	k := fluxSourceKinds()[id.Kind]
	if k.tree == nil {
		return nil, fmt.Errorf("%s %s: a %s as a source of files for a %s is not supported yet", field, id, id.Kind, unit.Kind)
	}
	fs, err := k.tree(ctx, r, obj, includes)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", field, id, err)
	}
	fs.objects = []flux.ID{id}
	for _, inc := range includes {
		fs.objects = append(fs.objects, inc.Metadata().ID)
	}
	return fs, nil
}

// chartSource returns obj as the source of the packaged chart name at
// version (a range) for unit.
func (r *runner) chartSource(ctx context.Context, obj flux.Object, unit flux.ID, field, name, version string, verify *flux.OCIVerify) (*fluxSource, error) {
	id := obj.Metadata().ID
	k := fluxSourceKinds()[id.Kind]
	if k.chart == nil {
		return nil, fmt.Errorf("%s %s: charts from a %s are not supported yet", field, id, id.Kind)
	}
	fs, err := k.chart(ctx, r, obj, name, version, verify)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", field, id, err)
	}
	fs.objects = []flux.ID{id}
	return fs, nil
}

// readCredentials reads the Secrets of a source object (secretRef, then
// certSecretRef, whose TLS keys win, as Flux's) in namespace ns.
func (r *runner) readCredentials(ctx context.Context, ns, secretRef, certSecretRef string) (source.Credentials, string, error) {
	data := map[string][]byte{}
	var names []string
	for _, ref := range []struct{ name, field string }{{secretRef, "spec.secretRef"}, {certSecretRef, "spec.certSecretRef"}} {
		if ref.name == "" {
			continue
		}
		d, err := r.readSecretIn(ctx, ns, ref.name, ref.field)
		if err != nil {
			return source.Credentials{}, "", err
		}
		for k, v := range d {
			data[k] = v
		}
		names = append(names, ns+"/"+ref.name)
	}
	if len(names) == 0 {
		return source.Credentials{}, "", nil
	}
	return source.CredentialsFromSecret(data), strings.Join(names, ","), nil
}

// readSecretIn reads Secret name of namespace ns, which field names; a
// missing Secret is an error naming both.
func (r *runner) readSecretIn(ctx context.Context, ns, name, field string) (map[string][]byte, error) {
	d, found, err := r.readDataIn(ctx, ns, "Secret", name, field, false)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s (%s): not found", object.ID{Kind: "Secret", Namespace: ns, Name: name}, field)
	}
	return d, nil
}

// addSecret reads Secret name of fs's namespace into fs.data, for
// fromspec.Options.Secrets, and adds it to the Secrets fs names.
func (r *runner) addSecret(ctx context.Context, fs *fluxSource, name, field string) error {
	if _, ok := fs.data[name]; ok {
		return nil
	}
	d, err := r.readSecretIn(ctx, fs.id.Namespace, name, field)
	if err != nil {
		return err
	}
	if fs.data == nil {
		fs.data = map[string]map[string][]byte{}
	}
	fs.data[name] = d
	fs.secrets = strings.Trim(fs.secrets+","+fs.id.Namespace+"/"+name, ",")
	return nil
}

// checkSource validates a spec.Source built from a Flux object by the
// rules a Sync's source follows, naming the Flux object's fields.
func checkSource(s *spec.Source, fields map[string]string) error {
	errs := spec.ValidateSource(s, field.NewPath("source"))
	if len(errs) == 0 {
		return nil
	}
	var out []error
	for _, e := range errs {
		p := e.Field
		for from, to := range fields {
			if strings.HasPrefix(p, from) {
				p = to + strings.TrimPrefix(p, from)
			}
		}
		out = append(out, fmt.Errorf("%s: %s", p, e.ErrorBody()))
	}
	return errors.Join(out...)
}

func gitRepositoryTree(ctx context.Context, r *runner, obj flux.Object, includes []flux.Object) (*fluxSource, error) {
	g := obj.(*flux.GitRepository)
	fs := &fluxSource{id: g.ID, suspended: g.Suspend}
	if r.isOwnSource(g) {
		if err := r.checkOwnSource(g); err != nil {
			return nil, err
		}
		fs.own = true
		return fs, nil
	}
	var err error
	fs.creds, fs.secrets, err = r.readCredentials(ctx, g.ID.Namespace, g.SecretRef, "")
	if err != nil {
		return nil, err
	}
	gs := &spec.GitSource{
		URL: g.URL,
		// Flux reads http:// repositories without being asked; so does a
		// unit, since the object is Flux's.
		Insecure:          strings.HasPrefix(g.URL, "http://"),
		Ref:               g.Ref,
		Provider:          g.Provider,
		Timeout:           spec.NewDuration(g.Timeout),
		Ignore:            g.Ignore,
		SparseCheckout:    g.SparseCheckout,
		RecurseSubmodules: g.RecurseSubmodules,
	}
	if g.SecretRef != "" {
		gs.SecretRef = &spec.LocalObjectReference{Name: g.SecretRef}
	}
	if v := g.Verify; v != nil {
		gs.Verify = &spec.GitVerify{Mode: v.Mode, SecretRef: spec.LocalObjectReference{Name: v.SecretRef}}
		if err := r.addSecret(ctx, fs, v.SecretRef, "spec.verify.secretRef"); err != nil {
			return nil, err
		}
	}
	if len(includes) != len(g.Include) {
		// flux.Graph.Sources returns them all or fails.
		return nil, fmt.Errorf("spec.include: %d repositories, %d found", len(g.Include), len(includes))
	}
	for i, inc := range g.Include {
		field := fmt.Sprintf("spec.include[%d].repository", i)
		ig := includes[i].(*flux.GitRepository)
		if err := includable(ig); err != nil {
			return nil, fmt.Errorf("%s %s: %w", field, ig.ID, err)
		}
		// Flux takes http:// for a GitRepository as it is.
		gi := spec.GitInclude{Repository: spec.GitIncludeRepository{URL: ig.URL, Ref: ig.Ref, Insecure: strings.HasPrefix(ig.URL, "http://")},
			FromPath: inc.FromPath, ToPath: inc.ToPath}
		if ig.SecretRef != "" {
			gi.Repository.SecretRef = &spec.LocalObjectReference{Name: ig.SecretRef}
			if err := r.addSecret(ctx, fs, ig.SecretRef, field+" "+ig.ID.String()+" spec.secretRef"); err != nil {
				return nil, err
			}
		}
		gs.Include = append(gs.Include, gi)
	}
	fs.spec = spec.Source{Git: gs}
	if err := checkSource(&fs.spec, map[string]string{"source.git.": "spec."}); err != nil {
		return nil, err
	}
	return fs, nil
}

// includable refuses an included GitRepository whose fields an include
// cannot honour: an include takes the repository's URL, ref and
// credentials, not its own verification, includes, sparse checkout,
// submodules or ignore rules.
func includable(g *flux.GitRepository) error {
	var set []string
	if g.Verify != nil {
		set = append(set, "spec.verify")
	}
	if len(g.Include) > 0 {
		set = append(set, "spec.include")
	}
	if len(g.SparseCheckout) > 0 {
		set = append(set, "spec.sparseCheckout")
	}
	if g.RecurseSubmodules {
		set = append(set, "spec.recurseSubmodules")
	}
	if g.Provider != "" && g.Provider != spec.GitProviderGeneric {
		set = append(set, "spec.provider")
	}
	if g.Ignore != nil {
		set = append(set, "spec.ignore")
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("%s of an included repository: %w (only its url, ref and secretRef are used)", strings.Join(set, ", "), flux.ErrUnsupported)
}

// checkOwnSource refuses fields of the sync's own GitRepository that the
// sync's checkout would not honour: it is fetched by the Sync's
// spec.source.git, so a verify or include the Sync does not have would be
// dropped silently.
func (r *runner) checkOwnSource(g *flux.GitRepository) error {
	own := r.sync.Spec.Source.Git
	if own == nil {
		return nil
	}
	if g.Verify != nil && own.Verify == nil {
		return fmt.Errorf("spec.verify: this is the sync's own repository, which the sync fetches without verification: "+
			"set spec.source.git.verify in the Sync: %w", flux.ErrUnsupported)
	}
	if len(g.Include) > 0 && len(own.Include) == 0 {
		return fmt.Errorf("spec.include: this is the sync's own repository, which the sync fetches without includes: "+
			"set spec.source.git.include in the Sync: %w", flux.ErrUnsupported)
	}
	return nil
}

// ociRepositoryTree reads an OCIRepository's artifact as a tree of files.
func ociRepositoryTree(ctx context.Context, r *runner, obj flux.Object, _ []flux.Object) (*fluxSource, error) {
	o := obj.(*flux.OCIRepository)
	fs, oc, err := r.ociSource(ctx, o)
	if err != nil {
		return nil, err
	}
	fs.filter, fs.ignore = true, o.Ignore
	if ls := o.LayerSelector; ls != nil {
		oc.LayerSelector = &spec.OCILayerSelector{MediaType: ls.MediaType, Operation: spec.OCILayerExtract}
		if ls.Operation == flux.OCILayerCopy {
			// Flux stores the layer as it is, and kustomize-controller
			// extracts it: the same tree, without ignore rules.
			fs.filter = false
		}
	}
	if err := checkSource(&fs.spec, map[string]string{"source.oci.": "spec."}); err != nil {
		return nil, err
	}
	return fs, nil
}

// ociSource maps what an OCIRepository's uses as a tree and as a chart
// share onto a spec.OCISource, reading its Secrets.
func (r *runner) ociSource(ctx context.Context, o *flux.OCIRepository) (*fluxSource, *spec.OCISource, error) {
	fs := &fluxSource{id: o.ID, suspended: o.Suspend}
	var err error
	fs.creds, fs.secrets, err = r.readCredentials(ctx, o.ID.Namespace, o.SecretRef, o.CertSecretRef)
	if err != nil {
		return nil, nil, err
	}
	oc := &spec.OCISource{
		URL:      o.URL,
		Ref:      spec.OCIRef{Digest: o.Ref.Digest, SemVer: o.Ref.SemVer, SemverFilter: o.Ref.SemverFilter, Tag: o.Ref.Tag},
		Insecure: o.Insecure,
		Timeout:  spec.NewDuration(o.Timeout),
	}
	if o.SecretRef != "" {
		oc.SecretRef = &spec.LocalObjectReference{Name: o.SecretRef}
	}
	if oc.Verify, err = r.ociVerification(ctx, fs, o.Verify); err != nil {
		return nil, nil, err
	}
	fs.spec = spec.Source{OCI: oc}
	return fs, oc, nil
}

// ociVerification is the spec of verify v of an OCI artifact, its Secrets
// read into fs (in fs's namespace); nil when v is.
func (r *runner) ociVerification(ctx context.Context, fs *fluxSource, v *flux.OCIVerify) (*spec.OCIVerification, error) {
	if v == nil {
		return nil, nil
	}
	out := &spec.OCIVerification{Provider: v.Provider}
	if v.SecretRef != "" {
		out.SecretRef = &spec.LocalObjectReference{Name: v.SecretRef}
		if err := r.addSecret(ctx, fs, v.SecretRef, "spec.verify.secretRef"); err != nil {
			return nil, err
		}
	}
	for _, id := range v.MatchOIDCIdentity {
		out.MatchOIDCIdentity = append(out.MatchOIDCIdentity, spec.OIDCIdentityMatch{Issuer: id.Issuer, Subject: id.Subject})
	}
	if v.TrustedRootSecretRef != "" {
		out.TrustedRootSecretRef = &spec.LocalObjectReference{Name: v.TrustedRootSecretRef}
		if err := r.addSecret(ctx, fs, v.TrustedRootSecretRef, "spec.verify.trustedRootSecretRef"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bucketTree reads a Bucket's objects as a tree of files.
func bucketTree(ctx context.Context, r *runner, obj flux.Object, _ []flux.Object) (*fluxSource, error) {
	b := obj.(*flux.Bucket)
	fs := &fluxSource{id: b.ID, suspended: b.Suspend, filter: true, ignore: b.Ignore}
	var err error
	fs.creds, fs.secrets, err = r.readCredentials(ctx, b.ID.Namespace, b.SecretRef, b.CertSecretRef)
	if err != nil {
		return nil, err
	}
	bs := &spec.BucketSource{
		Endpoint:   b.Endpoint,
		BucketName: b.BucketName,
		Prefix:     b.Prefix,
		Region:     b.Region,
		Insecure:   b.Insecure,
		Timeout:    spec.NewDuration(b.Timeout),
	}
	if b.SecretRef != "" {
		bs.SecretRef = &spec.LocalObjectReference{Name: b.SecretRef}
	}
	fs.spec = spec.Source{Bucket: bs}
	if err := checkSource(&fs.spec, map[string]string{"source.bucket.": "spec."}); err != nil {
		return nil, err
	}
	return fs, nil
}

func helmRepositoryChart(ctx context.Context, r *runner, obj flux.Object, name, version string, verify *flux.OCIVerify) (*fluxSource, error) {
	h := obj.(*flux.HelmRepository)
	fs := &fluxSource{id: h.ID, suspended: h.Suspend}
	var err error
	fs.creds, fs.secrets, err = r.readCredentials(ctx, h.ID.Namespace, h.SecretRef, h.CertSecretRef)
	if err != nil {
		return nil, err
	}
	if verify != nil {
		return r.verifiedRegistryChart(ctx, fs, h, name, version, verify)
	}
	hs := &spec.HelmSource{
		URL:             h.URL,
		Chart:           name,
		Version:         version,
		PassCredentials: h.PassCredentials,
		// Flux reads http:// repositories without being asked; insecure
		// is its setting for plain HTTP to a registry.
		Insecure: h.Insecure || strings.HasPrefix(h.URL, "http://"),
		Timeout:  spec.NewDuration(h.Timeout),
	}
	if h.SecretRef != "" {
		hs.SecretRef = &spec.LocalObjectReference{Name: h.SecretRef}
	}
	fs.spec = spec.Source{Helm: hs}
	if err := checkSource(&fs.spec, map[string]string{"source.helm.chart": "chart", "source.helm.version": "version", "source.helm.": "spec."}); err != nil {
		return nil, err
	}
	return fs, nil
}

// verifiedRegistryChart reads chart name at version of OCI HelmRepository
// h as an OCI artifact whose cosign signature verify checks before its
// chart layer is copied, as Flux verifies a HelmChart of an OCI
// HelmRepository (the chart's repository is the HelmRepository's URL and
// the chart's name, its versions the tags). Only an OCI HelmRepository's
// charts are verified, as in Flux.
func (r *runner) verifiedRegistryChart(ctx context.Context, fs *fluxSource, h *flux.HelmRepository, name, version string, verify *flux.OCIVerify) (*fluxSource, error) {
	if !strings.HasPrefix(h.URL, "oci://") {
		return nil, fmt.Errorf("verify: only a chart of an OCI HelmRepository is verified, as in Flux; %s is not one", redact.URL(h.URL))
	}
	oc := &spec.OCISource{
		URL:           strings.TrimSuffix(h.URL, "/") + "/" + name,
		Ref:           spec.OCIRef{SemVer: version},
		Insecure:      h.Insecure,
		Timeout:       spec.NewDuration(h.Timeout),
		LayerSelector: chartLayer(),
	}
	if h.SecretRef != "" {
		oc.SecretRef = &spec.LocalObjectReference{Name: h.SecretRef}
	}
	var err error
	if oc.Verify, err = r.ociVerification(ctx, fs, verify); err != nil {
		return nil, err
	}
	fs.spec = spec.Source{OCI: oc}
	if err := checkSource(&fs.spec, map[string]string{"source.oci.ref.semver": "version", "source.oci.": "spec."}); err != nil {
		return nil, err
	}
	return fs, nil
}

// helmChartLayer is the media type of a Helm chart's layer in an OCI
// artifact.
const helmChartLayer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// chartLayer selects an OCI artifact's Helm chart layer, copied: the
// packaged chart.
func chartLayer() *spec.OCILayerSelector {
	return &spec.OCILayerSelector{MediaType: helmChartLayer, Operation: spec.OCILayerCopy}
}

// ociRepositoryChart reads an OCIRepository's artifact as a packaged
// chart: its Helm chart layer, copied, as Flux's chartRef does. Every ref
// (digest, semver with semverFilter, tag) and verify apply.
func ociRepositoryChart(ctx context.Context, r *runner, obj flux.Object, _, _ string, _ *flux.OCIVerify) (*fluxSource, error) {
	o := obj.(*flux.OCIRepository)
	if ls := o.LayerSelector; ls != nil && ls.MediaType != "" && ls.MediaType != helmChartLayer {
		return nil, fmt.Errorf("spec.layerSelector.mediaType: a chart is the layer %s", helmChartLayer)
	}
	fs, oc, err := r.ociSource(ctx, o)
	if err != nil {
		return nil, err
	}
	oc.LayerSelector = chartLayer()
	if err := checkSource(&fs.spec, map[string]string{"source.oci.": "spec."}); err != nil {
		return nil, err
	}
	return fs, nil
}

// isOwnSource reports whether g is the repository the sync itself came
// from: the GitRepository of Flux's gotk-sync.yaml (flux bootstrap wrote
// it for this repository, whatever URL form it uses), or one with the
// sync's own URL and ref.
func (r *runner) isOwnSource(g *flux.GitRepository) bool {
	if r.tree.isOwn(g.ID) {
		return true
	}
	own := r.sync.Spec.Source.Git
	return own != nil && sameRepository(own.URL, g.URL) && own.Ref == g.Ref
}

// sameRepository reports whether two URLs name the same repository: the
// same host and path, whatever the transport. flux bootstrap writes
// ssh://git@github.com/org/repo while the sync may read
// https://github.com/org/repo.git or git@github.com:org/repo, so the
// scheme, the user, a default port (22, 80, 443), a trailing slash or .git
// and the case of the host do not count.
func sameRepository(a, b string) bool {
	na, nb := repositoryKey(a), repositoryKey(b)
	return na != "" && na == nb
}

// scpLike matches Git's scp-like syntax, user@host:path.
var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?([^:/]+):([^/].*)$`)

// repositoryKey returns "host/path" for a repository URL (see
// sameRepository), or the URL itself when it has no host.
func repositoryKey(u string) string {
	u = strings.TrimSpace(u)
	var host, p string
	if scheme, rest, ok := strings.Cut(u, "://"); ok && scheme != "" {
		host, p, _ = strings.Cut(rest, "/")
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		for _, port := range []string{":22", ":80", ":443"} {
			host = strings.TrimSuffix(host, port)
		}
	} else if m := scpLike.FindStringSubmatch(u); m != nil {
		host, p = m[1], m[2]
	} else {
		return strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	}
	p = strings.TrimSuffix(strings.TrimSuffix(strings.Trim(p, "/"), ".git"), "/")
	return strings.ToLower(host) + "/" + p
}

// ownRepositoryName is the name Flux gives the GitRepository of the
// cluster's own repository, in Flux's namespace: flux bootstrap writes it
// into gotk-sync.yaml, and the Flux Operator's FluxInstance (spec.sync)
// creates it in the cluster, so that it is often in no file of the tree.
const ownRepositoryName = "flux-system"

// graphOptions are the options of the run's unit graph.
func (r *runner) graphOptions() flux.GraphOptions {
	return flux.GraphOptions{NoCrossNamespaceRefs: r.sync.Spec.Flux.CrossNamespaceRefsRefused(), Fallback: r.ownRepositoryFallback}
}

// ownRepositoryFallback stands for GitRepository flux-system in namespace
// flux-system (or the sync's own namespace) when a unit reads it and no
// object of the run defines it: that is the repository the sync came
// from, read as the sync's own checkout (same revision, no second fetch,
// no Secret). Any other missing source stays an error.
func (r *runner) ownRepositoryFallback(ref flux.ID) flux.Object {
	own := r.sync.Spec.Source.Git
	if own == nil || ref.Kind != flux.KindGitRepository || ref.Name != ownRepositoryName ||
		(ref.Namespace != flux.DefaultFluxNamespace && ref.Namespace != r.opts.Namespace) {
		return nil
	}
	g := &flux.GitRepository{Meta: flux.Meta{ID: ref}, URL: own.URL, Ref: own.Ref}
	r.tree.mu.Lock()
	r.tree.own[ref] = true
	r.tree.mu.Unlock()
	r.log.Info("no object of the tree defines "+ref.String()+", the name Flux gives the cluster's own repository: "+
		"the units reading it read the sync's own checkout", "object", ref.String())
	return g
}

// resolveFlux resolves a Flux source through the run's cache, once per
// run however many units read it. The sync's own repository is the
// sync's checkout; a suspended source is pinned to last, the revision the
// unit applied before.
func (r *runner) resolveFlux(ctx context.Context, fs *fluxSource, last string) (*source.Resolved, error) {
	if fs.gen != nil {
		return r.resolveGenerated(ctx, fs)
	}
	// An ImageUpdateAutomation of the run pushed to the branch the source
	// follows: the unit applies that very commit (fluximage.go).
	pushed := r.tree.images.pushedTo(fs.id)
	if fs.own && pushed != "" && !fs.suspended {
		return r.resolveOwnPushed(ctx, pushed)
	}
	if fs.own {
		if r.rootSource == nil {
			return nil, fmt.Errorf("%s: the sync's own repository was not resolved in this run", fs.id)
		}
		return r.rootSource, nil
	}
	var pin source.Revision
	if fs.suspended {
		if last == "" {
			return nil, fmt.Errorf("%s is suspended, and no run used a revision of it before", fs.id)
		}
		pin = source.Revision(last)
	} else if pushed != "" {
		pin = pushed
	}
	src, err := fromspec.New(fs.spec, fs.creds, fromspec.Options{Pin: pin, UserAgent: "gitsync", Logger: r.log, Secrets: fs.data})
	if err != nil {
		return nil, redact.Error(fmt.Errorf("%s: %w", fs.id, err))
	}
	key := fromspec.Key(fs.spec, pin)
	if fs.filter {
		src = source.WithIgnore(src, fs.ignore)
		rules := "default"
		if fs.ignore != nil {
			rules = "rules:" + *fs.ignore
		}
		sum := sha256.Sum256([]byte(rules))
		key += "/ignore:" + hex.EncodeToString(sum[:8])
	}
	if fs.secrets != "" {
		// fromspec.Key names the Secret, not its namespace: sources of
		// two namespaces with equal specs read different Secrets.
		sum := sha256.Sum256([]byte(fs.secrets))
		key += "/" + hex.EncodeToString(sum[:8])
	}
	res, err := r.sources.Resolve(ctx, key, src)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("%s: %w", fs.id, err))
	}
	return res, nil
}

// fetch returns the artifact of res, through the run's cache; the local
// tree for the sync's own repository when Render reads a local directory.
func (r *runner) fetch(ctx context.Context, res *source.Resolved) (*source.Artifact, error) {
	if r.localArtifact != nil && res == r.rootSource {
		return r.localArtifact, nil
	}
	return r.sources.Fetch(ctx, res)
}

// fetchFlux fetches res of the Flux source fs, through the run's cache;
// an error names the source (a verification failure happens here).
func (r *runner) fetchFlux(ctx context.Context, fs *fluxSource, res *source.Resolved) (*source.Artifact, error) {
	art, err := r.fetch(ctx, res)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fs.id, err)
	}
	return art, nil
}

// rawDigest is the digest of a Flux object as rendered, without status:
// a unit renders again when its object changes.
func rawDigest(u *unstructured.Unstructured, extra ...string) string {
	obj := u.DeepCopy().Object
	delete(obj, "status")
	b, err := json.Marshal(obj)
	if err != nil {
		// A decoded object is JSON; Marshal cannot fail on it.
		panic(fmt.Sprintf("syncrun: marshal a Flux object: %v", err))
	}
	h := sha256.New()
	h.Write(b)
	for _, e := range extra {
		h.Write([]byte("\n" + e))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// unitDigest is the spec digest of Flux unit id: its object as rendered,
// the sync's settings units inherit, the digest of its inputs, and the
// objects its source was built from (fluxSource.objects) as rendered.
func (r *runner) unitDigest(id flux.ID, inputsDigest string, src *fluxSource) string {
	raw := r.tree.rawObject(id)
	if raw == nil {
		return ""
	}
	extra := []string{fmt.Sprintf("adopt=%t scoped=%t fluxInstallation=%t", r.sync.Spec.Adopt, r.opts.NamespaceScoped,
		r.sync.Spec.Flux.ApplyInstallation()), inputsDigest}
	if src != nil {
		for _, o := range src.objects {
			if raw := r.tree.rawObject(o); raw != nil {
				extra = append(extra, o.String()+"="+rawDigest(raw))
			}
		}
	}
	return rawDigest(raw, extra...)
}

// sourcePathIn returns a Flux path ("./apps/staging", "apps", "/apps") as a
// path relative to the source root.
func sourcePathIn(p string) string {
	c := path.Clean("/" + strings.TrimPrefix(filepath.ToSlash(p), "./"))
	return strings.TrimPrefix(c, "/")
}

// kustomizationUnit is a Flux Kustomization as a unit: its sourceRef's
// path, rendered with its kustomize options and substitution.
type kustomizationUnit struct {
	r   *runner
	k   *flux.Kustomization
	src *fluxSource
}

func newKustomizationUnit(ctx context.Context, r *runner, u flux.Unit, sources []flux.Object, _ *inventory.Inventory) (unitKind, unitSettings, error) {
	k := u.(*flux.Kustomization)
	src, err := r.treeSource(ctx, sources[0], sources[1:], k.ID, "sourceRef")
	if err != nil {
		return nil, unitSettings{}, err
	}
	ns := k.TargetNamespace
	if ns == "" {
		ns = r.opts.Namespace
	}
	return &kustomizationUnit{r: r, k: k, src: src}, unitSettings{
		namespace:    ns,
		prune:        k.Prune,
		force:        k.Force,
		adopt:        r.sync.Spec.Adopt,
		wait:         k.Wait,
		waitForJobs:  true,
		healthChecks: k.HealthChecks,
		healthExprs:  k.HealthCheckExprs,
		timeout:      k.Timeout,
		ignore:       k.Ignore,
		dest:         r.fluxDestination(k.ID, k.ServiceAccountName, k.KubeConfig),
	}, nil
}

func (ku *kustomizationUnit) inputs(ctx context.Context) (*inputs, error) {
	keys, keysDigest, err := ku.r.kustomizationKeys(ctx, ku.k.ID, ku.k.Decryption)
	if err != nil {
		return nil, err
	}
	pb := ku.k.PostBuild
	if pb == nil {
		return &inputs{keys: keys, digest: keysDigest}, nil
	}
	vars, digest, err := ku.r.collectVars(ctx, ku.k.ID.Namespace, pb.SubstituteFrom, pb.Substitute, "spec.postBuild")
	if err != nil {
		return nil, err
	}
	if len(vars) == 0 && pb.Strategy != flux.SubstituteAlways {
		// Flux substitutes only when a variable is defined, unless its
		// strategy says Always.
		vars = nil
	}
	return &inputs{vars: vars, keys: keys, digest: withDigest(digest, keysDigest)}, nil
}

func (ku *kustomizationUnit) resolve(ctx context.Context, last *inventory.Record) (*resolvedSource, error) {
	res, err := ku.r.resolveFlux(ctx, ku.src, last.LastAppliedRevision)
	if err != nil {
		return nil, err
	}
	return &resolvedSource{res: res, revision: string(res.Revision), contentDigest: res.ContentDigest}, nil
}

func (ku *kustomizationUnit) render(ctx context.Context, src *resolvedSource, in *inputs, _ bool) (*rendering, error) {
	start := time.Now()
	art, err := ku.r.fetchFlux(ctx, ku.src, src.res)
	if err != nil {
		return nil, redact.Error(err)
	}
	k := ku.k
	opts := render.Options{
		Root:            art.Dir,
		Path:            sourcePathIn(k.Path),
		TargetNamespace: k.TargetNamespace,
		NamePrefix:      k.NamePrefix,
		NameSuffix:      k.NameSuffix,
		Components:      k.Components,
		Substitute:      in.vars,
		Decryption:      in.keys,
		Logger:          ku.r.log,
		Secrets:         ku.r.secrets,

		LenientSubstitution: !ku.r.sync.Spec.Flux.SubstitutionStrict(),
	}
	if k.IgnoreMissingComponents {
		opts.Components = existingComponents(art.Dir, opts.Path, k.Components)
	}
	setTransformers(&opts, k.CommonMetadata, k.Patches, k.Images)
	out, err := render.Render(ctx, opts)
	if err != nil {
		return nil, ku.r.decryptionHint(err, k.ID, k.Decryption)
	}
	ku.r.log.Info("rendered", "unit", k.ID.String(), "objects", len(out.Objects), "duration", time.Since(start).String())
	if len(out.UndefinedVariables) > 0 {
		ku.r.log.Warn("undefined postBuild variables substituted empty, as Flux does (spec.flux.strictSubstitution: true refuses them)",
			"unit", k.ID.String(), "variables", out.UndefinedVariables)
	}
	rnd := &rendering{objects: out.Objects, sources: out.Sources, digest: out.Digest, encoded: out.Encoded, undefinedVars: out.UndefinedVariables}
	return withInputs(rnd, art.Dir, out.Inputs), nil
}

func (ku *kustomizationUnit) specDigest(inputsDigest string) string {
	return ku.r.unitDigest(ku.k.ID, inputsDigest, ku.src)
}

// existingComponents returns the components (relative to dir inside root)
// that exist: Flux's ignoreMissingComponents drops the others.
func existingComponents(root, dir string, components []string) []string {
	var out []string
	for _, c := range components {
		p := path.Join(dir, c)
		if strings.HasPrefix(p, "../") || p == ".." {
			out = append(out, c) // render refuses it, naming it
			continue
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// helmReleaseUnit is a Flux HelmRelease as a unit: its chart, from a Helm
// repository or registry (packaged), or from a tree of files (a chart
// directory), rendered with its values.
type helmReleaseUnit struct {
	r   *runner
	h   *flux.HelmRelease
	src *fluxSource
	// dest is where the release goes (unitSettings.dest).
	dest destinationRef
	// chart is the chart's name (packaged), or its directory in the tree.
	chart                    string
	packaged                 bool
	valuesFiles              []string
	ignoreMissingValuesFiles bool
	// versionOnly: a chart directory rendered again only when its version
	// changes (reconcileStrategy ChartVersion).
	versionOnly bool
	action      flux.HelmAction
}

func newHelmReleaseUnit(ctx context.Context, r *runner, u flux.Unit, sources []flux.Object, inv *inventory.Inventory) (unitKind, unitSettings, error) {
	h := u.(*flux.HelmRelease)
	hu := &helmReleaseUnit{r: r, h: h, action: h.Install}
	if inv.Record.LastAppliedRevision != "" {
		hu.action = h.Upgrade
	}
	var (
		name, version, strategy, field string
		from                           flux.Object
		includes                       []flux.Object
		verify                         *flux.OCIVerify
	)
	switch c := sources[0].(type) {
	case *flux.HelmChart:
		// chartRef to a HelmChart: the HelmChart says which chart, from
		// its own source.
		name, version, strategy, field, from, includes = c.Chart, c.Version, c.ReconcileStrategy, "chartRef "+c.ID.String()+" sourceRef", sources[1], sources[2:]
		hu.valuesFiles, hu.ignoreMissingValuesFiles, verify = c.ValuesFiles, c.IgnoreMissingValuesFiles, c.Verify
	default:
		from, includes = sources[0], sources[1:]
		if t := h.Chart; t != nil {
			name, version, strategy, field = t.Chart, t.Version, t.ReconcileStrategy, "chart.spec.sourceRef"
			hu.valuesFiles, hu.ignoreMissingValuesFiles, verify = t.ValuesFiles, t.IgnoreMissingValuesFiles, t.Verify
		} else {
			// chartRef: an OCIRepository's chart, or an ExternalArtifact
			// with the chart's directory at its root, rendered again at
			// every new artifact as helm-controller does (its values
			// files may change without the chart's version).
			field, strategy = "chartRef", flux.ReconcileStrategyRevision
		}
	}
	var err error
	if k := fluxSourceKinds()[from.Metadata().ID.Kind]; k.chart != nil {
		hu.packaged = true
		hu.src, err = r.chartSource(ctx, from, h.ID, field, name, version, verify)
	} else {
		if verify != nil {
			return nil, unitSettings{}, fmt.Errorf("%s %s: verify: only a chart of an OCI HelmRepository is verified, as in Flux; "+
				"a chart directory of a %s is not", field, from.Metadata().ID, from.Metadata().ID.Kind)
		}
		hu.chart = sourcePathIn(name)
		hu.versionOnly = strategy != flux.ReconcileStrategyRevision
		hu.src, err = r.treeSource(ctx, from, includes, h.ID, field)
	}
	if err != nil {
		return nil, unitSettings{}, err
	}
	hu.dest = r.fluxDestination(h.ID, h.ServiceAccountName, h.KubeConfig)
	var test *unitTest
	if h.Test.Enable {
		test = &unitTest{timeout: h.Test.Timeout, ignoreFailures: h.IgnoresTestFailures(hu.action), filters: h.Test.Filters}
	}
	return hu, unitSettings{
		dest:        hu.dest,
		namespace:   h.ReleaseNamespace,
		prune:       true, // a HelmRelease's objects follow its chart, as an upgrade does
		adopt:       r.sync.Spec.Adopt,
		wait:        hu.action.Wait,
		waitForJobs: hu.action.WaitForJobs,
		healthExprs: h.HealthCheckExprs,
		timeout:     hu.action.Timeout,
		hooks:       !hu.action.DisableHooks,
		test:        test,
		// helm-controller corrects drift skipping the ignored paths, and
		// an upgrade applies the whole manifest.
		ignore:          h.DriftIgnore,
		ignoreOnlyDrift: true,
		// Not set, helm-controller does not look for drift: a chart's
		// Deployment scaled by an autoscaler stays scaled until the next
		// upgrade, and so it does here.
		driftMode: cmp.Or(h.DriftMode, flux.DriftDisabled),
	}, nil
}

func (hu *helmReleaseUnit) inputs(ctx context.Context) (*inputs, error) {
	h := hu.h
	from := make([]helm.ValuesSource, len(h.ValuesFrom))
	for i, ref := range h.ValuesFrom {
		vs := helm.ValuesSource{Kind: ref.Kind, Name: ref.Name, ValuesKey: ref.ValuesKey, TargetPath: ref.TargetPath, Optional: ref.Optional}
		var err error
		vs.Data, vs.Found, err = hu.r.readDataIn(ctx, h.ID.Namespace, ref.Kind, ref.Name, fmt.Sprintf("spec.valuesFrom[%d]", i), true)
		if err != nil {
			return nil, err
		}
		from[i] = vs
	}
	values, err := helm.MergeValues(from, h.Values)
	if err != nil {
		return nil, fmt.Errorf("spec.values: %w", err)
	}
	in := &inputs{values: values}
	if len(h.ValuesFrom) > 0 {
		// Inline values are in the object's digest already; values read
		// from the cluster are not.
		in.digest = helm.ValuesDigest(values)
	}
	return in, nil
}

func (hu *helmReleaseUnit) resolve(ctx context.Context, last *inventory.Record) (*resolvedSource, error) {
	res, err := hu.r.resolveFlux(ctx, hu.src, last.LastAppliedRevision)
	if err != nil {
		return nil, err
	}
	out := &resolvedSource{res: res, revision: string(res.Revision), contentDigest: res.ContentDigest}
	if hu.packaged {
		return out, nil
	}
	// A chart directory's revision is its version and the commit: the
	// version decides (ChartVersion) unless every commit does (Revision).
	out.versionOnly = hu.versionOnly
	if prev := source.Revision(last.LastAppliedRevision); prev.Digest() != "" && prev.Digest() == res.Revision.Digest() {
		out.revision = string(prev) // same commit: same chart, no need to read it
		return out, nil
	}
	version, err := hu.chartVersion(ctx, res)
	if err != nil {
		return nil, err
	}
	out.revision = version + "@" + res.Revision.Digest()
	return out, nil
}

// chartVersion reads the version of the chart directory from Chart.yaml.
func (hu *helmReleaseUnit) chartVersion(ctx context.Context, res *source.Resolved) (string, error) {
	art, err := hu.r.fetchFlux(ctx, hu.src, res)
	if err != nil {
		return "", redact.Error(err)
	}
	root, err := os.OpenRoot(art.Dir)
	if err != nil {
		return "", err
	}
	defer func() { _ = root.Close() }()
	data, err := root.ReadFile(path.Join(hu.chart, "Chart.yaml"))
	if err != nil {
		return "", fmt.Errorf("chart %s: %w", hu.chart, err)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := sigsyaml.Unmarshal(data, &meta); err != nil || meta.Version == "" {
		return "", fmt.Errorf("chart %s: Chart.yaml has no version", hu.chart)
	}
	return meta.Version, nil
}

func (hu *helmReleaseUnit) render(ctx context.Context, src *resolvedSource, in *inputs, isUpgrade bool) (*rendering, error) {
	art, err := hu.r.fetchFlux(ctx, hu.src, src.res)
	if err != nil {
		return nil, redact.Error(err)
	}
	work, err := os.MkdirTemp(hu.r.opts.WorkDir, "gitsync-")
	if err != nil {
		return nil, err
	}
	defer hu.r.removeTemp(ctx, work)
	h := hu.h
	to, err := hu.r.destinationFor(ctx, hu.dest)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	rel := release{
		to:                      to,
		name:                    h.ReleaseName,
		namespace:               h.ReleaseNamespace,
		values:                  in.values,
		valuesFiles:             hu.valuesFiles,
		ignoreMissingValues:     hu.ignoreMissingValuesFiles,
		isUpgrade:               isUpgrade,
		crds:                    hu.action.CRDs,
		postRenderers:           h.PostRenderers,
		postRenderStrategy:      h.PostRenderStrategy,
		disableSchemaValidation: hu.action.DisableSchemaValidation,
		commonMetadata:          h.CommonMetadata,
		tests:                   h.Test.Enable,
		workDir:                 work,
	}
	if hu.packaged {
		rel.chartPath = filepath.Join(art.Dir, filepath.FromSlash(art.Path))
	} else {
		rel.chartPath, rel.root = filepath.Join(art.Dir, filepath.FromSlash(hu.chart)), art.Dir
	}
	rnd, err := hu.r.renderRelease(ctx, rel)
	if err != nil {
		return nil, err
	}
	if h.Install.CreateNamespace {
		// As helm install --create-namespace: created when missing, never
		// updated or deleted by the release.
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(h.ReleaseNamespace)
		ns.SetAnnotations(map[string]string{"gitsync.io/ssa": "IfNotPresent", "gitsync.io/prune": "disabled"})
		rnd.objects = append([]*unstructured.Unstructured{ns}, rnd.objects...)
	}
	return rnd, nil
}

func (hu *helmReleaseUnit) specDigest(inputsDigest string) string {
	return hu.r.unitDigest(hu.h.ID, inputsDigest, hu.src)
}

// deletionPolicy returns what removing unit u from Git does to its
// objects, recorded while u is still there.
func deletionPolicy(u flux.Unit) string {
	k, ok := u.(*flux.Kustomization)
	if !ok {
		return inventory.DeletionDelete // a HelmRelease's objects go with it, as helm uninstall
	}
	switch k.DeletionPolicy {
	case flux.DeletionPolicyDelete:
		return inventory.DeletionDelete
	case flux.DeletionPolicyWaitForTermination:
		return inventory.DeletionWait
	case flux.DeletionPolicyOrphan:
		return inventory.DeletionOrphan
	}
	if k.Prune {
		return inventory.DeletionDelete
	}
	return inventory.DeletionOrphan
}
