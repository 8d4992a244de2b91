// Package helm is gitsync's stage for Helm charts: it finds and downloads a
// chart (Resolve, Fetch) from an HTTP(S) repository with an index.yaml or
// from an OCI registry, and renders a chart (Render) with the Helm v4 SDK
// into the objects, CRDs and hooks the apply stage applies. It knows
// nothing of the Sync spec or of the cluster: pkg/source/fromspec maps the
// spec onto ChartSource (NewSource makes it a source.Source, with
// credentials from source.CredentialsFromSecret), the orchestrator maps it
// onto RenderOptions, reads valuesFrom objects (ValuesSource,
// MergeValues), and asks the cluster for its capabilities
// (ClusterCapabilities).
//
// # Sources and revisions
//
// Resolve selects the highest version satisfying a Masterminds/semver/v3
// constraint (an exact version is a constraint too) without downloading
// the chart. The revision follows Flux: the chart version for an HTTP
// repository, "<version>@sha256:<manifest digest>" for OCI. An HTTP index
// is read once per Resolve as a stream, keeping only the wanted chart's
// entries (see index.go): a 30 MB index costs a few MB of memory. Nothing
// is cached between calls, so nothing can go stale.
//
// Fetch downloads exactly what Resolve selected, size-capped: for HTTP the
// URL of the index entry, verified against the index's digest; for OCI the
// manifest by digest, then its chart layer, verified against the
// manifest. Credentials go to the repository URL's scheme, host and port
// only, on the first request and on redirects, unless PassCredentials says
// otherwise; a redirect from https to http is refused. Plain HTTP needs
// Insecure, also for OCI registries on private addresses, where
// go-containerregistry would otherwise fall back to it silently. Errors
// name URLs redacted (pkg/redact).
//
// # Rendering
//
// This package does not link the Helm SDK (only its strvals parser): the
// chart stage of Render (chart loader, values, schema, template engine) is
// a chartrender.Renderer the binary sets with UseRenderer — pkg/helm/sdk in
// process, or pkg/helm/helmexec, which runs cmd/sync-job-helm as a child
// process (sync-job). The rest (hooks, post-renderers, validation, digest)
// is here, the same for both.
//
// Render is `helm template` with the cluster's capabilities, and nothing
// else: no cluster or network access (lookup returns nothing, DNS functions
// are off, values.schema.json may not refer outside itself), dependencies
// only from the chart's charts/ directory (each dependency of Chart.yaml
// must be there in a matching version), panics turned into errors. The
// result is validated and sorted by pkg/render, which also applies the
// kustomize post-renderers, so errors name the template file. Hooks are
// returned separately with their events, weights and delete policies, in
// the order Helm runs them; docs/helm.md says what the orchestrator does
// with them.
package helm
