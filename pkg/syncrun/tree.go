package syncrun

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/render"
	"github.com/gitsync/gitsync/pkg/retry"
)

// tree is what a run knows about its units while they run concurrently:
// the units that ran, which unit claimed which object, the Flux objects
// as rendered, and the stored tree. Its methods are safe for concurrent
// use.
type tree struct {
	mu sync.Mutex
	// units are the units that ran, in the order they started.
	units []*unit
	// claims maps every object a unit of the run renders (or, unchanged,
	// keeps) to that unit's name: an object belongs to one unit.
	claims map[object.ID]string
	// raw holds the Flux objects as rendered, by ID: their digest is the
	// spec digest of a unit.
	raw map[flux.ID]*unstructured.Unstructured
	// own are the GitRepositories that are the sync's own repository.
	own map[flux.ID]bool
	// parents maps each Flux object to the unit whose render held it.
	parents map[flux.ID]flux.ID
	// dependedOn are the units some unit of the run depends on.
	dependedOn map[flux.ID]bool
	// stored is the stored tree as read at the start (nil until read);
	// storedErr why it could not be read.
	stored    *storedTree
	storedErr error
	// images is what the run's ImageUpdateAutomations did (fluximage.go).
	images fluxImages
}

func newTree() *tree {
	return &tree{
		claims:     map[object.ID]string{},
		raw:        map[flux.ID]*unstructured.Unstructured{},
		own:        map[flux.ID]bool{},
		parents:    map[flux.ID]flux.ID{},
		dependedOn: map[flux.ID]bool{},
	}
}

func (t *tree) isOwn(id flux.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.own[id]
}

func (t *tree) rawObject(id flux.ID) *unstructured.Unstructured {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.raw[id]
}

func (t *tree) parentOf(id flux.ID) flux.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parents[id]
}

func (t *tree) isDependedOn(id flux.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dependedOn[id]
}

func (t *tree) add(u *unit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.units = append(t.units, u)
}

// ran returns the units that ran, in the order they started.
func (t *tree) ran() []*unit {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*unit(nil), t.units...)
}

// claim records that unit u renders (or keeps) entries. An object another
// unit of the run claimed already is an error naming both: two units
// applying one object would take it from each other at every run.
func (r *runner) claim(u *unit, entries []inventory.Entry) error {
	t := r.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	name := u.name()
	var dup []string
	for _, e := range entries {
		if owner, ok := t.claims[e.ID]; ok && owner != name {
			dup = append(dup, fmt.Sprintf("%s (also rendered by %s)", e.ID, owner))
		}
	}
	if len(dup) > 0 {
		return fmt.Errorf("%d %s of %s also %s to another unit of this sync; an object belongs to one unit: %s",
			len(dup), plural(len(dup), "object"), name, map[bool]string{true: "belongs", false: "belong"}[len(dup) == 1], listSome(dup, 10))
	}
	for _, e := range entries {
		t.claims[e.ID] = name
	}
	return nil
}

// claimedByOthers returns the objects of entries that another unit than
// name claimed in this run.
func (t *tree) claimedByOthers(name string, entries []inventory.Entry) map[object.ID]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[object.ID]bool{}
	for _, e := range entries {
		if owner, ok := t.claims[e.ID]; ok && owner != name {
			out[e.ID] = true
		}
	}
	return out
}

// The stored tree: the Flux objects each unit's render held, kept between
// runs so that a unit whose source and spec did not change need not be
// fetched and rendered to know its children (a sync whose repository did
// not change costs its drift checks only). It is a Secret, not a
// ConfigMap: a parent's substitution (postBuild.substituteFrom a Secret)
// or a HelmRelease's inline values may put secret values into the
// objects. One Secret per sync, gitsync-NAME-flux, key tree.json.gz:
//
//	{"units": {"<state name>": {"setDigest": "sha256:…", "objects": [{…}, …], "own": [{…}]}}}
//
// keyed by the unit's state name (the sync's name for the sync itself). An
// entry is trusted only when its setDigest is the unit's
// LastAppliedSetDigest: the children of that very render.

// treeKey is the data key of the stored tree Secret.
const treeKey = "tree.json.gz"

// kindFluxTree is the inventory.LabelKind of the stored tree Secret.
const kindFluxTree = "flux-tree"

// treeSecretName returns the name of the stored tree Secret of sync.
func treeSecretName(sync string) string { return names.FluxTree(sync) }

// storedTree is the content of the stored tree Secret.
type storedTree struct {
	Units map[string]storedEntry `json:"units"`
	// resourceVersion of the Secret as read; "" when it did not exist.
	resourceVersion string
	// raw is the JSON as read, to skip writing an unchanged tree.
	raw []byte
}

// storedEntry is what one unit's render held.
type storedEntry struct {
	// SetDigest is the digest of the render the objects came from.
	SetDigest string `json:"setDigest"`
	// Objects are the Flux objects of the render, as rendered.
	Objects []map[string]any `json:"objects,omitempty"`
	// Own are the objects of Flux's gotk-sync.yaml (the sync itself
	// only): its GitRepository is the sync's own repository.
	Own []map[string]any `json:"own,omitempty"`
	// Installation is the summary of Flux's installation the render held.
	Installation string `json:"installation,omitempty"`
	// Inputs are the directories the render looked into, InputsDigest
	// their content's digest then (render.InputsDigest): a new revision
	// that leaves it unchanged needs no render.
	Inputs       []string `json:"inputs,omitempty"`
	InputsDigest string   `json:"inputsDigest,omitempty"`
}

// loadTree reads the stored tree once per run. A missing Secret is an
// empty tree; one that cannot be read is remembered as such, and every
// unit then renders (the run stays correct, only slower).
func (r *runner) loadTree(ctx context.Context) *storedTree {
	t := r.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stored != nil || t.storedErr != nil {
		return t.stored
	}
	st := &storedTree{Units: map[string]storedEntry{}}
	sec, err := r.client.Secrets(r.opts.Namespace).Get(ctx, treeSecretName(r.opts.Name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		t.stored = st
		return st
	case err != nil:
		t.storedErr = err
		r.log.Warn("reading the stored unit tree failed; every unit renders", "secret", treeSecretName(r.opts.Name), "error", err)
		return nil
	}
	raw, err := gunzip(sec.Data[treeKey])
	if err == nil {
		err = json.Unmarshal(raw, st)
	}
	if err != nil {
		t.storedErr = err
		r.log.Warn("the stored unit tree is unreadable; every unit renders", "secret", treeSecretName(r.opts.Name), "error", err)
		return nil
	}
	if st.Units == nil {
		st.Units = map[string]storedEntry{}
	}
	st.resourceVersion, st.raw = sec.ResourceVersion, raw
	t.stored = st
	return st
}

// restoreChildren sets the children of a unit that need not render from
// the stored tree, and reports whether it could: a unit whose children are
// not known must render. A sync that had no units has none to restore and
// reads nothing.
func (r *runner) restoreChildren(ctx context.Context, u *unit) bool {
	if u.id == (flux.ID{}) && len(u.inv.Record.Units) == 0 {
		u.children, u.childrenKnown = nil, true
		return true
	}
	e, ok := r.storedEntry(ctx, u)
	if !ok {
		return false
	}
	u.children = toUnstructured(e.Objects)
	u.inputs, u.inputsDigest = e.Inputs, e.InputsDigest
	u.installation = flux.Installation{Sync: toUnstructured(e.Own)}
	u.installationSummary = e.Installation
	u.childrenKnown = true
	return true
}

// storedEntry returns the stored entry of unit u when it can be trusted:
// it is of the render u applied last.
func (r *runner) storedEntry(ctx context.Context, u *unit) (storedEntry, bool) {
	st := r.loadTree(ctx)
	if st == nil {
		return storedEntry{}, false
	}
	e, ok := st.Units[u.store.Sync]
	if !ok || e.SetDigest == "" || e.SetDigest != u.inv.Record.LastAppliedSetDigest {
		return storedEntry{}, false
	}
	return e, true
}

// inputsUnchanged reports whether the directories unit u's last render
// looked into are the same at the revision src resolved to: a commit that
// touched other directories of the repository. It fetches src (once per
// run, shared with every unit of the repository). A sync that had no units
// never asks (it renders at every new revision, as it always did).
func (r *runner) inputsUnchanged(ctx context.Context, u *unit, src *resolvedSource) bool {
	if u.id == (flux.ID{}) && len(u.inv.Record.Units) == 0 || src.res == nil {
		return false
	}
	e, ok := r.storedEntry(ctx, u)
	if !ok || len(e.Inputs) == 0 || e.InputsDigest == "" {
		return false
	}
	art, err := r.sources.Fetch(ctx, src.res)
	if err != nil {
		return false // rendering will report it
	}
	d, err := render.InputsDigest(art.Dir, e.Inputs)
	return err == nil && d == e.InputsDigest
}

// saveTree writes the stored tree: an entry for each unit in keep (by
// state name) whose children are known and that succeeded, the entry read
// at the start for the others. Failing to write is logged: the next run
// renders the units whose entry it cannot trust.
func (r *runner) saveTree(ctx context.Context, keep map[string]*unit) {
	old := r.loadTree(ctx) // nil when unreadable: written anew
	st := storedTree{Units: map[string]storedEntry{}}
	for name, u := range keep {
		switch {
		case u != nil && u.childrenKnown && (u.res.Outcome == Succeeded || u.res.selfSucceeded):
			e := storedEntry{SetDigest: u.inv.Record.LastAppliedSetDigest, Installation: u.installationSummary,
				Inputs: u.inputs, InputsDigest: u.inputsDigest}
			if u.res.setDigest != "" {
				e.SetDigest = u.res.setDigest
			}
			for _, o := range u.children {
				e.Objects = append(e.Objects, o.Object)
			}
			for _, o := range u.installation.Sync {
				e.Own = append(e.Own, o.Object)
			}
			st.Units[name] = e
		case old != nil:
			if e, ok := old.Units[name]; ok {
				st.Units[name] = e
			}
		}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		r.log.Warn("encoding the unit tree failed", "error", err)
		return
	}
	if old != nil && bytes.Equal(raw, old.raw) {
		return
	}
	if r.checking() {
		_ = r.needLease("the stored unit tree changed")
		return
	}
	zipped, err := gzipBytes(raw)
	if err != nil {
		r.log.Warn("compressing the unit tree failed", "error", err)
		return
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      treeSecretName(r.opts.Name),
			Namespace: r.opts.Namespace,
			Labels: map[string]string{
				inventory.LabelSync:      r.opts.Name,
				inventory.LabelKind:      kindFluxTree,
				inventory.LabelManagedBy: inventory.ManagedBy,
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{treeKey: zipped},
	}
	secrets := r.client.Secrets(r.opts.Namespace)
	if old == nil || old.resourceVersion == "" {
		_, err = secrets.Create(retry.ReplaySafe(ctx), sec, metav1.CreateOptions{FieldManager: "gitsync"})
		if apierrors.IsAlreadyExists(err) {
			var live *corev1.Secret
			if live, err = secrets.Get(ctx, sec.Name, metav1.GetOptions{}); err == nil {
				sec.ResourceVersion = live.ResourceVersion
				_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "gitsync"})
			}
		}
	} else {
		sec.ResourceVersion = old.resourceVersion
		_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "gitsync"})
	}
	if err != nil {
		r.log.Warn("writing the unit tree failed; the next run renders the units it cannot trust", "secret", sec.Name, "error", err)
	}
}

func toUnstructured(objs []map[string]any) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = &unstructured.Unstructured{Object: o}
	}
	return out
}

// maxTree bounds the stored tree once inflated.
const maxTree = 64 << 20

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer func() { _ = zr.Close() }()
	out, err := io.ReadAll(io.LimitReader(zr, maxTree+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxTree {
		return nil, fmt.Errorf("more than %d bytes inflated", maxTree)
	}
	return out, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
