package imageupdate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitsync/gitsync/pkg/imagepolicy"
	"github.com/gitsync/gitsync/pkg/redact"
	"github.com/gitsync/gitsync/pkg/setters"
	"github.com/gitsync/gitsync/pkg/source"
	"github.com/gitsync/gitsync/pkg/source/registry"
	"github.com/gitsync/gitsync/pkg/spec"
)

// SecretReader returns the data of the Secret name in the sync's
// namespace; field is the spec field that names it, for messages.
type SecretReader func(ctx context.Context, name, field string) (map[string][]byte, error)

// PolicyResult is what one policy chose.
type PolicyResult struct {
	// Key is "NAMESPACE:POLICY", as markers name it.
	Key string
	// Image is the choice: the repository as spec'd and the latest tag.
	Image setters.Image
	// Tags is the number of tags listed.
	Tags int
	// Duration is how long the scan took.
	Duration time.Duration
	// ETags, TagsDigest and SpecDigest are what the next scan reuses the
	// choice by (Last): the registry's ETags of the tag list's pages, a
	// digest of the list and a digest of the policy with its image
	// repository.
	ETags                  []string
	TagsDigest, SpecDigest string
	// Reused says why the choice is Last's: ReusedNotModified or
	// ReusedSameTags; "" when the policy chose anew.
	Reused string
}

// Why a choice was reused (PolicyResult.Reused).
const (
	// ReusedNotModified: the registry answered the last ETags with 304
	// Not Modified; the tags were not listed.
	ReusedNotModified = "not modified"
	// ReusedSameTags: the tags were listed and are those of the last
	// scan; the policy was not evaluated.
	ReusedSameTags = "same tags"
)

// Last maps "NAMESPACE:POLICY" to what the last run chose for it (Key,
// Image, Tags, ETags, TagsDigest and SpecDigest are read), so that a scan
// of an unchanged tag list reuses the choice. Nil reuses nothing.
type Last map[string]PolicyResult

// ResolvePolicies scans the repository of each policy of u and returns
// their choices in spec order. namespace is the sync's: the NAMESPACE of
// policies that set none. A policy that fails to scan, or matches no
// tag, is an error naming it (NAMESPACE:POLICY and its field path).
func ResolvePolicies(ctx context.Context, namespace string, u *spec.ImageUpdateSpec, secrets SecretReader, last Last) ([]PolicyResult, error) {
	out := make([]PolicyResult, 0, len(u.Policies))
	for i := range u.Policies {
		res, err := ResolvePolicy(ctx, namespace, u, i, secrets, last)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// PolicyKey returns "NAMESPACE:POLICY" of policy i of u; namespace is the
// sync's.
func PolicyKey(namespace string, u *spec.ImageUpdateSpec, i int) string {
	p := &u.Policies[i]
	if p.Namespace != "" {
		namespace = p.Namespace
	}
	return namespace + ":" + p.Name
}

// ResolvePolicy is ResolvePolicies for policy i of u alone.
func ResolvePolicy(ctx context.Context, namespace string, u *spec.ImageUpdateSpec, i int, secrets SecretReader, last Last) (PolicyResult, error) {
	key := PolicyKey(namespace, u, i)
	res, err := resolvePolicy(ctx, fmt.Sprintf("spec.imageUpdate.policies[%d].imageRepository.secretRef", i), &u.Policies[i], secrets, lastOf(last, key))
	if err != nil {
		return PolicyResult{}, fmt.Errorf("policy %s (spec.imageUpdate.policies[%d]): %w", key, i, redact.Error(err))
	}
	res.Key = key
	return res, nil
}

// Images maps the results' keys to their images, as Options.Images takes
// them.
func Images(results []PolicyResult) map[string]setters.Image {
	m := make(map[string]setters.Image, len(results))
	for _, r := range results {
		m[r.Key] = r.Image
	}
	return m
}

// ResolveSpec resolves one policy given as p, whose choice is named key
// ("NAMESPACE:POLICY"); secretField names the field of its registry
// Secret in messages. Errors are redacted, and do not name the policy:
// the caller does (Flux's ImagePolicy objects are named as objects).
func ResolveSpec(ctx context.Context, key string, p *spec.ImagePolicySpec, secretField string, secrets SecretReader, last Last) (PolicyResult, error) {
	res, err := resolvePolicy(ctx, secretField, p, secrets, lastOf(last, key))
	if err != nil {
		return PolicyResult{}, redact.Error(err)
	}
	res.Key = key
	return res, nil
}

func lastOf(last Last, key string) *PolicyResult {
	if r, ok := last[key]; ok && r.Image.Tag != "" {
		return &r
	}
	return nil
}

// SpecDigest returns PolicyResult.SpecDigest of p: the hex SHA-256 of its
// JSON, truncated to 64 bits. Any change of the policy, its filter, its
// image or its repository's settings makes the next scan choose anew.
func SpecDigest(p *spec.ImagePolicySpec) string {
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// resolvePolicy scans p's repository and chooses. With last, the scan is
// conditional on last's ETags and the choice is last's when the registry
// answers 304 or lists the same tags, and p is unchanged.
func resolvePolicy(ctx context.Context, secretField string, p *spec.ImagePolicySpec, secrets SecretReader, last *PolicyResult) (PolicyResult, error) {
	pol, err := imagepolicy.Compile(p.PolicySpec())
	if err != nil {
		return PolicyResult{}, err
	}
	ir := p.ImageRepository
	repo, err := imagepolicy.ParseImage(ir.Image, ir.Insecure)
	if err != nil {
		return PolicyResult{}, err
	}
	client := registry.Client{Insecure: ir.Insecure}
	if ir.SecretRef != nil {
		data, err := secrets(ctx, ir.SecretRef.Name, secretField)
		if err != nil {
			return PolicyResult{}, err
		}
		client.Auth = source.CredentialsFromSecret(data)
	}
	timeout := spec.DefaultGitTimeout
	if ir.Timeout != nil {
		timeout = ir.Timeout.Duration
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	specDigest := SpecDigest(p)
	if last != nil && (last.SpecDigest != specDigest || last.Image.Name != ir.Image) {
		last = nil
	}
	sopts := imagepolicy.ScanOptions{Client: client}
	if last != nil {
		sopts.ETags = last.ETags
	}
	listing, err := imagepolicy.Scan(sctx, repo, sopts)
	if err != nil {
		return PolicyResult{}, err
	}
	res := PolicyResult{ETags: listing.ETags, TagsDigest: listing.Digest, SpecDigest: specDigest, Tags: len(listing.Tags)}
	var latest string
	switch {
	case listing.NotModified:
		latest, res.Tags, res.TagsDigest, res.Reused = last.Image.Tag, last.Tags, last.TagsDigest, ReusedNotModified
	case last != nil && last.TagsDigest == listing.Digest:
		latest, res.Reused = last.Image.Tag, ReusedSameTags
	default:
		latest, err = pol.Latest(listing.Tags)
		if err != nil {
			if errors.Is(err, imagepolicy.ErrNoMatch) {
				return PolicyResult{}, fmt.Errorf("none of the %d tags of %s matches the policy", len(listing.Tags), ir.Image)
			}
			return PolicyResult{}, err
		}
	}
	img := setters.Image{Name: ir.Image, Tag: latest}
	if p.ReflectsDigest() {
		// Looked up at every run: a tag may move to another manifest
		// without the tag list changing.
		ro, err := client.Options(sctx, repo)
		if err != nil {
			return PolicyResult{}, err
		}
		desc, err := remote.Head(repo.Tag(latest), ro...)
		if err != nil {
			return PolicyResult{}, fmt.Errorf("digest of %s:%s: %w", ir.Image, latest, registry.Error(err))
		}
		img.Digest = desc.Digest.String()
	}
	res.Image, res.Duration = img, time.Since(start)
	return res, nil
}
