package flux

// Builders of the source kinds. They run after the schema walk, so every
// value has its declared type; see decode.go.

func decodeGitRepository(meta Meta, r reader) *GitRepository {
	ref := r.obj("ref")
	g := &GitRepository{
		Meta:      meta,
		URL:       r.str("url"),
		SecretRef: r.obj("secretRef").str("name"),
		Provider:  r.str("provider"),
		Timeout:   r.duration("timeout", DefaultSourceTimeout),
		Suspend:   r.boolean("suspend"),
		Ignore:    r.optStr("ignore"),
		// Flux's sparseCheckout is a list of directories.
		SparseCheckout:    r.strs("sparseCheckout"),
		RecurseSubmodules: r.boolean("recurseSubmodules"),
	}
	if g.Provider == "generic" {
		g.Provider = "" // the default
	}
	if r.has("verify") {
		v := r.obj("verify")
		g.Verify = &GitVerify{Mode: orDefault(v.str("mode"), "HEAD"), SecretRef: v.obj("secretRef").str("name")}
	}
	for _, inc := range r.list("include") {
		name := inc.obj("repository").str("name")
		g.Include = append(g.Include, GitInclude{
			Repository: ID{Kind: KindGitRepository, Namespace: meta.ID.Namespace, Name: name},
			FromPath:   inc.str("fromPath"),
			ToPath:     orDefault(inc.str("toPath"), name),
		})
	}
	branch, tag, semver, name, commit := ref.str("branch"), ref.str("tag"), ref.str("semver"), ref.str("name"), ref.str("commit")
	// The order of fluxcd/pkg/git/gogit's Clone, which source-controller
	// hands every field of ref to.
	switch {
	case commit != "":
		g.Ref.Commit, g.Ref.Branch = commit, branch
	case name != "":
		g.Ref.Name = name
	case tag != "":
		g.Ref.Tag = tag
	case semver != "":
		g.Ref.SemVer = semver
	default:
		g.Ref.Branch = orDefault(branch, DefaultBranch)
	}
	return g
}

func decodeOCIRepository(meta Meta, r reader) *OCIRepository {
	ref := r.obj("ref")
	o := &OCIRepository{
		Meta: meta,
		URL:  r.str("url"),
		Ref: OCIRef{
			Digest:       ref.str("digest"),
			SemVer:       ref.str("semver"),
			SemverFilter: ref.str("semverFilter"),
			Tag:          ref.str("tag"),
		},
		SecretRef:     r.obj("secretRef").str("name"),
		CertSecretRef: r.obj("certSecretRef").str("name"),
		Insecure:      r.boolean("insecure"),
		Timeout:       r.duration("timeout", DefaultSourceTimeout),
		Suspend:       r.boolean("suspend"),
		Ignore:        r.optStr("ignore"),
	}
	o.Verify = ociVerify(r)
	if o.Ref == (OCIRef{}) {
		o.Ref.Tag = DefaultOCITag
	}
	if r.has("layerSelector") {
		ls := r.obj("layerSelector")
		o.LayerSelector = &OCILayerSelector{
			MediaType: ls.str("mediaType"),
			Operation: orDefault(ls.str("operation"), OCILayerExtract),
		}
	}
	return o
}

func decodeHelmRepository(d *decoder, meta Meta, r reader) *HelmRepository {
	h := &HelmRepository{
		Meta:            meta,
		URL:             r.str("url"),
		Type:            orDefault(r.str("type"), HelmRepositoryDefault),
		SecretRef:       r.obj("secretRef").str("name"),
		CertSecretRef:   r.obj("certSecretRef").str("name"),
		PassCredentials: r.boolean("passCredentials"),
		Insecure:        r.boolean("insecure"),
		Timeout:         r.duration("timeout", DefaultSourceTimeout),
		Suspend:         r.boolean("suspend"),
	}
	isOCI := len(h.URL) >= 6 && h.URL[:6] == "oci://"
	switch {
	case isOCI && h.Type != HelmRepositoryOCI:
		d.errorf("spec.type", ErrInvalid, "must be %q for an oci:// URL", HelmRepositoryOCI)
	case !isOCI && h.Type == HelmRepositoryOCI:
		d.errorf("spec.url", ErrInvalid, "must start with oci:// when type is %q", HelmRepositoryOCI)
	}
	return h
}

// ociVerify reads the cosign verify of r (an OCIRepository, a HelmChart,
// a HelmRelease's chart template); nil when it has none.
func ociVerify(r reader) *OCIVerify {
	if !r.has("verify") {
		return nil
	}
	v := r.obj("verify")
	out := &OCIVerify{Provider: orDefault(v.str("provider"), "cosign"), SecretRef: v.obj("secretRef").str("name"),
		TrustedRootSecretRef: v.obj("trustedRootSecretRef").str("name")}
	for _, id := range v.list("matchOIDCIdentity") {
		out.MatchOIDCIdentity = append(out.MatchOIDCIdentity, OIDCIdentityMatch{Issuer: id.str("issuer"), Subject: id.str("subject")})
	}
	return out
}

func decodeHelmChart(meta Meta, r reader) *HelmChart {
	src := r.obj("sourceRef")
	return &HelmChart{
		Verify:  ociVerify(r),
		Meta:    meta,
		Chart:   r.str("chart"),
		Version: orDefault(r.str("version"), DefaultChartVersion),
		// A HelmChart's source is always in its own namespace.
		SourceRef:                ID{Kind: src.str("kind"), Namespace: meta.ID.Namespace, Name: src.str("name")},
		ReconcileStrategy:        orDefault(r.str("reconcileStrategy"), ReconcileStrategyChartVersion),
		ValuesFiles:              valuesFiles(r),
		IgnoreMissingValuesFiles: r.boolean("ignoreMissingValuesFiles"),
		Suspend:                  r.boolean("suspend"),
	}
}

// valuesFiles returns the deprecated valuesFile, if any, followed by
// valuesFiles: source-controller merges valuesFile first.
func valuesFiles(r reader) []string {
	files := r.strs("valuesFiles")
	if f := r.str("valuesFile"); f != "" {
		files = append([]string{f}, files...)
	}
	return files
}

func decodeBucket(meta Meta, r reader) *Bucket {
	return &Bucket{
		Meta:          meta,
		Endpoint:      r.str("endpoint"),
		BucketName:    r.str("bucketName"),
		Prefix:        r.str("prefix"),
		Region:        r.str("region"),
		Insecure:      r.boolean("insecure"),
		SecretRef:     r.obj("secretRef").str("name"),
		CertSecretRef: r.obj("certSecretRef").str("name"),
		Timeout:       r.duration("timeout", DefaultSourceTimeout),
		Suspend:       r.boolean("suspend"),
		Ignore:        r.optStr("ignore"),
	}
}
