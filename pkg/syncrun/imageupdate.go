package syncrun

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/gitsync/gitsync/pkg/imageupdate"
	"github.com/gitsync/gitsync/pkg/inventory"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/spec"
)

// imageUpdate runs spec.imageUpdate before the sync's source is resolved:
// the policies choose tags, the markers are rewritten, and a change is
// committed and pushed (pkg/imageupdate). When the commit went to the
// branch the sync follows, the run is pinned to it, so that it applies
// exactly that commit. A failure fails the run before anything is
// applied. A rollback (Options.Revision) updates nothing.
//
// rec is the sync's record: the choices of its last run are reused when a
// repository's tag list did not change, and this run's choices and
// markers replace them (rec.Images), when the update succeeded.
func (r *runner) imageUpdate(ctx context.Context, rec *inventory.Record) error {
	if r.imageUpdated {
		return nil
	}
	r.tree.images.setLast(rec.Images)
	u := r.sync.Spec.ImageUpdate
	if u == nil {
		rec.Images = inventory.ReplaceImages(rec.Images, "", nil)
		return nil
	}
	if r.opts.Revision != "" {
		return nil
	}
	r.imageUpdated = true
	chosen, err := imageupdate.ResolvePolicies(ctx, r.opts.Namespace, u, r.secretData, lastImages(rec.Images, ""))
	if err != nil {
		return err
	}
	for _, c := range chosen {
		logPolicy(r.log, c.Key, c)
	}
	g := r.sync.Spec.Source.Git
	var creds source.Credentials
	if ref, field := r.sync.Spec.Source.SecretRef(); ref != nil {
		data, err := r.secretData(ctx, ref.Name, field)
		if err != nil {
			return err
		}
		creds = source.CredentialsFromSecret(data)
	}
	gopts := source.GitOptions{URL: g.URL, Insecure: g.Insecure, Provider: g.Provider, Auth: creds, Logger: r.log, RecurseSubmodules: g.RecurseSubmodules}
	if g.Timeout != nil {
		gopts.Timeout = g.Timeout.Duration
	}
	branch := g.Ref.Branch
	if branch == "" {
		// The remote's default branch, as the sync follows it.
		rev, err := source.Resolve(ctx, gopts)
		if err != nil {
			return redact.Error(err)
		}
		branch = rev.Name()
	}
	gopts.Ref = source.GitRef{Branch: branch}
	opts := imageupdate.Options{
		Git: gopts, Path: u.Path, Images: imageupdate.Images(chosen),
		Author:          imageupdate.Author{Name: u.Git.Commit.Author.Name, Email: u.Git.Commit.Author.Email},
		MessageTemplate: u.Git.Commit.MessageTemplate,
		PushBranch:      u.PushBranch(),
		WorkDir:         r.opts.WorkDir,
		Now:             r.now,
	}
	if u.Git.Push != nil {
		opts.Refspec = u.Git.Push.Refspec
	}
	if k := u.Git.Commit.SigningKey; k != nil {
		if opts.SigningKey, err = r.signingKey(ctx, k.SecretRef.Name); err != nil {
			return err
		}
	}
	res, err := imageupdate.Run(ctx, opts)
	if err != nil {
		return redact.Error(err)
	}
	rec.Images = inventory.ReplaceImages(rec.Images, "", imageRecords("", chosen, res, branch))
	if res.Commit == "" {
		r.log.Info("image update: no change", "revision", branch+"@sha1:"+res.Base)
		return nil
	}
	for _, c := range res.Changes {
		r.log.Info("image update", "file", c.Location(), "policy", c.Policy, "old", c.Value, "new", c.New)
	}
	r.log.Info("image update: pushed", "branch", res.Branch, "commit", res.Commit, "attempts", res.Attempts)
	if res.Applies(branch) {
		r.imagePin = source.Revision(branch + "@sha1:" + res.Commit)
	}
	return nil
}

// pinnedTo returns s with its Git ref set to the commit the image
// update pushed, on its branch: the run fetches exactly that commit, and
// records it as BRANCH@sha1:COMMIT, as a run following the branch does,
// so that the next run sees the same revision.
func pinnedTo(s spec.Source, pin source.Revision) spec.Source {
	g := *s.Git
	g.Ref = spec.GitRef{Branch: pin.Name(), Commit: pin.Commit()}
	s.Git = &g
	return s
}

// signingKey reads Flux's signing key Secret: git.asc, an armored OpenPGP
// private key, and passphrase when it is encrypted.
func (r *runner) signingKey(ctx context.Context, name string) (*openpgp.Entity, error) {
	const field = "spec.imageUpdate.git.commit.signingKey.secretRef"
	data, err := r.secretData(ctx, name, field)
	if err != nil {
		return nil, err
	}
	return signingKeyFrom(data, object.ID{Kind: "Secret", Namespace: r.opts.Namespace, Name: name}, field)
}

// signingKeyFrom reads the signing key of Secret id, whose data is data;
// field names the spec field that names the Secret.
func signingKeyFrom(data map[string][]byte, id object.ID, field string) (*openpgp.Entity, error) {
	armored, ok := data["git.asc"]
	if !ok {
		return nil, fmt.Errorf("%s (%s): no key git.asc", id, field)
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil || len(keys) == 0 || keys[0].PrivateKey == nil {
		return nil, fmt.Errorf("%s (%s): git.asc holds no armored OpenPGP private key", id, field)
	}
	e := keys[0]
	if e.PrivateKey.Encrypted {
		pass := data["passphrase"]
		if err := e.DecryptPrivateKeys(pass); err != nil {
			return nil, fmt.Errorf("%s (%s): the passphrase does not decrypt git.asc", id, field)
		}
	}
	return e, nil
}

// logPolicy logs what a policy chose; id names it.
func logPolicy(log *slog.Logger, id string, c imageupdate.PolicyResult) {
	args := []any{"policy", id, "image", c.Image.Name, "tags", c.Tags, "latest", c.Image.Tag, "duration", c.Duration.String()}
	if c.Reused != "" {
		args = append(args, "reused", c.Reused)
	}
	log.Info("image policy", args...)
}

// imageRecords returns what the run records of the choices of automation
// ("" for spec.imageUpdate), with their markers as res found them; branch
// is the branch checked out.
func imageRecords(automation string, chosen []imageupdate.PolicyResult, res *imageupdate.Result, branch string) []inventory.ImageRecord {
	markers := map[string][]string{}
	for _, m := range res.Markers {
		loc := m.Location()
		if m.Field != setters.FieldImage {
			loc += ":" + m.Field
		}
		markers[m.Policy] = append(markers[m.Policy], loc)
	}
	pending := res.Commit != "" && !res.Applies(branch)
	out := make([]inventory.ImageRecord, 0, len(chosen))
	for _, c := range chosen {
		m := markers[c.Key]
		rec := inventory.ImageRecord{
			Policy: c.Key, Automation: automation, Image: c.Image.Name, Latest: c.Image.Tag, Tags: c.Tags,
			Markers: m, Pending: pending && len(m) > 0,
			ETags: c.ETags, TagsDigest: c.TagsDigest, SpecDigest: c.SpecDigest,
		}
		if len(m) > inventory.MaxImageMarkers {
			rec.Markers, rec.MoreMarkers = m[:inventory.MaxImageMarkers], len(m)-inventory.MaxImageMarkers
		}
		out = append(out, rec)
	}
	return out
}

// lastImages returns the choices of automation recorded in recs, for
// reuse.
func lastImages(recs []inventory.ImageRecord, automation string) imageupdate.Last {
	last := imageupdate.Last{}
	for _, rec := range inventory.ImagesOf(recs, automation) {
		last[rec.Policy] = imageupdate.PolicyResult{
			Key: rec.Policy, Image: setters.Image{Name: rec.Image, Tag: rec.Latest}, Tags: rec.Tags,
			ETags: rec.ETags, TagsDigest: rec.TagsDigest, SpecDigest: rec.SpecDigest,
		}
	}
	return last
}
