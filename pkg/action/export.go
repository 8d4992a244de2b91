package action

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
)

// ExportOptions select the syncs Export reads.
type ExportOptions struct {
	// Refs name the syncs, in order. Ignored when All is set.
	Refs []Ref
	// All exports every sync of Namespace ("" for all namespaces).
	All bool
	// Namespace is the namespace All lists. Default "": all namespaces.
	Namespace string
}

// ExportedSync is one sync read back from the cluster, in the forms install
// takes: its Sync document, and the install options (image, RBAC mode,
// extra rules) its live objects show, so that installing Sync with Install
// changes nothing.
type ExportedSync struct {
	// Sync is the spec, as its ConfigMap holds it.
	Sync *spec.Sync
	// Install are the options of the install that wrote the live objects.
	Install install.Options
	// Objects are install.Generate(Sync, Install): the install --export
	// form.
	Objects *install.Objects
}

// Export reads syncs back from the cluster: the spec from the spec
// ConfigMap, the image from the CronJob's sync-job container, the RBAC mode
// from its --scope, and the extra rules of the applying Role. A sync whose
// spec ConfigMap is missing or invalid is an error naming it: export never
// makes up a spec. A CronJob or Role edited by hand so that install could
// not have written it is an error too.
func Export(ctx context.Context, cfg *Config, opts ExportOptions) ([]ExportedSync, error) {
	refs := opts.Refs
	if opts.All {
		syncs, err := ListSyncs(ctx, cfg, ListOptions{Namespace: opts.Namespace})
		if err != nil {
			return nil, err
		}
		refs = nil
		for _, s := range syncs {
			refs = append(refs, s.Ref)
		}
	}
	out := make([]ExportedSync, 0, len(refs))
	for _, ref := range refs {
		e, err := exportOne(ctx, cfg, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, nil
}

func exportOne(ctx context.Context, cfg *Config, ref Ref) (*ExportedSync, error) {
	s, err := GetSync(ctx, cfg, ref)
	if err != nil {
		return nil, err
	}
	if s.Spec == nil {
		return nil, fmt.Errorf("sync %s: %w", ref, s.SpecErr)
	}
	e := &ExportedSync{Sync: s.Spec}
	if s.CronJob != nil {
		c := install.SyncJobContainer(&s.CronJob.Spec.JobTemplate.Spec.Template.Spec)
		if c == nil {
			return nil, fmt.Errorf("CronJob/%s/%s: no container %s", ref.Namespace, s.CronJob.Name, install.ContainerName)
		}
		e.Install.Image = c.Image
		args, err := jobargs.Parse(c.Args)
		if err != nil {
			return nil, fmt.Errorf("CronJob/%s/%s: %w", ref.Namespace, s.CronJob.Name, err)
		}
		e.Install.RBAC = install.RBACMode(args.Scope)
		if args.Scope == "" {
			e.Install.RBAC = install.RBACMode(jobargs.DefaultScope)
		}
	}
	if e.Install.RBAC == install.RBACNamespace || e.Install.RBAC == "" {
		if e.Install.ExtraRules, err = extraRules(ctx, cfg, s.Spec); err != nil {
			return nil, err
		}
	}
	if e.Objects, err = install.Generate(s.Spec, e.Install); err != nil {
		return nil, fmt.Errorf("sync %s: %w", ref, err)
	}
	return e, nil
}

// extraRules returns the rules of the live applying Role beyond those
// install writes by default (install --rbac-extra-rule). A missing Role has
// none.
func extraRules(ctx context.Context, cfg *Config, s *spec.Sync) ([]rbacv1.PolicyRule, error) {
	target := install.TargetNamespace(s)
	name := names.Applier(s.Namespace, s.Name)
	live, err := cfg.Client.RbacV1().Roles(target).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("Role/%s/%s: get: %w", target, name, err) //nolint:staticcheck // the message starts with the object's Kind
	}
	def, err := install.Generate(s, install.Options{Image: install.DefaultImage()})
	if err != nil {
		return nil, fmt.Errorf("sync %s/%s: %w", s.Namespace, s.Name, err)
	}
	var base []rbacv1.PolicyRule
	for _, r := range def.Roles {
		if r.Name == name {
			base = r.Rules
		}
	}
	if len(live.Rules) < len(base) || !equality.Semantic.DeepEqual(live.Rules[:len(base)], base) {
		return nil, fmt.Errorf("Role/%s/%s: its rules are not those install writes (edited by hand?): export cannot tell the --rbac-extra-rule flags", target, name) //nolint:staticcheck // the message starts with the object's Kind
	}
	return slices.Clone(live.Rules[len(base):]), nil
}
