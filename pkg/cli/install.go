package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v4/pkg/strvals"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/spec"
)

// installOptions are the options of `kubectl gitsync install`.
type installOptions struct {
	// Name is the sync's name: the argument, or metadata.name of the
	// Sync document.
	Name string
	// Namespace is the sync's namespace: --namespace, else the Sync
	// document's, else the kubeconfig context's.
	Namespace string

	// Filename is a Sync document to install, "-" for stdin. The spec
	// flags cannot be combined with it. Default none.
	Filename string

	// URL, Branch, Tag, SemVer, Commit, RefName, Secret, Insecure and
	// GitTimeout set spec.source.git (--url, --branch ...). Without a ref
	// flag the spec has no ref: the sync follows the remote's HEAD.
	URL, Branch, Tag, SemVer, Commit, RefName, Secret string
	// Helm chart flags.
	HelmRepo, Chart, ChartVersion, ChartPath, ReleaseName string
	ValuesFiles, SetValues                                []string
	// Insecure sets spec.source.git.insecure.
	Insecure bool
	// GitTimeout sets spec.source.git.timeout; 0 leaves the default.
	GitTimeout time.Duration
	// Path and Schedule set spec.path and spec.schedule.
	Path, Schedule string
	// Interval sets spec.schedule through install.ScheduleForInterval.
	Interval time.Duration
	// Suspend sets spec.suspend.
	Suspend bool
	// TargetNamespace sets spec.targetNamespace.
	TargetNamespace string
	// Prune sets spec.prune; default true, as the spec's.
	Prune bool
	// AllowEmpty, Force and Wait set spec.allowEmpty, spec.force and
	// spec.wait.
	AllowEmpty, Force, Wait bool
	// Timeout sets spec.timeout; 0 leaves the default.
	Timeout time.Duration
	// RunTimeout sets spec.runTimeout; 0 leaves the default.
	RunTimeout time.Duration
	// DependsOn sets spec.dependsOn: [NAMESPACE/]NAME of syncs this one
	// depends on (install_dependson.go).
	DependsOn []string

	// Image is the sync-job image. Default install.DefaultImage().
	Image string
	// RBAC is the RBAC mode, "namespace" (default) or "cluster".
	RBAC string
	// RBACExtraRules are RESOURCE[.GROUP][:VERB,...] rules added to the
	// applying Role in namespace mode. Default none.
	RBACExtraRules []string
	// ServiceAccount sets spec.serviceAccountName (install_tenancy.go).
	ServiceAccount string
	// Export prints the objects instead of applying them.
	Export bool
	// Output is the format of Export: "yaml" (default) or "json".
	Output string
	// RunNow (--run) starts a first run at once, as a Job made from the
	// CronJob.
	RunNow bool
	// sourceFlags are the flags of OCI, bucket and Git extras
	// (install_sources.go).
	sourceFlags
	// notifyFlags set spec.notify and spec.metrics (install_notify.go).
	notifyFlags

	configFlags *genericclioptions.ConfigFlags
	// changed are the spec flags given on the command line.
	changed []string
	// namespaceFlag tells whether --namespace was given.
	namespaceFlag bool
	// document is the Sync document of Filename, read by Complete.
	document []byte
	// valuesFiles are the contents of ValuesFiles, in order, read by
	// Complete.
	valuesFiles [][]byte
	// objects are what Validate generated and Run writes.
	objects *install.Objects
	// FluxSecrets are --flux-secret: spec.flux.readSecrets.
	FluxSecrets []string

	// imageNote is what Run says about spec.imageUpdate (images.go).
	imageNote string
	// sync and genOpts are what Validate generated the objects from, for
	// Run to generate them again under the namespace's lockdown
	// (install_tenancy.go).
	sync    *spec.Sync
	genOpts install.Options

	genericiooptions.IOStreams
}

// specFlags returns the flags that set spec fields, and the field path each
// sets, so that a spec error is reported against the flag that caused it.
// Listed longest path first within a prefix, so the first match is the most
// specific.
func specFlags() []struct{ flag, path string } {
	return append([]struct{ flag, path string }{
		{"url", "spec.source.git.url"},
		{"insecure", "spec.source.git.insecure"},
		{"branch", "spec.source.git.ref.branch"},
		{"tag", "spec.source.git.ref.tag"},
		{"semver", "spec.source.git.ref.semver"},
		{"commit", "spec.source.git.ref.commit"},
		{"ref-name", "spec.source.git.ref.name"},
		{"secret", "spec.source.git.secretRef"},
		{"git-timeout", "spec.source.git.timeout"},
		{"path", "spec.path"},
		{"schedule", "spec.schedule"},
		{"interval", "spec.schedule"},
		{"suspend", "spec.suspend"},
		{"target-namespace", "spec.targetNamespace"},
		{"prune", "spec.prune"},
		{"allow-empty", "spec.allowEmpty"},
		{"force", "spec.force"},
		{"wait", "spec.wait"},
		{"timeout", "spec.timeout"},
		{"run-timeout", "spec.runTimeout"},
		{"depends-on", "spec.dependsOn"},
		{"helm-repo", "spec.source.helm.url"},
		{"chart", "spec.source.helm.chart"},
		{"chart-version", "spec.source.helm.version"},
		{"chart-path", "spec.path"},
		{"release-name", "spec.helm.releaseName"},
		{"values", "spec.helm.values"},
		{"set", "spec.helm.values"},
		{"flux-secret", "spec.flux.readSecrets"},
	}, append(sourceSpecFlags(), notifySpecFlags...)...)
}

// newInstallCommand returns the `install` command. flags are the root's
// kubeconfig flags.
func newInstallCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &installOptions{configFlags: flags, IOStreams: streams, Prune: spec.DefaultPrune}
	cmd := &cobra.Command{
		Use:   "install NAME --url URL [flags] | install [NAME] -f SYNC.yaml",
		Short: "Create or update a sync: its spec, ServiceAccount, RBAC and CronJob",
		Long: `Create or update the sync NAME in the current namespace: the ConfigMap gitsync-NAME holding the Sync spec
(key sync.yaml), the ServiceAccount gitsync-NAME, its RBAC, and the CronJob gitsync-NAME that runs
"sync-job --sync NAME" on the sync's schedule. Everything is server-side applied with the field manager
kubectl-gitsync, so running install again with other flags updates the sync.

The spec comes from flags or from a Sync document (-f); the two cannot be mixed. It is validated before
anything is written. Without a ref flag the sync follows the remote's default branch: the branch its HEAD
names, resolved at every run and recorded in the revision (main@sha1:...).

--interval turns a Flux-style interval into a cron schedule. Only intervals cron can repeat exactly are
accepted: divisors of an hour (1m 2m 3m 4m 5m 6m 10m 12m 15m 20m 30m) or of a day (1h 2h 3h 4h 6h 8h 12h),
24h and 168h. The minute (and hour, weekday) within the interval is derived from the sync's namespace and
name, so that syncs do not all start at the same moment. Without --schedule or --interval: every 5 minutes.

RBAC (--rbac):
  namespace (default)  The sync applies only namespaced objects, in its target namespace (--target-namespace,
                       else its own). Role gitsync:NS:NAME there grants get, list, create, update, patch and
                       delete on configmaps, persistentvolumeclaims, secrets, serviceaccounts, services,
                       deployments, statefulsets, daemonsets, jobs, cronjobs, horizontalpodautoscalers,
                       ingresses, networkpolicies, poddisruptionbudgets, roles and rolebindings: no wildcard.
                       Add more with --rbac-extra-rule. Role gitsync-NAME in the sync's namespace grants what a
                       run needs for itself: ConfigMaps (spec, inventory, history), its Lease, Events, and get
                       on the Secrets the spec names. A tenant with admin rights in those namespaces can
                       install this mode. sync-job runs with --scope=namespace and refuses a render holding
                       cluster-scoped objects or objects of other namespaces before applying anything.
  cluster              ClusterRole gitsync:NS:NAME grants every verb on every resource: the sync may apply
                       anything, CRDs and RBAC included, which makes its ServiceAccount as powerful as
                       cluster-admin. Only a cluster admin can install it. Without -n the sync goes into
                       namespace gitsync-system (created if missing), out of tenants' reach; elsewhere
                       install warns that anyone with write rights in that namespace is cluster-admin.
Switching mode or target namespace deletes the RBAC objects the previous install made. When that narrows
the sync's scope (cluster to namespace, or another target namespace), the next run orphans the objects it
applied outside the new scope: left in place, no longer tracked, named in its record and an Orphaned Event.

Sources other than Git (--url): a Helm repository (--helm-repo), an OCI artifact (--oci-url, with --oci-tag,
--oci-semver or --oci-digest) or an S3-compatible bucket (--bucket-endpoint and --bucket-name). --secret and
--insecure apply to whichever is chosen; --verify-secret-ref verifies Git signatures (--verify-mode) or cosign
signatures of an artifact (--verify-provider); --ignore adds ignore rules to a Git, OCI or bucket source. The
Role reads exactly the Secrets these flags name.

--export prints the objects (YAML, or a JSON List with -o json) instead of applying them; no cluster is
contacted. --run starts the first run at once (a Job made from the CronJob, as kubectl create job --from).`,
		Example: `  # Sync ./deploy of a repository's default branch every 5 minutes into the current namespace
  kubectl gitsync install web --url https://github.com/example/web --path ./deploy

  # Follow release tags, every hour, into namespace apps; start a first run now
  kubectl gitsync install web -n team-a --url https://github.com/example/web --semver '>=1.0.0 <2' \
    --interval 1h --target-namespace apps --run

  # Install from a Sync document; print the manifests instead of applying them
  kubectl gitsync install -f sync.yaml --export > gitsync-web.yaml

  # Also let the sync manage Prometheus ServiceMonitors
  kubectl gitsync install web --url https://github.com/example/web \
    --rbac-extra-rule servicemonitors.monitoring.coreos.com`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVarP(&o.Filename, "filename", "f", "", "Sync document to install (- for stdin); excludes the spec flags")
	f.StringVar(&o.URL, "url", "", "Git repository URL: https://..., ssh://... or [user@]host:path (spec.source.git.url)")
	f.StringVar(&o.Branch, "branch", "", "branch to sync (spec.source.git.ref.branch; without a ref flag: the remote's default branch, what its HEAD names)")
	f.StringVar(&o.Tag, "tag", "", "tag to sync (spec.source.git.ref.tag)")
	f.StringVar(&o.SemVer, "semver", "", "semver range; the highest matching tag is synced (spec.source.git.ref.semver)")
	f.StringVar(&o.Commit, "commit", "", "full commit SHA-1 to sync, alone or with --branch (spec.source.git.ref.commit)")
	f.StringVar(&o.RefName, "ref-name", "", "full reference such as refs/pull/1/head, or HEAD for the remote's default branch (spec.source.git.ref.name)")
	f.StringVar(&o.Secret, "secret", "", "Secret in the sync's namespace with the source's credentials (spec.source.<kind>.secretRef.name)")
	f.BoolVar(&o.Insecure, "insecure", false, "allow plain HTTP: an http:// URL, an oci:// registry or a bucket endpoint without TLS (spec.source.<kind>.insecure)")
	f.DurationVar(&o.GitTimeout, "git-timeout", 0, "bound on each Git operation (spec.source.git.timeout; default 60s)")
	f.StringVar(&o.HelmRepo, "helm-repo", "", "Helm chart repository: https://... (index.yaml) or oci://... (spec.source.helm.url); instead of --url")
	f.StringVar(&o.Chart, "chart", "", "chart name in --helm-repo (spec.source.helm.chart)")
	f.StringVar(&o.ChartVersion, "chart-version", "", `chart version or semver range; the highest match wins (spec.source.helm.version; default "*")`)
	f.StringVar(&o.ChartPath, "chart-path", "", "directory of a chart in the Git repository of --url (spec.path, with spec.helm)")
	f.StringVar(&o.ReleaseName, "release-name", "", "Helm release name (spec.helm.releaseName; default NAME)")
	f.StringArrayVar(&o.ValuesFiles, "values", nil, "YAML file of Helm values, merged in order into spec.helm.values (repeatable)")
	f.StringArrayVar(&o.SetValues, "set", nil, "Helm value as key=value, helm --set syntax, applied after --values (repeatable)")
	f.StringVar(&o.Path, "path", "", "directory in the repository with a kustomization or plain YAML (spec.path; default the root)")
	f.StringVar(&o.Schedule, "schedule", "", `cron schedule of the runs (spec.schedule; default "*/5 * * * *")`)
	f.DurationVar(&o.Interval, "interval", 0, "run every interval, turned into a cron schedule (see above); excludes --schedule")
	f.BoolVar(&o.Suspend, "suspend", false, "install suspended: no scheduled runs (spec.suspend)")
	f.StringVar(&o.TargetNamespace, "target-namespace", "", "namespace of every namespaced object applied (spec.targetNamespace); namespace mode grants rights only there, by default in the sync's namespace")
	f.BoolVar(&o.Prune, "prune", spec.DefaultPrune, "delete objects removed from the repository (spec.prune)")
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "let an empty render prune everything (spec.allowEmpty)")
	f.BoolVar(&o.Force, "force", false, "recreate objects whose immutable fields changed (spec.force)")
	f.BoolVar(&o.Wait, "wait", false, "wait for every applied object to become ready (spec.wait)")
	f.StringArrayVar(&o.DependsOn, "depends-on", nil, dependsOnUsage)
	f.DurationVar(&o.Timeout, "timeout", 0, "bound on apply, prune and health checks of a run (spec.timeout; default 5m)")
	f.DurationVar(&o.RunTimeout, "run-timeout", 0, "bound on a whole run, the Flux units of its tree included: the Job's activeDeadlineSeconds (spec.runTimeout; default and minimum: --timeout plus the source's timeouts plus 2m)")
	f.StringVar(&o.Image, "image", "", "sync-job image (default "+install.DefaultImage()+")")
	f.StringVar(&o.RBAC, "rbac", string(install.RBACNamespace), "RBAC mode: namespace or cluster (see above)")
	f.StringArrayVar(&o.FluxSecrets, "flux-secret", nil, "Secret of the sync's namespace that its Flux objects read (a source's secretRef, substituteFrom, valuesFrom): the job may get it (spec.flux.readSecrets; repeatable)")
	f.StringArrayVar(&o.RBACExtraRules, "rbac-extra-rule", nil, "RESOURCE[.GROUP][:VERB,...] to grant in namespace mode (repeatable; default verbs get,list,create,update,patch,delete)")
	f.StringVar(&o.ServiceAccount, "service-account", "", serviceAccountUsage)
	f.BoolVar(&o.Export, "export", false, "print the objects instead of applying them")
	f.StringVarP(&o.Output, "output", "o", "", "format of --export: yaml (default) or json")
	f.BoolVar(&o.RunNow, "run", false, "start a first run now, as a Job made from the CronJob")
	o.addSourceFlags(f)
	o.notifyFlags.addFlags(f)
	return cmd
}

// Complete reads the argument, which spec flags were given, the namespace
// of the kubeconfig context, and the files the flags name (the Sync
// document, --values), so that Validate needs no I/O.
func (o *installOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Name = args[0]
	}
	for _, sf := range specFlags() {
		if cmd.Flags().Changed(sf.flag) && !slices.Contains(o.changed, sf.flag) {
			o.changed = append(o.changed, sf.flag)
		}
	}
	var err error
	if o.Namespace, o.namespaceFlag, err = namespaceOf(o.configFlags); err != nil {
		return err
	}
	if !o.namespaceFlag && install.RBACMode(o.RBAC) == install.RBACCluster {
		// Out of tenants' reach unless -n says otherwise (docs/security.md).
		o.Namespace = install.ClusterNamespace
	}
	switch o.Filename {
	case "":
	case "-":
		o.document, err = io.ReadAll(o.In)
	default:
		o.document, err = os.ReadFile(o.Filename)
	}
	if err != nil {
		return fmt.Errorf("--filename: %w", err)
	}
	for _, file := range o.ValuesFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--values: %w", err)
		}
		o.valuesFiles = append(o.valuesFiles, data)
	}
	return nil
}

// Validate checks the flags, builds the spec from the flags or the Sync
// document, validates it as sync-job will read it, and generates the
// objects Run writes. Nothing is written; every error names its flag, or
// the document and the field path.
func (o *installOptions) Validate() error {
	if err := o.validateInstallFlags(); err != nil {
		return err
	}
	var (
		s   *spec.Sync
		err error
	)
	if o.Filename != "" {
		s, err = o.syncFromFile()
	} else {
		s, err = o.syncFromFlags()
	}
	if err != nil {
		return err
	}
	if err := o.setServiceAccount(s); err != nil {
		return err
	}
	opts := install.Options{Image: o.Image, RBAC: install.RBACMode(o.RBAC)}
	for _, r := range o.RBACExtraRules {
		rule, err := install.ParseRule(r)
		if err != nil {
			return fmt.Errorf("--rbac-extra-rule: %w", err)
		}
		opts.ExtraRules = append(opts.ExtraRules, rule)
	}
	o.imageNote = imageUpdateNote(s)
	o.sync, o.genOpts = s, opts
	o.objects, err = install.Generate(s, opts)
	if err != nil {
		if o.Filename != "" {
			return specError(err, o.Filename, nil)
		}
		return specError(err, "", flagForPath)
	}
	return nil
}

func (o *installOptions) validateInstallFlags() error {
	switch {
	case o.Output != "" && !o.Export:
		return errors.New("--output: only with --export")
	case o.Output != "" && o.Output != install.FormatYAML && o.Output != install.FormatJSON:
		return fmt.Errorf("--output: must be yaml or json, not %q", o.Output)
	case o.RunNow && o.Export:
		return errors.New("--run: cannot be combined with --export, which writes nothing")
	case !slices.Contains(install.RBACModes(), install.RBACMode(o.RBAC)):
		return fmt.Errorf("--rbac: must be namespace or cluster, not %q", o.RBAC)
	case len(o.RBACExtraRules) > 0 && install.RBACMode(o.RBAC) != install.RBACNamespace:
		return fmt.Errorf("--rbac-extra-rule: only with --rbac=namespace; --rbac=%s grants every verb on every resource already", o.RBAC)
	}
	if o.Image != "" {
		if _, err := install.PullPolicy(o.Image); err != nil {
			return fmt.Errorf("--image: %w", err)
		}
	}
	return nil
}

// syncFromFile reads the Sync document; its name and namespace must agree
// with the argument and --namespace when those are given.
func (o *installOptions) syncFromFile() (*spec.Sync, error) {
	if len(o.changed) > 0 {
		return nil, fmt.Errorf("--%s: cannot be combined with --filename: the Sync document is the whole spec",
			strings.Join(o.changed, ", --"))
	}
	s, err := spec.Parse(o.document)
	if err != nil {
		return nil, specError(err, o.Filename, nil)
	}
	if o.Name != "" && o.Name != s.Name {
		return nil, fmt.Errorf("NAME: %q, but %s names the sync %q", o.Name, o.Filename, s.Name)
	}
	o.Name = s.Name
	switch {
	case s.Namespace == "":
		s.Namespace = o.Namespace
	case o.namespaceFlag && s.Namespace != o.Namespace:
		return nil, fmt.Errorf("--namespace: %q, but %s puts the sync in namespace %q", o.Namespace, o.Filename, s.Namespace)
	}
	o.Namespace = s.Namespace
	return s, nil
}

// syncFromFlags builds the spec from the spec flags.
func (o *installOptions) syncFromFlags() (*spec.Sync, error) {
	if o.Name == "" {
		return nil, errors.New("NAME: required: kubectl gitsync install NAME --url URL, or give a Sync document with -f")
	}
	kind, err := o.sourceKindFlag()
	if err != nil {
		return nil, err
	}
	if err := o.checkSourceFlags(kind); err != nil {
		return nil, err
	}
	switch {
	case o.HelmRepo == "" && (o.Chart != "" || o.ChartVersion != ""):
		return nil, errors.New("--chart, --chart-version: only with --helm-repo (a chart in Git: --chart-path)")
	case o.ChartPath != "" && o.Path != "":
		return nil, errors.New("--chart-path: cannot be combined with --path")
	}
	values, err := o.helmValues()
	if err != nil {
		return nil, err
	}
	ociChart := o.OCILayerOperation == spec.OCILayerCopy
	helmSync := o.HelmRepo != "" || o.ChartPath != "" || o.ReleaseName != "" || values != nil || ociChart
	if helmSync && o.HelmRepo == "" && o.ChartPath == "" && !ociChart {
		return nil, errors.New("--values, --set, --release-name: only for a chart (--helm-repo, --oci-layer-operation copy, or --url with --chart-path)")
	}
	var refs []string
	for _, r := range []struct{ flag, value string }{
		{"branch", o.Branch}, {"tag", o.Tag}, {"semver", o.SemVer}, {"ref-name", o.RefName}, {"commit", o.Commit},
	} {
		if r.value != "" {
			refs = append(refs, "--"+r.flag)
		}
	}
	if kind != "url" && len(refs) > 0 {
		return nil, fmt.Errorf("%s: Git ref flags do not apply to --%s (%s)", strings.Join(refs, ", "), kind, map[string]string{
			"helm-repo": "use --chart-version", "oci-url": "use --oci-tag, --oci-semver or --oci-digest", "bucket-endpoint": "a bucket has no refs",
		}[kind])
	}
	if len(refs) > 1 && !(len(refs) == 2 && o.Branch != "" && o.Commit != "") {
		return nil, fmt.Errorf("%s: give one ref flag (only --commit may be combined with --branch)", strings.Join(refs, ", "))
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"git-timeout", o.GitTimeout}, {"timeout", o.Timeout}, {"run-timeout", o.RunTimeout}} {
		if slices.Contains(o.changed, d.flag) && d.value <= 0 {
			return nil, fmt.Errorf("--%s: must be positive, not %s", d.flag, d.value)
		}
	}
	schedule := o.Schedule
	if slices.Contains(o.changed, "interval") {
		if slices.Contains(o.changed, "schedule") {
			return nil, errors.New("--interval: cannot be combined with --schedule")
		}
		var err error
		if schedule, err = install.ScheduleForInterval(o.Interval, o.Namespace+"/"+o.Name); err != nil {
			return nil, fmt.Errorf("--interval: %w", err)
		}
	}

	s := spec.New(o.Name, o.Namespace)
	git := &spec.GitSource{
		URL:      o.URL,
		Insecure: o.Insecure,
		Provider: o.Provider,
		Ref:      spec.GitRef{Branch: o.Branch, Tag: o.Tag, SemVer: o.SemVer, Name: o.RefName, Commit: o.Commit},
	}
	if o.Secret != "" {
		git.SecretRef = &spec.LocalObjectReference{Name: o.Secret}
	}
	if o.GitTimeout > 0 {
		git.Timeout = spec.NewDuration(o.GitTimeout)
	}
	if err := o.gitExtras(git); err != nil {
		return nil, err
	}
	src := spec.Source{Git: git}
	path := o.Path
	switch kind {
	case "helm-repo":
		hs := &spec.HelmSource{URL: o.HelmRepo, Chart: o.Chart, Version: o.ChartVersion, Insecure: o.Insecure}
		if o.Secret != "" {
			hs.SecretRef = &spec.LocalObjectReference{Name: o.Secret}
		}
		src = spec.Source{Helm: hs}
	case "oci-url":
		src = spec.Source{OCI: o.ociSource()}
	case "bucket-endpoint":
		src = spec.Source{Bucket: o.bucketSource()}
	}
	if o.ChartPath != "" {
		path = o.ChartPath
	}
	s.Spec = spec.SyncSpec{
		Source:          src,
		Path:            path,
		Schedule:        schedule,
		Suspend:         o.Suspend,
		TargetNamespace: o.TargetNamespace,
		Prune:           &o.Prune,
		AllowEmpty:      o.AllowEmpty,
		Force:           o.Force,
		Wait:            o.Wait,
	}
	if o.Timeout > 0 {
		s.Spec.Timeout = spec.NewDuration(o.Timeout)
	}
	if o.RunTimeout > 0 {
		s.Spec.RunTimeout = spec.NewDuration(o.RunTimeout)
	}
	if s.Spec.DependsOn, err = parseDependsOn(o.DependsOn); err != nil {
		return nil, err
	}
	if helmSync {
		s.Spec.Helm = &spec.HelmSpec{ReleaseName: o.ReleaseName, Values: values}
	}
	if len(o.FluxSecrets) > 0 {
		if s.Spec.Flux == nil {
			s.Spec.Flux = &spec.FluxSpec{}
		}
		s.Spec.Flux.ReadSecrets = o.FluxSecrets
	}
	if err := o.notifyFlags.apply(s); err != nil {
		return nil, err
	}
	return s, nil
}

// helmValues merges the --values files in order, then the --set values, as
// helm install does; nil when neither flag was given.
func (o *installOptions) helmValues() (map[string]any, error) {
	if len(o.ValuesFiles) == 0 && len(o.SetValues) == 0 {
		return nil, nil
	}
	values := map[string]any{}
	for i, data := range o.valuesFiles {
		file := o.ValuesFiles[i]
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("--values: %s: not a YAML mapping: %w", file, err)
		}
		mergeMaps(values, m)
	}
	for _, kv := range o.SetValues {
		if err := strvals.ParseInto(kv, values); err != nil {
			return nil, fmt.Errorf("--set %s: %w", kv, err)
		}
	}
	return values, nil
}

// mergeMaps merges src into dst deeply: mappings merge key by key, any
// other value replaces.
func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// flagForPath returns the flag (or argument) that sets the spec field at
// path, or "".
func flagForPath(path string) string {
	switch {
	case path == "metadata.name":
		return "NAME"
	case path == "metadata.namespace":
		return "--namespace"
	case path == "spec.source.git.ref":
		return "--branch/--tag/--semver/--ref-name/--commit"
	}
	for _, sf := range specFlags() {
		if path == sf.path || strings.HasPrefix(path, sf.path+".") || strings.HasPrefix(path, sf.path+"[") {
			if sf.flag == "interval" {
				continue // spec.schedule: reported as --schedule, the flag that writes it
			}
			return "--" + sf.flag
		}
	}
	return ""
}

// specError formats a spec validation error: one line per field error,
// each prefixed by the flag that set the field (when flag finds one) or by
// the file.
func specError(err error, file string, flag func(string) string) error {
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		if file != "" {
			return fmt.Errorf("%s: %w", file, err)
		}
		return err
	}
	var lines []string
	for _, e := range agg.Errors() {
		var fe *field.Error
		prefix := file
		if errors.As(e, &fe) && flag != nil {
			if f := flag(fe.Field); f != "" {
				prefix = f
			}
		}
		if prefix != "" {
			lines = append(lines, prefix+": "+e.Error())
		} else {
			lines = append(lines, e.Error())
		}
	}
	if len(lines) == 1 {
		return errors.New(lines[0])
	}
	return fmt.Errorf("invalid Sync (%d errors):\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Run prints the objects (--export) or applies them, deletes the RBAC
// objects of an earlier install that are no longer wanted, and starts a
// first run if asked.
func (o *installOptions) Run(ctx context.Context) error {
	if w := install.ClusterModeWarning(install.RBACMode(o.RBAC), o.Namespace); w != "" {
		fmt.Fprintln(o.ErrOut, w)
	}
	if o.Export {
		format := o.Output
		if format == "" {
			format = install.FormatYAML
		}
		data, err := install.Marshal(o.objects.List(), format)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(data)
		return err
	}
	cfg, err := actionConfig(ctx, o.configFlags)
	if err != nil {
		return err
	}
	if err := o.applyLockdown(ctx, cfg); err != nil {
		return err
	}
	res, err := action.Install(ctx, cfg, action.InstallOptions{Objects: o.objects, RunNow: o.RunNow})
	if res.CreatedNamespace != "" {
		fmt.Fprintf(o.Out, "Namespace/%s created\n", res.CreatedNamespace)
	}
	for _, id := range res.Applied {
		fmt.Fprintf(o.Out, "%s applied\n", id)
	}
	if res.UnpinnedRevision != "" {
		fmt.Fprintf(o.Out, "rollback pin to %s cleared: the sync follows Git again\n", res.UnpinnedRevision)
	}
	for _, id := range res.Deleted {
		fmt.Fprintf(o.Out, "%s deleted (no longer granted)\n", id)
	}
	if len(res.Deleted) > 0 && install.RBACMode(o.RBAC) == install.RBACNamespace {
		fmt.Fprintln(o.ErrOut, "note: the sync's scope changed: its next run leaves the objects it applied outside the new scope in place and stops tracking them (orphaned, named in its record and an Orphaned Event); to delete them, delete them by hand, or uninstall --prune before installing again")
	}
	for _, d := range res.MissingDependencies {
		fmt.Fprintf(o.ErrOut, "note: sync %s (spec.dependsOn) is not installed: runs of %s/%s apply nothing until it has applied its latest revision\n", d, o.Namespace, o.Name)
	}
	if res.Job != nil {
		fmt.Fprintf(o.Out, "Job.batch/%s/%s created\n", res.Job.Namespace, res.Job.Name)
	}
	if res.Guard != nil && res.CronJob != nil {
		fmt.Fprintf(o.ErrOut, "note: the job guard (ValidatingAdmissionPolicy %s, which keeps every sync's ServiceAccount off its own spec, CronJob and RBAC) is not in place: %v; a cluster administrator installs it with any kubectl gitsync install (docs/security.md)\n",
			install.GuardName, res.Guard)
	}
	if err != nil {
		return err
	}
	state := fmt.Sprintf("runs on schedule %q", res.CronJob.Spec.Schedule)
	if res.CronJob.Spec.Suspend != nil && *res.CronJob.Spec.Suspend {
		state = "suspended"
	}
	_, err = fmt.Fprintf(o.Out, "sync %s/%s installed: %s\n%s", o.Namespace, o.Name, state, o.imageNote)
	return err
}
