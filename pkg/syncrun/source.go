package syncrun

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/sops"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/fromspec"
	"github.com/gitsync/gitsync/pkg/spec"
)

// inputs are the values read from the cluster that a render depends on:
// postBuild variables and Helm values. Their digest joins the spec digest,
// so a changed ConfigMap or Secret makes the next run render again.
type inputs struct {
	vars map[string]string
	// keys decrypt SOPS-encrypted files and values; nil when the spec
	// sets no decryption.
	keys   *sops.Keys
	values map[string]any
	digest string
}

// rendering is what the render stage produced.
type rendering struct {
	objects []*unstructured.Unstructured
	// sources[i], when known, is the file objects[i] was read from (it
	// tells Flux's installation files apart).
	sources []string
	digest  string
	// encoded are the objects' JSON as digest hashes them
	// (render.Result.Encoded), what the stored render keeps; nil for a
	// chart, which is not stored.
	encoded [][]byte
	// inputs are the directories a kustomize render looked into and
	// inputsDigest their content's digest (render.InputsDigest); nil for
	// a chart.
	inputs       []string
	inputsDigest string
	// chart is set for Helm renders: its hooks run around apply.
	chart *helm.Rendered
	// verifiedBy is the fetched artifact's source.Artifact.VerifiedBy.
	verifiedBy string
	// undefinedVars are the postBuild variables a Flux unit's lenient
	// substitution made "" (render.Result.UndefinedVariables).
	undefinedVars []string
}

// resolve finds the revision of the spec's source without fetching it,
// through the run's source cache.
func (r *runner) resolve(ctx context.Context) (*source.Resolved, error) {
	return r.resolveAt(ctx, r.imagePin)
}

// resolveAt is resolve with the Git ref pinned to imagePin, a commit an
// image update pushed (none when "").
func (r *runner) resolveAt(ctx context.Context, imagePin source.Revision) (*source.Resolved, error) {
	s := r.sync.Spec.Source
	var creds source.Credentials
	if ref, field := s.SecretRef(); ref != nil {
		data, err := r.secretData(ctx, ref.Name, field)
		if err != nil {
			return nil, err
		}
		creds = source.CredentialsFromSecret(data)
	}
	// The other Secrets the source reads: verification keys, includes'
	// credentials.
	var secrets map[string]map[string][]byte
	for _, u := range s.MoreSecrets() {
		if _, done := secrets[u.Name]; done {
			continue
		}
		data, err := r.secretData(ctx, u.Name, u.Field)
		if err != nil {
			return nil, err
		}
		if secrets == nil {
			secrets = map[string]map[string][]byte{}
		}
		secrets[u.Name] = data
	}
	pin := source.Revision(r.opts.Revision)
	if imagePin != "" {
		s = pinnedTo(s, imagePin)
	}
	src, err := fromspec.New(s, creds, fromspec.Options{Pin: pin, UserAgent: "gitsync", Logger: r.log, Secrets: secrets})
	if err != nil {
		return nil, redact.Error(err)
	}
	res, err := r.sources.Resolve(ctx, fromspec.Key(s, pin), src)
	// Every kind redacts its errors; this is the last line of defence
	// before a message reaches the record, the history and the Events.
	return res, redact.Error(err)
}

func (r *runner) secretData(ctx context.Context, name, field string) (map[string][]byte, error) {
	data, found, err := r.readData(ctx, "Secret", name, field, false)
	if err == nil && !found {
		err = fmt.Errorf("%s (%s): not found", object.ID{Kind: "Secret", Namespace: r.opts.Namespace, Name: name}, field)
	}
	return data, err
}

// gatherInputs reads the postBuild variables and the Helm values.
func (r *runner) gatherInputs(ctx context.Context) (*inputs, error) {
	vars, varsDigest, err := r.substitutions(ctx)
	if err != nil {
		return nil, fmt.Errorf("postBuild: %w", err)
	}
	in := &inputs{vars: vars, digest: varsDigest}
	keys, keysDigest, err := r.decryptionKeys(ctx, r.opts.Namespace, r.sync.Spec.Decryption, "spec.decryption")
	if err != nil {
		return nil, fmt.Errorf("decryption: %w", err)
	}
	in.keys, in.digest = keys, withDigest(in.digest, keysDigest)
	h := r.sync.Spec.Helm
	if h == nil {
		return in, nil
	}
	from := make([]helm.ValuesSource, len(h.ValuesFrom))
	for i, ref := range h.ValuesFrom {
		vs := helm.ValuesSource{Kind: ref.Kind, Name: ref.Name, ValuesKey: ref.ValuesKey, TargetPath: ref.TargetPath, Optional: ref.Optional}
		var err error
		field := fmt.Sprintf("spec.helm.valuesFrom[%d]", i)
		vs.Data, vs.Found, err = r.readData(ctx, ref.Kind, ref.Name, field, true)
		if err != nil {
			return nil, err
		}
		id := object.ID{Kind: ref.Kind, Namespace: r.opts.Namespace, Name: ref.Name}
		if vs.Data, err = decryptValuesData(vs.Data, in.keys, id, field); err != nil {
			return nil, err
		}
		from[i] = vs
	}
	values, err := helm.MergeValues(from, h.Values)
	if err != nil {
		return nil, fmt.Errorf("spec.helm: %w", err)
	}
	in.values = values
	if len(h.ValuesFrom) > 0 {
		// Inline values are in the spec digest already; values read from
		// the cluster are not.
		sum := sha256.Sum256([]byte(in.digest + "\n" + helm.ValuesDigest(values)))
		in.digest = hex.EncodeToString(sum[:])
	}
	return in, nil
}

// removeTemp removes a temporary directory of the run. Failing to does not
// change the run's outcome (the Pod's filesystem goes with it), so it is
// logged, not returned.
func (r *runner) removeTemp(ctx context.Context, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		r.log.WarnContext(ctx, "removing a temporary directory failed", "dir", dir, "error", err)
	}
}

// fetchAndRender fetches the resolved source (once per run: the cache
// keeps the tree until the run ends) and renders it: the chart the source
// designates or the spec's path names, when the spec renders Helm;
// otherwise the spec's path with kustomize.
func (r *runner) fetchAndRender(ctx context.Context, src *source.Resolved, in *inputs, isUpgrade bool) (*rendering, error) {
	start := time.Now()
	art, err := r.sources.Fetch(ctx, src)
	if err != nil {
		return nil, redact.Error(err)
	}
	if art.VerifiedBy != "" {
		r.log.Info("fetched", "revision", art.Revision.String(), "verifiedBy", art.VerifiedBy, "duration", time.Since(start).String())
	} else {
		r.log.Info("fetched", "revision", art.Revision.String(), "duration", time.Since(start).String())
	}
	s := &r.sync.Spec
	if s.IsHelm() {
		work, err := os.MkdirTemp(r.opts.WorkDir, "gitsync-")
		if err != nil {
			return nil, err
		}
		defer r.removeTemp(ctx, work)
		chart := cmp.Or(art.Path, s.Path)
		rnd, err := r.renderChart(ctx, filepath.Join(art.Dir, filepath.FromSlash(chart)), art.Dir, in, isUpgrade, work)
		if rnd != nil {
			rnd.verifiedBy = art.VerifiedBy
		}
		return rnd, err
	}

	start = time.Now()
	ropts := renderOptions(s, art.Dir, s.Path, in.vars)
	ropts.Logger, ropts.Decryption, ropts.Secrets = r.log, in.keys, r.secrets
	out, err := render.Render(ctx, ropts)
	if err != nil {
		return nil, err
	}
	r.log.Info("rendered", "objects", len(out.Objects), "duration", time.Since(start).String())
	rnd := withInputs(&rendering{objects: out.Objects, sources: out.Sources, digest: out.Digest, encoded: out.Encoded}, art.Dir, out.Inputs)
	rnd.verifiedBy = art.VerifiedBy
	return rnd, nil
}

// withInputs records a kustomize render's inputs and their digest in rnd.
// A digest that cannot be computed leaves them out: the unit then renders
// at every new revision, as if none were known.
func withInputs(rnd *rendering, root string, dirs []string) *rendering {
	if d, err := render.InputsDigest(root, dirs); err == nil {
		rnd.inputs, rnd.inputsDigest = dirs, d
	}
	return rnd
}

// renderChart renders the spec's chart (a package, or a directory inside
// root) with the cluster's version and API list, and returns its CRDs (as
// the CRD policy says) and objects to apply; its hooks stay in
// rendering.chart.
func (r *runner) renderChart(ctx context.Context, chartPath, root string, in *inputs, isUpgrade bool, workDir string) (*rendering, error) {
	s := &r.sync.Spec
	h := s.Helm
	if h == nil {
		h = &spec.HelmSpec{}
	}
	to, err := r.rootDestination(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return r.renderRelease(ctx, release{
		to:                      to,
		chartPath:               chartPath,
		root:                    root,
		name:                    r.sync.HelmReleaseName(),
		namespace:               r.releaseNamespace(),
		values:                  in.values,
		valuesFiles:             h.ValuesFiles,
		keys:                    in.keys,
		isUpgrade:               isUpgrade,
		crds:                    h.CRDPolicy(),
		postRenderers:           h.PostRenderers,
		postRenderStrategy:      h.PostRenderStrategy,
		disableSchemaValidation: h.DisableSchemaValidation,
		commonMetadata:          s.CommonMetadata,
		tests:                   h.Test.Enabled(),
		workDir:                 workDir,
	})
}

// release says how renderRelease renders one chart: a sync's (spec.helm)
// or a HelmRelease unit's.
type release struct {
	chartPath, root         string
	name, namespace         string
	values                  map[string]any
	valuesFiles             []string
	ignoreMissingValues     bool
	keys                    *sops.Keys // decrypt SOPS-encrypted valuesFiles
	isUpgrade               bool
	crds                    string
	postRenderers           []spec.PostRenderer
	postRenderStrategy      string
	disableSchemaValidation bool
	commonMetadata          *spec.CommonMetadata
	// tests keeps the chart's test hooks, to run after the install or
	// upgrade.
	tests   bool
	workDir string
	// to is the cluster the release goes to: its capabilities are the
	// chart's.
	to *destination
}

// renderRelease renders a chart with the cluster's version and API list,
// and returns its CRDs (as the CRD policy says) and objects to apply; its
// hooks stay in rendering.chart.
func (r *runner) renderRelease(ctx context.Context, rel release) (*rendering, error) {
	start := time.Now()
	kubeVersion, apiVersions, err := r.capabilities(ctx, rel.to.cfg)
	if err != nil {
		return nil, err
	}
	opts := helm.RenderOptions{
		ChartPath:                rel.chartPath,
		Root:                     rel.root,
		ReleaseName:              rel.name,
		Namespace:                rel.namespace,
		Values:                   rel.values,
		ValuesFiles:              rel.valuesFiles,
		IgnoreMissingValuesFiles: rel.ignoreMissingValues,
		Decryption:               rel.keys,
		Secrets:                  r.secrets,
		KubeVersion:              kubeVersion,
		APIVersions:              apiVersions,
		IsUpgrade:                rel.isUpgrade,
		CRDs:                     helm.CRDPolicy(rel.crds),
		PostRenderStrategy:       helm.PostRenderStrategy(rel.postRenderStrategy),
		DisableSchemaValidation:  rel.disableSchemaValidation,
		IncludeTestHooks:         rel.tests,
		WorkDir:                  rel.workDir,
		Logger:                   r.log,
	}
	if cm := rel.commonMetadata; cm != nil {
		opts.CommonMetadata = &render.CommonMetadata{Labels: cm.Labels, Annotations: cm.Annotations}
	}
	for _, pr := range rel.postRenderers {
		if pr.Kustomize == nil {
			continue
		}
		var p helm.PostRenderer
		for _, sp := range pr.Kustomize.Patches {
			rp := render.Patch{Patch: sp.Patch}
			if sp.Target != nil {
				t := render.Selector(*sp.Target)
				rp.Target = &t
			}
			p.Patches = append(p.Patches, rp)
		}
		for _, im := range pr.Kustomize.Images {
			p.Images = append(p.Images, render.Image(im))
		}
		opts.PostRenderers = append(opts.PostRenderers, p)
	}
	out, err := helm.Render(ctx, opts)
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, 0, len(out.CRDs)+len(out.Objects))
	for _, crd := range out.CRDs {
		// Helm never deletes or (with Create) updates a chart's CRDs:
		// deleting one deletes every custom resource of its kind.
		ann := crd.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann["gitsync.io/prune"] = "disabled"
		if opts.CRDs == helm.CRDsCreate {
			ann["gitsync.io/ssa"] = "IfNotPresent"
		}
		crd.SetAnnotations(ann)
		objs = append(objs, crd)
	}
	for _, o := range out.Objects {
		// helm.sh/resource-policy: keep — Helm leaves such objects behind
		// on uninstall and upgrade; so does prune.
		if o.GetAnnotations()["helm.sh/resource-policy"] == "keep" {
			ann := o.GetAnnotations()
			ann["gitsync.io/prune"] = "disabled"
			o.SetAnnotations(ann)
		}
		objs = append(objs, o)
	}
	r.log.Info("rendered", "chart", out.Chart, "version", out.Version, "objects", len(objs), "hooks", len(out.Hooks),
		"duration", time.Since(start).String())
	return &rendering{objects: objs, digest: out.Digest, chart: out}, nil
}

// capabilities returns the cluster's version and API list for Helm. It
// asks again for every chart: a unit that ran before may have added CRDs
// that a chart's .Capabilities.APIVersions must see.
func (r *runner) capabilities(ctx context.Context, cfg *rest.Config) (string, []string, error) {
	dc, err := kube.NewDiscovery(cfg, nil)
	if err != nil {
		return "", nil, err
	}
	kubeVersion, apiVersions, err := helm.ClusterCapabilities(ctx, dc)
	if err != nil {
		return "", nil, fmt.Errorf("cluster capabilities: %w", err)
	}
	return kubeVersion, apiVersions, nil
}

// releaseNamespace is where a chart's namespaced objects without a
// namespace go: targetNamespace, else the sync's namespace.
func (r *runner) releaseNamespace() string {
	if ns := r.sync.Spec.TargetNamespace; ns != "" {
		return ns
	}
	return r.opts.Namespace
}
