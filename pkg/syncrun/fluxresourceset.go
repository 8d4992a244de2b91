package syncrun

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/render"
)

// The Flux Operator's ResourceSet as a unit (docs/resourceset.md): its
// render evaluates its templates with its input sets (flux.ResourceSet's
// InputSets and Build); the pass applies, prunes, waits for and records
// the objects as a Kustomization's, and the Flux objects among them become
// its children, units in turn. Its ResourceSetInputProviders are its
// sources (flux.Graph.Sources): a provider's manifest is part of its spec
// digest, so that a change of defaultValues renders it again.

// resourceSetUnit is a ResourceSet as a unit.
type resourceSetUnit struct {
	r         *runner
	rs        *flux.ResourceSet
	providers []*flux.ResourceSetInputProvider
	// src names the providers, for the spec digest; it has no source.
	src *fluxSource
	// sets are the input sets inputs combined, for render.
	sets []map[string]any
}

func newResourceSetUnit(_ context.Context, r *runner, u flux.Unit, sources []flux.Object, _ *inventory.Inventory) (unitKind, unitSettings, error) {
	rs := u.(*flux.ResourceSet)
	ru := &resourceSetUnit{r: r, rs: rs, src: &fluxSource{id: rs.ID}}
	for _, s := range sources {
		p, ok := s.(*flux.ResourceSetInputProvider)
		if !ok {
			return nil, unitSettings{}, fmt.Errorf("spec.inputsFrom: %s is not a ResourceSetInputProvider", s.Metadata().ID)
		}
		if p.Type != flux.InputProviderStatic {
			return nil, unitSettings{}, fmt.Errorf("spec.inputsFrom: %s is of type %s, which gitsync does not run "+
				"(only %s providers are): %w", p.ID, p.Type, flux.InputProviderStatic, flux.ErrUnsupported)
		}
		ru.providers = append(ru.providers, p)
		ru.src.objects = append(ru.src.objects, p.ID)
	}
	return ru, unitSettings{
		namespace: rs.ID.Namespace,
		// The Flux Operator deletes what the set no longer generates,
		// down to nothing when no input is left.
		prune:       true,
		allowEmpty:  true,
		adopt:       r.sync.Spec.Adopt,
		wait:        rs.Wait,
		waitForJobs: true,
		timeout:     rs.Timeout,
		dest:        r.fluxDestination(rs.ID, rs.ServiceAccountName, nil),
	}, nil
}

// inputs combines the input sets. They come from the ResourceSet and its
// providers as Git holds them, whose manifests the spec digest covers
// already: no digest of their own.
func (ru *resourceSetUnit) inputs(context.Context) (*inputs, error) {
	sets, err := ru.rs.InputSets(ru.providers)
	if err != nil {
		return nil, err
	}
	ru.sets = sets
	return &inputs{}, nil
}

// resolve returns the ResourceSet's revision: the digest of its manifest
// and its providers', what its render depends on.
func (ru *resourceSetUnit) resolve(context.Context, *inventory.Record) (*resolvedSource, error) {
	d := ru.specDigest("")
	return &resolvedSource{revision: d}, nil
}

func (ru *resourceSetUnit) render(ctx context.Context, _ *resolvedSource, _ *inputs, _ bool) (*rendering, error) {
	start := time.Now()
	objs, err := ru.rs.Build(ru.sets)
	if err != nil {
		return nil, err
	}
	rnd, err := canonicalRendering(ctx, objs)
	if err != nil {
		return nil, err
	}
	ru.r.log.Info("rendered", "unit", ru.rs.ID.String(), "inputSets", len(ru.sets), "objects", len(rnd.objects),
		"duration", time.Since(start).String())
	return rnd, ctx.Err()
}

func (ru *resourceSetUnit) specDigest(inputsDigest string) string {
	return ru.r.unitDigest(ru.rs.ID, inputsDigest, ru.src)
}

// canonicalRendering returns objs as a render.Result would hold them: in
// canonical order (group, kind, namespace, name), with their JSON and the
// set digest (render.EncodeSet), so that the stored render and the record
// treat them as any render's. Two objects of one identity are an error
// naming it (a ResourceSet keeps the first of each already).
func canonicalRendering(ctx context.Context, objs []*unstructured.Unstructured) (*rendering, error) {
	key := func(o *unstructured.Unstructured) []string {
		return []string{o.GroupVersionKind().Group, o.GetKind(), o.GetNamespace(), o.GetName()}
	}
	sorted := slices.Clone(objs)
	slices.SortStableFunc(sorted, func(a, b *unstructured.Unstructured) int { return slices.Compare(key(a), key(b)) })
	for i := 1; i < len(sorted); i++ {
		if slices.Equal(key(sorted[i]), key(sorted[i-1])) {
			return nil, fmt.Errorf("%s: generated twice", strings.Join(key(sorted[i]), "/"))
		}
	}
	encoded, digest, err := render.EncodeSet(ctx, sorted, func(i int) string { return strings.Join(key(sorted[i]), "/") })
	if err != nil {
		return nil, err
	}
	return &rendering{objects: sorted, encoded: encoded, digest: digest}, nil
}
