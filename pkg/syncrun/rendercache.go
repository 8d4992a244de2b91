package syncrun

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/names"
)

// The stored render: the objects of each unit's last render, kept between
// runs so that a drift correction applies them again without fetching and
// rendering the source (docs/architecture.md, "Drift without a request per
// object"). A drift correction happens only when the revision, the spec
// and the inputs are those of the last successful run, so rendering again
// would give these very objects.
//
// It is a Secret, gitsync-NAME-render, as Helm's release Secrets are: the
// objects may hold secret values (decrypted SOPS files, substituted
// variables). One data key per unit, its state name (the sync's name for
// the sync itself), each gzipped JSON lines: a storedRenderHeader, then
// the objects as their render encoded them for the set digest
// (render.Result.Encoded). An entry is trusted only when the header's
// setDigest is the unit's LastAppliedSetDigest and the object lines hash
// to it: a partial, stale or altered entry is ignored and the unit renders.
// A chart's render is not stored (its hooks and tests are not objects of
// the set).

// kindRender is the inventory.LabelKind of the stored render Secret.
const kindRender = "render"

// maxRenderSecret bounds the stored render's Secret data: the API server
// refuses a Secret above 1 MiB. Entries that do not fit are left out, the
// largest first; their units render when they drift.
const maxRenderSecret = 900 << 10

// storedRenderHeader is the first line of an entry.
type storedRenderHeader struct {
	SetDigest     string   `json:"setDigest"`
	Objects       int      `json:"objects"`
	Sources       []string `json:"sources,omitempty"`
	Inputs        []string `json:"inputs,omitempty"`
	InputsDigest  string   `json:"inputsDigest,omitempty"`
	UndefinedVars []string `json:"undefinedVars,omitempty"`
}

// renderStore is the run's view of the stored render Secret.
type renderStore struct {
	mu     sync.Mutex
	loaded bool
	// data is the Secret's data as read (nil when it did not exist or
	// could not be read).
	data map[string][]byte
	// restored are entries decoded by this run, by state name and set
	// digest: the read ahead and the write share one decode.
	restored map[string]*rendering
	// pending are the entries of units that rendered and succeeded this
	// run, encoded in the background, by state name.
	pending map[string]func() ([]byte, error)
}

// keepRender starts encoding the entry of unit u's fresh render rnd in the
// background; saveRenders writes it if the unit succeeds. A chart's render
// is not kept.
func (r *runner) keepRender(u *unit, rnd *rendering) {
	if rnd.chart != nil || rnd.encoded == nil || rnd.digest == "" {
		return
	}
	h := storedRenderHeader{SetDigest: rnd.digest, Objects: len(rnd.encoded), Sources: rnd.sources,
		Inputs: rnd.inputs, InputsDigest: rnd.inputsDigest, UndefinedVars: rnd.undefinedVars}
	encoded := rnd.encoded
	entry := async(func() ([]byte, error) { return encodeStoredRender(h, encoded) })
	s := &r.renders
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string]func() ([]byte, error){}
	}
	s.pending[u.store.Sync] = entry
}

// forgetRender drops unit u's pending entry: its pass did not succeed.
func (r *runner) forgetRender(u *unit) {
	s := &r.renders
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, u.store.Sync)
}

func encodeStoredRender(h storedRenderHeader, objects [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(append(head, '\n')); err != nil {
		return nil, err
	}
	for _, o := range objects {
		if _, err := zw.Write(o); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadRenders reads the stored render Secret once per run. A Secret that is
// missing, not the sync's or cannot be read leaves the store empty: every
// unit that drifts renders (the run stays correct, only slower).
func (r *runner) loadRenders(ctx context.Context) map[string][]byte {
	s := &r.renders
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return s.data
	}
	name := names.Render(r.opts.Name)
	sec, err := r.client.Secrets(r.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		r.log.Info("reading the stored render failed; a drift correction renders", "secret", name, "error", err)
	case sec.Labels[inventory.LabelSync] != r.opts.Name || sec.Labels[inventory.LabelManagedBy] != inventory.ManagedBy:
		r.log.Warn("the stored render Secret is not labelled as this sync's; it is ignored", "secret", name)
	default:
		s.data = sec.Data
	}
	if ctx.Err() == nil {
		s.loaded = true
	}
	return s.data
}

// storedRendering returns unit u's last render from the stored render, or
// nil when it holds none that can be trusted (then the unit renders).
func (r *runner) storedRendering(ctx context.Context, u *unit) *rendering {
	rec := &u.inv.Record
	want := rec.LastAppliedSetDigest
	if want == "" {
		return nil
	}
	state := u.store.Sync
	s := &r.renders
	s.mu.Lock()
	if rnd := s.restored[state]; rnd != nil && rnd.digest == want {
		s.mu.Unlock()
		return rnd
	}
	s.mu.Unlock()
	raw, ok := r.loadRenders(ctx)[state]
	if !ok {
		return nil
	}
	rnd, err := decodeStoredRender(raw, want)
	if err != nil {
		r.log.Info("the stored render cannot be used; the unit renders", "unit", u.name(), "error", err)
		return nil
	}
	rnd.verifiedBy = rec.LastRun.VerifiedBy
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restored == nil {
		s.restored = map[string]*rendering{}
	}
	s.restored[state] = rnd
	return rnd
}

// decodeStoredRender reads one entry and checks that its objects are the
// render whose set digest is want.
func decodeStoredRender(raw []byte, want string) (*rendering, error) {
	data, err := gunzip(raw)
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	lines := bufio.NewReader(bytes.NewReader(data))
	head, err := lines.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var h storedRenderHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.SetDigest != want {
		return nil, fmt.Errorf("it holds the render %s, not the last applied %s", h.SetDigest, want)
	}
	rest := data[len(head):]
	sum := sha256.Sum256(rest)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("its objects hash to %s, not %s", got, want)
	}
	rnd := &rendering{digest: want, sources: h.Sources, inputs: h.Inputs, inputsDigest: h.InputsDigest,
		undefinedVars: h.UndefinedVars, objects: make([]*unstructured.Unstructured, 0, h.Objects)}
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte{'\n'})
		rest = after
		// As the API machinery decodes JSON: integers stay int64.
		var obj map[string]any
		if err := utiljson.Unmarshal(line, &obj); err != nil {
			return nil, fmt.Errorf("object %d: %w", len(rnd.objects)+1, err)
		}
		rnd.objects = append(rnd.objects, &unstructured.Unstructured{Object: obj})
	}
	if len(rnd.objects) != h.Objects {
		return nil, fmt.Errorf("%d objects, the header says %d", len(rnd.objects), h.Objects)
	}
	return rnd, nil
}

// saveRenders writes the stored render when a unit of the run rendered and
// succeeded: the new entries, and the entries read at the start for the
// other units of keep (state names). A run whose units only checked drift,
// or corrected it from the stored render, writes nothing. Failing to write
// is logged: a drift correction of a unit without an entry renders.
func (r *runner) saveRenders(ctx context.Context, keep map[string]bool) {
	s := &r.renders
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	data := map[string][]byte{}
	if len(keep) > 1 { // units besides the sync: keep their entries
		for state, raw := range r.loadRenders(ctx) {
			if keep[state] {
				data[state] = raw
			}
		}
	}
	for state, entry := range pending {
		if !keep[state] {
			continue
		}
		raw, err := entry()
		if err != nil {
			r.log.Warn("encoding the stored render failed", "state", state, "error", err)
			delete(data, state)
			continue
		}
		data[state] = raw
	}
	if left := fitRenders(data); len(left) > 0 {
		r.log.Info("renders too large to store; these units render when they drift", "states", left)
	}
	switch err := r.writeRenders(ctx, data); {
	case apierrors.IsForbidden(err):
		// Installed before the job's Role granted it: said, not warned.
		r.log.Info("the job may not write its stored render; a drift correction renders (run kubectl gitsync install again to grant it)",
			"secret", names.Render(r.opts.Name))
	case err != nil:
		r.log.Warn("writing the stored render failed; a drift correction renders", "secret", names.Render(r.opts.Name), "error", err)
	}
}

// fitRenders leaves the largest entries out of data until it fits in a
// Secret, and returns their state names.
func fitRenders(data map[string][]byte) []string {
	total := 0
	states := make([]string, 0, len(data))
	for state, raw := range data {
		total += len(state) + len(raw)
		states = append(states, state)
	}
	sort.Slice(states, func(i, j int) bool { return len(data[states[i]]) > len(data[states[j]]) })
	var left []string
	for _, state := range states {
		if total <= maxRenderSecret {
			break
		}
		total -= len(state) + len(data[state])
		delete(data, state)
		left = append(left, state)
	}
	return left
}

// writeRenders server-side applies the stored render Secret with data: one
// request whether it exists or not, and the API server authorizes its
// creation by name (pkg/install's own Role).
func (r *runner) writeRenders(ctx context.Context, data map[string][]byte) error {
	name := names.Render(r.opts.Name)
	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{
			"name": name, "namespace": r.opts.Namespace,
			"labels": map[string]string{
				inventory.LabelSync:      r.opts.Name,
				inventory.LabelKind:      kindRender,
				inventory.LabelManagedBy: inventory.ManagedBy,
			},
		},
		"data": data,
	})
	if err != nil {
		return err
	}
	force := true
	_, err = r.client.Secrets(r.opts.Namespace).Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "gitsync", Force: &force})
	return err
}
