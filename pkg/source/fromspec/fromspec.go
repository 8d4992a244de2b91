// Package fromspec builds the source a Sync spec names. It is the one
// place that knows every kind of source: a table maps each member of
// spec.Source (git, helm, …) to the function that turns it into that
// kind's options and its source.Source. The orchestrator asks New for a
// source and never switches on kinds itself.
//
// Adding a kind of source means: a member of spec.Source (pkg/spec), a
// package that implements source.Source for it, one entry in kinds below,
// and the docs.
package fromspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/gitsync/gitsync/pkg/helm"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/bucket"
	"github.com/gitsync/gitsync/pkg/source/oci"
	"github.com/gitsync/gitsync/pkg/spec"
)

// Options say how New builds a source. The zero value follows the spec.
type Options struct {
	// Pin makes the source resolve to and fetch exactly this revision, one
	// a run recorded (a rollback: sync-job --revision). Default: follow
	// what the spec selects.
	Pin source.Revision
	// UserAgent is sent by HTTP-based sources. Default "gitsync".
	UserAgent string
	// Logger receives what sources log (Git's fallback to a full clone).
	// Default: discard.
	Logger *slog.Logger
	// Secrets holds the data of the Secrets the source reads besides its
	// credentials (spec.Source.MoreSecrets: a Git source's verification
	// keys and includes' credentials), by Secret name. The caller reads
	// them; New fails when one the spec names is missing.
	Secrets map[string]map[string][]byte
}

// kind builds one kind of source from its member of spec.Source.
type kind func(s *spec.Source, creds source.Credentials, opts Options) (source.Source, error)

// kinds maps spec.Source's member names (spec.Source.Kind) to builders.
var kinds = map[string]kind{
	"git":    newGit,
	"helm":   newHelm,
	"oci":    newOCI,
	"bucket": newBucket,
}

// New returns the source s names, with creds read from the Secret s
// names (spec.Source.SecretRef; zero when it names none). s must be
// valid (spec.Parse checked it). A kind whose member has ignore rules
// (spec.Source.IgnoreRules) is wrapped with source.WithIgnore: the one
// place where every kind's fetched tree is filtered by them.
func New(s spec.Source, creds source.Credentials, opts Options) (source.Source, error) {
	name := s.Kind()
	build, ok := kinds[name]
	if !ok {
		if name == "" {
			return nil, fmt.Errorf("spec.source: set exactly one kind of source")
		}
		return nil, fmt.Errorf("spec.source.%s: not supported by this version of gitsync", name)
	}
	src, err := build(&s, creds, opts)
	if err != nil {
		return nil, err
	}
	if rules, ok := s.IgnoreRules(); ok {
		src = source.WithIgnore(src, rules)
	}
	return src, nil
}

// secret returns the data of the Secret u names from opts.Secrets.
func (opts Options) secret(u spec.SecretUse) (map[string][]byte, error) {
	data, ok := opts.Secrets[u.Name]
	if !ok {
		return nil, fmt.Errorf("%s: Secret %s was not read", u.Field, u.Name)
	}
	return data, nil
}

// Key returns the identity of the source s names, pinned to pin: equal
// for equal specs (the same URL, ref, secretRef and options), so that a
// source.Cache shares one checkout between the parts of a run that use
// it. It is a digest: a URL may hold a token, and keys may be logged.
func Key(s spec.Source, pin source.Revision) string {
	b, err := json.Marshal(struct {
		Source spec.Source     `json:"source"`
		Pin    source.Revision `json:"pin,omitempty"`
	}{s, pin})
	if err != nil {
		// spec.Source is plain data; Marshal cannot fail on it.
		panic(fmt.Sprintf("fromspec: marshal spec.source: %v", err))
	}
	sum := sha256.Sum256(b)
	return s.Kind() + ":" + hex.EncodeToString(sum[:16])
}

// newGit builds a Git repository from spec.source.git.
func newGit(s *spec.Source, creds source.Credentials, opts Options) (source.Source, error) {
	g := s.Git
	o := source.GitOptions{
		URL:      g.URL,
		Insecure: g.Insecure,
		Ref: source.GitRef{
			Branch: g.Ref.Branch, Tag: g.Ref.Tag, SemVer: g.Ref.SemVer, Name: g.Ref.Name, Commit: g.Ref.Commit,
		},
		Auth:     creds,
		Provider: g.Provider,
		Logger:   opts.Logger,
	}
	if g.Timeout != nil {
		o.Timeout = g.Timeout.Duration
	}
	if err := gitExtras(g, &o, opts); err != nil {
		return nil, err
	}
	if opts.Pin != "" {
		var err error
		if o, err = source.PinGit(o, opts.Pin); err != nil {
			return nil, err
		}
	}
	return source.NewGit(o), nil
}

// gitExtras maps verify, sparseCheckout, recurseSubmodules and include of
// spec.source.git onto o.
func gitExtras(g *spec.GitSource, o *source.GitOptions, opts Options) error {
	o.SparseCheckout = g.SparseCheckout
	o.RecurseSubmodules = g.RecurseSubmodules
	if v := g.Verify; v != nil {
		u := spec.SecretUse{Name: v.SecretRef.Name, Field: "spec.source.git.verify.secretRef"}
		data, err := opts.secret(u)
		if err != nil {
			return err
		}
		keys, err := source.VerificationKeysFromSecret(data)
		if err != nil {
			return fmt.Errorf("%s: Secret %s: %w", u.Field, u.Name, err)
		}
		mode, err := source.ParseVerifyMode(v.Mode)
		if err != nil {
			return fmt.Errorf("spec.source.git.verify.mode: %w", err)
		}
		o.Verify = &source.GitVerification{Mode: mode, Keys: keys}
	}
	for i, inc := range g.Include {
		r := inc.Repository
		var creds source.Credentials
		if r.SecretRef != nil {
			data, err := opts.secret(spec.SecretUse{Name: r.SecretRef.Name,
				Field: fmt.Sprintf("spec.source.git.include[%d].repository.secretRef", i)})
			if err != nil {
				return err
			}
			creds = source.CredentialsFromSecret(data)
		}
		rep := source.GitOptions{
			URL:      r.URL,
			Insecure: r.Insecure,
			Ref:      source.GitRef{Branch: r.Ref.Branch, Tag: r.Ref.Tag, SemVer: r.Ref.SemVer, Name: r.Ref.Name, Commit: r.Ref.Commit},
			Auth:     creds,
			Logger:   opts.Logger,
		}
		if g.Timeout != nil {
			rep.Timeout = g.Timeout.Duration
		}
		o.Include = append(o.Include, source.GitInclude{Repository: rep, FromPath: inc.FromPath, ToPath: inc.IncludeToPath()})
	}
	return nil
}

// newHelm builds a chart of a Helm repository from spec.source.helm.
func newHelm(s *spec.Source, creds source.Credentials, opts Options) (source.Source, error) {
	h := s.Helm
	c := helm.ChartSource{
		URL: h.URL, Chart: h.Chart, Version: h.Version, Auth: creds,
		PassCredentials: h.PassCredentials, Insecure: h.Insecure, UserAgent: opts.UserAgent,
	}
	if h.Timeout != nil {
		c.Timeout = h.Timeout.Duration
	}
	if opts.Pin != "" {
		var err error
		if c, err = helm.PinChart(c, opts.Pin); err != nil {
			return nil, err
		}
	}
	return helm.NewSource(c), nil
}

// newOCI builds an OCI artifact from spec.source.oci.
func newOCI(s *spec.Source, creds source.Credentials, opts Options) (source.Source, error) {
	o := s.OCI
	a := oci.Options{
		URL:       o.URL,
		Ref:       oci.Ref{Tag: o.Ref.Tag, SemVer: o.Ref.SemVer, SemverFilter: o.Ref.SemverFilter, Digest: o.Ref.Digest},
		Auth:      creds,
		Insecure:  o.Insecure,
		UserAgent: opts.UserAgent,
	}
	if l := o.LayerSelector; l != nil {
		a.Layer = oci.LayerSelector{MediaType: l.MediaType, Operation: l.Operation}
	}
	if o.Timeout != nil {
		a.Timeout = o.Timeout.Duration
	}
	if v := o.Verify; v != nil {
		// Without public keys the signatures are keyless, as in Flux; without
		// a trusted root, Sigstore's public-good one is fetched.
		a.Verify = &oci.Verification{Provider: v.Provider, Keyless: v.SecretRef == nil}
		for _, id := range v.MatchOIDCIdentity {
			a.Verify.Identities = append(a.Verify.Identities, oci.OIDCIdentity{Issuer: id.Issuer, Subject: id.Subject})
		}
		for _, u := range s.MoreSecrets() {
			keys, err := opts.secret(u)
			if err != nil {
				return nil, err
			}
			if u.Field == spec.OCITrustedRootField {
				// An empty root is refused: nil would mean the public one.
				root := keys[oci.TrustedRootKey]
				if len(root) == 0 {
					return nil, fmt.Errorf("%s: Secret %s holds no %s: %w", u.Field, u.Name, oci.TrustedRootKey, source.ErrInvalidOptions)
				}
				a.Verify.TrustedRoot = root
			} else {
				a.Verify.Keys = keys
			}
		}
	}
	if opts.Pin != "" {
		var err error
		if a, err = oci.Pin(a, opts.Pin); err != nil {
			return nil, err
		}
	}
	return oci.NewSource(a), nil
}

// newBucket builds an S3-compatible bucket from spec.source.bucket. A pin
// is checked against the bucket's current listing: a bucket keeps no
// history to fetch an earlier state from.
func newBucket(s *spec.Source, creds source.Credentials, opts Options) (source.Source, error) {
	b := s.Bucket
	if b.Provider != "" && b.Provider != spec.BucketProviderGeneric {
		return nil, fmt.Errorf("spec.source.bucket.provider: %s is not supported yet: %w", b.Provider, source.ErrInvalidOptions)
	}
	o := bucket.Options{
		Endpoint: b.Endpoint, Bucket: b.BucketName, Prefix: b.Prefix, Region: b.Region, Insecure: b.Insecure,
		Auth: creds, Pin: opts.Pin, UserAgent: opts.UserAgent,
	}
	if b.Timeout != nil {
		o.Timeout = b.Timeout.Duration
	}
	src, err := bucket.New(o)
	if err != nil {
		return nil, err
	}
	return src, nil
}
