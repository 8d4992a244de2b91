// Package flux reads Flux's own objects out of a rendered set so that a run
// can execute them, with no Flux CRD and no Flux controller in the cluster:
// Kustomizations and HelmReleases become units of the run, and the
// GitRepository, OCIRepository, HelmRepository, HelmChart and Bucket objects
// they name become the sources those units read.
//
// The package is pure logic; nothing in it talks to a cluster:
//
//   - Decode turns one rendered object (any API version Flux serves or
//     existing repositories still use) into a version-independent Go type
//     with Flux's defaults applied. It is strict: every field of every kind
//     is mapped, accepted and ignored with a documented reason (it does not
//     apply to a tool that runs to completion), or refused with an error
//     naming the object and the field. Unknown fields are errors too.
//     schema.go holds that treatment; docs/flux.md's field tables are
//     generated from it.
//   - Graph links units to their sources and to their dependsOn, across
//     namespaces and nesting levels, and finds cycles and missing objects.
//   - Schedule runs the units of a Graph with bounded concurrency, each
//     after its dependencies succeeded, adding the Flux objects a unit
//     renders (app of apps) to the same graph while it runs.
//   - FindInstallation separates Flux's own installation (what `flux
//     bootstrap` writes) from the rest of a rendered set.
//   - StateName names the ConfigMaps that hold a unit's inventory and
//     history.
//
// The Flux API modules are not imported: they pull in controller-runtime,
// which sync-job does not need. The types here use Flux's JSON field names
// and were written from Flux's API definitions (source-controller,
// kustomize-controller and helm-controller api/ directories).
package flux
