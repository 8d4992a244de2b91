package spec

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// S3-compatible buckets: spec.source.bucket, Flux's Bucket.

const (
	// DefaultBucketTimeout bounds one bucket operation (the listing, the
	// download of every object) when spec.source.bucket.timeout is not
	// set; it is Flux's default.
	DefaultBucketTimeout = 60 * time.Second

	// BucketProviderGeneric is an S3-compatible server reached with an
	// access key pair (MinIO, SeaweedFS, Ceph RGW, AWS S3 with static
	// keys, ...). It is the default and, for now, the only provider.
	BucketProviderGeneric = "generic"

	// maxBucketPrefixLength is S3's limit on the length of a key, and so
	// of a prefix.
	maxBucketPrefixLength = 1024
)

// bucketProvidersLater are Flux's other providers. They authenticate with
// the cloud's workload identity rather than an access key pair, which
// gitsync does not implement yet; a spec naming one is refused with that
// reason rather than as an unknown value.
var bucketProvidersLater = []string{"aws", "gcp", "azure"}

var (
	// bucketName is S3's rule for bucket names: 3 to 63 lowercase
	// letters, digits, '.' and '-', starting and ending with a letter or
	// digit.
	bucketName = lazyRegexp(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// bucketRegion admits the region names S3-compatible servers use
	// ("us-east-1", "auto", "garage").
	bucketRegion = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

// BucketSource is an S3-compatible bucket, as Flux's Bucket spec. Every
// object below Prefix is fetched, each to the path its key names (the key
// in full, Prefix included, as in Flux), and spec.path selects what to
// render. The revision is "sha256:<hex>", a digest of the listing's keys
// and ETags, so that an unchanged bucket costs one listing and no
// download.
type BucketSource struct {
	// Provider says how the bucket is reached. Only BucketProviderGeneric
	// (the default) is supported: an S3-compatible endpoint with the access
	// key pair of SecretRef. Flux's aws, gcp and azure providers are
	// refused as not supported yet.
	Provider string `json:"provider,omitempty"`
	// Endpoint is the server's address, host[:port] as in Flux
	// ("minio.example.com", "s3.amazonaws.com", "10.0.0.5:9000").
	// https:// or http:// may be written before it; http:// needs
	// Insecure. No path, query or credentials.
	Endpoint string `json:"endpoint"`
	// BucketName is the bucket's name.
	BucketName string `json:"bucketName"`
	// Prefix limits the fetch to the keys that start with it (S3's
	// listing prefix: "apps/" takes apps/a.yaml, "apps" also apps-x.yaml).
	// Default: every key of the bucket.
	Prefix string `json:"prefix,omitempty"`
	// Region is the bucket's region, which requests are signed for.
	// Default: us-east-1, which S3-compatible servers use; set it for an
	// AWS bucket in another region (Flux asks the server instead, at the
	// cost of one more request per run).
	Region string `json:"region,omitempty"`
	// Insecure connects with plain HTTP instead of HTTPS. It does not
	// disable TLS verification.
	Insecure bool `json:"insecure,omitempty"`
	// SecretRef names a Secret in the sync's namespace with the access key
	// pair (accesskey and secretkey), and ca.crt for a private CA (tls.crt
	// and tls.key for a client certificate). Without it the bucket is read
	// anonymously.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Timeout bounds one bucket operation: the listing, and the download
	// of every object. Default DefaultBucketTimeout.
	Timeout *Duration `json:"timeout,omitempty"`
	// Ignore holds exclusion rules in .gitignore syntax for the fetched
	// tree (Flux's ignore), with the .sourceignore files it holds. Default:
	// Flux's default exclusions.
	Ignore *string `json:"ignore,omitempty"`
}

func (b *BucketSource) secretRef() *LocalObjectReference { return b.SecretRef }

// ignoreRules returns spec.source.bucket.ignore: a bucket's tree is
// filtered by ignore rules, as Flux filters it.
func (b *BucketSource) ignoreRules() *string { return b.Ignore }

// describe returns the endpoint as a URL and the bucket and prefix.
func (b *BucketSource) describe() (url, what string) {
	url = b.Endpoint
	if !strings.Contains(url, "://") {
		url = "https://" + url
		if b.Insecure {
			url = "http://" + b.Endpoint
		}
	}
	what = "bucket " + b.BucketName
	if b.Prefix != "" {
		what += ", prefix " + b.Prefix
	}
	return url, what
}

// setDefaults fills in the defaults documented on BucketSource.
func (b *BucketSource) setDefaults() {
	if b.Provider == "" {
		b.Provider = BucketProviderGeneric
	}
	if b.Timeout == nil {
		b.Timeout = NewDuration(DefaultBucketTimeout)
	}
}

func (b *BucketSource) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch pp := p.Child("provider"); {
	case b.Provider == "" || b.Provider == BucketProviderGeneric:
	case slices.Contains(bucketProvidersLater, b.Provider):
		errs = append(errs, field.Invalid(pp, b.Provider,
			"not supported yet: only generic (an S3-compatible endpoint with accesskey and secretkey); "+
				strings.Join(bucketProvidersLater, ", ")+" are planned"))
	default:
		errs = append(errs, field.NotSupported(pp, b.Provider, []string{BucketProviderGeneric}))
	}

	ep := p.Child("endpoint")
	if b.Endpoint == "" {
		errs = append(errs, field.Required(ep, "the server's host[:port], e.g. minio.example.com or s3.amazonaws.com"))
	} else {
		scheme, problem := bucketEndpointProblem(b.Endpoint)
		// An endpoint holding credentials is refused before it is echoed.
		var shown any = b.Endpoint
		if strings.Contains(b.Endpoint, "@") {
			shown = field.OmitValueType{}
		}
		switch {
		case problem != "":
			errs = append(errs, field.Invalid(ep, shown, problem))
		case scheme == "http" && !b.Insecure:
			errs = append(errs, field.Invalid(ep, shown, "plain http:// is allowed only with insecure: true; use https://"))
		case scheme == "https" && b.Insecure:
			errs = append(errs, field.Forbidden(p.Child("insecure"),
				"contradicts the https:// endpoint: insecure means plain HTTP (it does not disable TLS verification)"))
		}
	}

	np := p.Child("bucketName")
	switch {
	case b.BucketName == "":
		errs = append(errs, field.Required(np, "the bucket's name"))
	case !bucketName().MatchString(b.BucketName) || strings.Contains(b.BucketName, ".."):
		errs = append(errs, field.Invalid(np, b.BucketName,
			"a bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"))
	}

	if b.Prefix != "" {
		if problem := bucketPrefixProblem(b.Prefix); problem != "" {
			errs = append(errs, field.Invalid(p.Child("prefix"), b.Prefix, problem))
		}
	}
	if b.Region != "" && !bucketRegion().MatchString(b.Region) {
		errs = append(errs, field.Invalid(p.Child("region"), b.Region,
			"a region name: letters, digits, '-' and '_', at most 64 characters"))
	}
	if b.SecretRef != nil {
		errs = append(errs, validateRefName(p.Child("secretRef", "name"), b.SecretRef.Name)...)
	}
	errs = append(errs, validateDuration(p.Child("timeout"), b.Timeout)...)
	return errs
}

// bucketEndpointProblem returns the endpoint's scheme ("https", "http",
// or "" when none is written) and what is wrong with it, or "".
func bucketEndpointProblem(endpoint string) (scheme, problem string) {
	host := endpoint
	if s, rest, ok := strings.Cut(endpoint, "://"); ok {
		if s != "https" && s != "http" {
			return s, "must be host[:port], optionally after https:// or http://"
		}
		scheme, host = s, rest
	}
	switch {
	case strings.Contains(host, "@"):
		return scheme, "may not hold credentials; put accesskey and secretkey in the Secret named by secretRef"
	case strings.ContainsAny(host, "/?#"):
		return scheme, "must be host[:port] only, without a path, query or fragment (the bucket is bucketName)"
	}
	h, port := host, ""
	if strings.HasPrefix(host, "[") || strings.Count(host, ":") == 1 {
		var err error
		if h, port, err = net.SplitHostPort(host); err != nil {
			return scheme, "must be host[:port]: " + err.Error()
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return scheme, "the port must be a number from 1 to 65535"
		}
	}
	if net.ParseIP(h) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(h))) > 0 {
		return scheme, "must be host[:port] with a DNS name or an IP address as host"
	}
	return scheme, ""
}

// bucketPrefixProblem returns what is wrong with a listing prefix, or "".
// The keys it selects become paths below the fetch directory, so a prefix
// that could only select keys leaving it is refused here already.
func bucketPrefixProblem(prefix string) string {
	switch {
	case len(prefix) > maxBucketPrefixLength:
		return "at most 1024 bytes"
	case strings.HasPrefix(prefix, "/"):
		return "must not start with /: keys are relative"
	case strings.ContainsFunc(prefix, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "must not contain control characters"
	}
	// The last component is a partial name: "apps/." selects
	// apps/.hidden.yaml.
	dirs := strings.Split(prefix, "/")
	for _, c := range dirs[:len(dirs)-1] {
		switch c {
		case ".", "..":
			return "must not contain . or .. path components"
		case "":
			return "must not contain empty path components (//)"
		}
	}
	return ""
}
