package syncrun

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/imageupdate"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// Flux's ImageUpdateAutomation as a unit of the run (docs/image-automation.md,
// "Flux's objects"): it resolves the ImagePolicies it selects, rewrites the
// markers under its update.path in a checkout of its GitRepository, commits
// and pushes with that GitRepository's credentials (pkg/imageupdate). The
// units reading the GitRepository wait for it (flux.Graph.Dependencies) and
// then resolve the GitRepository to the commit it pushed, so that the run
// applies exactly that commit. An automation applies nothing itself and
// keeps no state of its own: the sync's record lists its result.

// unitAction runs a Flux unit that applies nothing, returning its
// revision and a message saying what it did.
type unitAction func(ctx context.Context, r *runner, u flux.Unit, sources []flux.Object) (revision, message string, err error)

// unitActions are the Flux kinds run as actions rather than applying
// units (unitKinds).
var unitActions = map[string]unitAction{
	flux.KindImageUpdateAutomation: runImageAutomation,
}

// fluxImages is what the run's automations did.
type fluxImages struct {
	mu sync.Mutex
	// pushed maps a GitRepository to the commit an automation pushed to
	// the branch it follows, as BRANCH@sha1:COMMIT.
	pushed map[flux.ID]source.Revision
	// own is the sync's own repository resolved at the commit pushed.
	own *source.Resolved
	// results are the automations' results.
	results map[flux.ID]*Result
	// last are the image records of the sync's last run (setLast);
	// records what each automation that succeeded chose now.
	last    []inventory.ImageRecord
	records map[flux.ID][]inventory.ImageRecord
}

// setLast keeps the image records of the sync's last run.
func (fi *fluxImages) setLast(recs []inventory.ImageRecord) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.last = append([]inventory.ImageRecord(nil), recs...)
}

// lastOf returns what automation id chose in the last run.
func (fi *fluxImages) lastOf(id flux.ID) imageupdate.Last {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return lastImages(fi.last, id.String())
}

// setRecords keeps what automation id chose in this run.
func (fi *fluxImages) setRecords(id flux.ID, recs []inventory.ImageRecord) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.records == nil {
		fi.records = map[flux.ID][]inventory.ImageRecord{}
	}
	fi.records[id] = recs
}

// imageRecords returns the sync's image records after the run: those of
// spec.imageUpdate as recs holds them, those of each automation that
// succeeded now, and the last run's for an automation that did not (it
// failed, or was skipped) but is still among the units; the records of
// automations that left are dropped.
func (fi *fluxImages) imageRecords(recs []inventory.ImageRecord, units []inventory.UnitRecord) []inventory.ImageRecord {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	out := inventory.ImagesOf(recs, "")
	for _, u := range units {
		if u.Kind != flux.KindImageUpdateAutomation {
			continue
		}
		id := flux.ID{Kind: u.Kind, Namespace: u.Namespace, Name: u.Name}
		if now, ok := fi.records[id]; ok {
			out = append(out, now...)
		} else {
			out = append(out, inventory.ImagesOf(recs, id.String())...)
		}
	}
	return out
}

func (fi *fluxImages) pushedTo(id flux.ID) source.Revision {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.pushed[id]
}

func (fi *fluxImages) result(id flux.ID) *Result {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.results[id]
}

// runAction runs unit fu with act and records its result.
func (r *runner) runAction(ctx context.Context, act unitAction, fu flux.Unit, sources []flux.Object) error {
	id := fu.Metadata().ID
	res := &Result{Start: r.now(), Outcome: Succeeded}
	rev, msg, err := act(ctx, r, fu, sources)
	res.End, res.Revision, res.Message = r.now(), rev, msg
	if err != nil {
		res.Outcome, res.Err, res.Message = Failed, err, err.Error()
	}
	fi := &r.tree.images
	fi.mu.Lock()
	if fi.results == nil {
		fi.results = map[flux.ID]*Result{}
	}
	fi.results[id] = res
	fi.mu.Unlock()
	if err != nil {
		r.log.Warn("unit failed", "unit", id.String(), "error", err.Error())
		return err
	}
	r.log.Info("unit", "unit", id.String(), "result", string(res.Outcome), "revision", rev, "message", msg,
		"duration", res.End.Sub(res.Start).String())
	return nil
}

// runImageAutomation is an ImageUpdateAutomation's unitAction. sources
// are its GitRepository, then each selected ImagePolicy followed by its
// ImageRepository (flux.Graph.Sources).
func runImageAutomation(ctx context.Context, r *runner, fu flux.Unit, sources []flux.Object) (string, string, error) {
	a := fu.(*flux.ImageUpdateAutomation)
	if a.Suspend {
		return "", "suspended: not run", nil
	}
	if r.opts.Revision != "" {
		return "", "not run: a pinned run (rollback) updates no image", nil
	}
	g, ok := sources[0].(*flux.GitRepository)
	if !ok {
		return "", "", fmt.Errorf("sourceRef %s: not a GitRepository", sources[0].Metadata().ID)
	}
	images := map[string]setters.Image{}
	var chosen []imageupdate.PolicyResult
	last := r.tree.images.lastOf(a.ID)
	for i := 1; i+1 < len(sources); i += 2 {
		p, ok1 := sources[i].(*flux.ImagePolicy)
		ir, ok2 := sources[i+1].(*flux.ImageRepository)
		if !ok1 || !ok2 {
			return "", "", fmt.Errorf("%s: cannot be read", sources[i].Metadata().ID)
		}
		if p.Suspend {
			continue
		}
		key := p.ID.Namespace + ":" + p.ID.Name
		c, err := r.resolveImagePolicy(ctx, key, p, ir, last)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", p.ID, err)
		}
		logPolicy(r.log, p.ID.String(), c)
		images[key] = c.Image
		chosen = append(chosen, c)
	}
	gopts, follows, err := r.automationGit(ctx, g)
	if err != nil {
		return "", "", fmt.Errorf("sourceRef %s: %w", g.ID, err)
	}
	branch := a.CheckoutBranch
	if branch == "" {
		branch = follows
	}
	if branch == "" {
		return "", "", fmt.Errorf("spec.git.checkout.ref.branch: required: %s checks out no branch", g.ID)
	}
	gopts.Ref = source.GitRef{Branch: branch}
	opts := imageupdate.Options{
		Git: gopts, Path: sourcePathIn(a.Path), Images: images,
		Author:          imageupdate.Author{Name: a.AuthorName, Email: a.AuthorEmail},
		MessageTemplate: a.MessageTemplate, MessageValues: a.MessageTemplateValues,
		PushBranch: a.PushBranch, Refspec: a.PushRefspec,
		WorkDir: r.opts.WorkDir, Now: r.now,
	}
	if name := a.SigningKeySecret; name != "" {
		const field = "spec.git.commit.signingKey.secretRef"
		data, err := r.readSecretIn(ctx, a.ID.Namespace, name, field)
		if err != nil {
			return "", "", err
		}
		if opts.SigningKey, err = signingKeyFrom(data, object.ID{Kind: "Secret", Namespace: a.ID.Namespace, Name: name}, field); err != nil {
			return "", "", err
		}
	}
	res, err := imageupdate.Run(ctx, opts)
	if err != nil {
		return "", "", redact.Error(err)
	}
	r.tree.images.setRecords(a.ID, imageRecords(a.ID.String(), chosen, res, branch))
	base := branch + "@sha1:" + res.Base
	if res.Commit == "" {
		return base, fmt.Sprintf("no change: %d %s, branch %s", len(images), plural(len(images), "policy"), branch), nil
	}
	for _, c := range res.Changes {
		r.log.Info("image update", "unit", a.ID.String(), "file", c.Location(), "policy", c.Policy, "old", c.Value, "new", c.New)
	}
	pushed := source.Revision(res.Branch + "@sha1:" + res.Commit)
	msg := fmt.Sprintf("pushed %d %s to branch %s (commit %s)", len(res.Changes), plural(len(res.Changes), "change"), res.Branch, res.Commit)
	if res.Applies(branch) && branch == follows {
		fi := &r.tree.images
		fi.mu.Lock()
		if fi.pushed == nil {
			fi.pushed = map[flux.ID]source.Revision{}
		}
		fi.pushed[g.ID] = pushed
		fi.mu.Unlock()
		msg += "; the units reading " + g.ID.String() + " apply it in this run"
	} else {
		msg += "; not applied: " + g.ID.String() + " follows another branch"
	}
	return string(pushed), msg, nil
}

// resolveImagePolicy maps an ImagePolicy and its ImageRepository onto the
// policy spec pkg/imageupdate resolves, with the repository's Secrets
// (secretRef, then certSecretRef, whose TLS keys win) of its namespace.
func (r *runner) resolveImagePolicy(ctx context.Context, key string, p *flux.ImagePolicy, ir *flux.ImageRepository, last imageupdate.Last) (imageupdate.PolicyResult, error) {
	ps := spec.ImagePolicySpec{
		Name: p.ID.Name, Namespace: p.ID.Namespace,
		ImageRepository: spec.ImageRepositorySpec{Image: ir.Image, Insecure: ir.Insecure, ExclusionList: ir.ExclusionList,
			Timeout: spec.NewDuration(ir.Timeout)},
		Policy: p.Policy, FilterTags: p.FilterTags, DigestReflectionPolicy: p.DigestReflectionPolicy,
	}
	if ir.SecretRef != "" || ir.CertSecretRef != "" {
		ps.ImageRepository.SecretRef = &spec.LocalObjectReference{Name: ir.SecretRef + ir.CertSecretRef}
	}
	read := func(ctx context.Context, _, _ string) (map[string][]byte, error) {
		data := map[string][]byte{}
		for _, ref := range []struct{ name, field string }{{ir.SecretRef, "spec.secretRef"}, {ir.CertSecretRef, "spec.certSecretRef"}} {
			if ref.name == "" {
				continue
			}
			d, err := r.readSecretIn(ctx, ir.ID.Namespace, ref.name, ir.ID.String()+" "+ref.field)
			if err != nil {
				return nil, err
			}
			maps.Copy(data, d)
		}
		return data, nil
	}
	return imageupdate.ResolveSpec(ctx, key, &ps, "", read, last)
}

// automationGit returns how an automation reaches GitRepository g, and
// the branch the units reading g follow ("" when they follow none). The
// sync's own repository is reached as the sync reaches it.
func (r *runner) automationGit(ctx context.Context, g *flux.GitRepository) (source.GitOptions, string, error) {
	if r.isOwnSource(g) {
		sg := r.sync.Spec.Source.Git
		if sg == nil {
			return source.GitOptions{}, "", fmt.Errorf("the sync's own source is not a Git repository")
		}
		gopts := source.GitOptions{URL: sg.URL, Insecure: sg.Insecure, Provider: sg.Provider, Logger: r.log, RecurseSubmodules: sg.RecurseSubmodules}
		if ref, field := r.sync.Spec.Source.SecretRef(); ref != nil {
			data, err := r.secretData(ctx, ref.Name, field)
			if err != nil {
				return gopts, "", err
			}
			gopts.Auth = source.CredentialsFromSecret(data)
		}
		if sg.Timeout != nil {
			gopts.Timeout = sg.Timeout.Duration
		}
		follows := ""
		if r.rootSource != nil && sg.Ref.Commit == "" && sg.Ref.Tag == "" && sg.Ref.SemVer == "" && sg.Ref.Name == "" {
			follows = r.rootSource.Revision.Name()
		}
		return gopts, follows, nil
	}
	creds, _, err := r.readCredentials(ctx, g.ID.Namespace, g.SecretRef, "")
	if err != nil {
		return source.GitOptions{}, "", err
	}
	gopts := source.GitOptions{URL: g.URL, Insecure: strings.HasPrefix(g.URL, "http://"), Provider: g.Provider, Auth: creds, Logger: r.log, Timeout: g.Timeout}
	follows := ""
	if g.Ref.Commit == "" {
		follows = g.Ref.Branch
	}
	return gopts, follows, nil
}

// resolveOwnPushed resolves the sync's own repository at the commit an
// automation pushed, once per run.
func (r *runner) resolveOwnPushed(ctx context.Context, pin source.Revision) (*source.Resolved, error) {
	fi := &r.tree.images
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.own != nil && fi.own.Revision.Commit() == pin.Commit() {
		return fi.own, nil
	}
	res, err := r.resolveAt(ctx, pin)
	if err != nil {
		return nil, err
	}
	fi.own = res
	return res, nil
}
