package syncrun

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/install"
)

// refuseReserved fails a render that holds gitsync's own objects of any
// sync (install.Reserved): another sync's spec, CronJob, ServiceAccount,
// RBAC, state ConfigMaps or Lease, or a workload running as a sync's
// ServiceAccount. Otherwise a tenant's repository could rewrite a more
// privileged sync's spec and take over its rights. resolved[i] is objs[i]
// resolved (it names the object with its namespace); files names the file
// of each object, when known; hooks says the objects are a chart's hooks.
// Every render a run or Render makes passes through it before anything is
// applied; spec.manageGitsync (the bootstrap's root sync) lifts it.
func (r *runner) refuseReserved(objs []*unstructured.Unstructured, resolved []apply.Target, files map[*unstructured.Unstructured]string, hooks bool) error {
	if r.sync.Spec.ManageGitsync {
		return nil
	}
	var errs []error
	for i, o := range objs {
		reason, reserved := install.Reserved(o)
		if !reserved {
			continue
		}
		where := resolved[i].ID.String()
		switch file := files[o]; {
		case hooks && file != "":
			where += " (Helm hook, " + file + ")"
		case hooks:
			where += " (Helm hook)"
		case file != "":
			where += " (" + file + ")"
		}
		errs = append(errs, fmt.Errorf("%s: %s", where, reason))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("the render holds gitsync's own objects, which a sync's source may not write (spec.manageGitsync allows it, for a sync that manages gitsync itself); nothing was applied:\n%w", errors.Join(errs...))
}

// renderedFiles maps each object of rnd to the file it came from: the
// kustomize render's sources, a chart's template and CRD files.
func renderedFiles(rnd *rendering) map[*unstructured.Unstructured]string {
	files := make(map[*unstructured.Unstructured]string, len(rnd.objects))
	for i, o := range rnd.objects {
		if i < len(rnd.sources) {
			files[o] = rnd.sources[i]
		}
	}
	if c := rnd.chart; c != nil {
		for i, o := range c.Objects {
			if i < len(c.Sources) {
				files[o] = c.Sources[i]
			}
		}
		for i, o := range c.CRDs {
			if i < len(c.CRDSources) {
				files[o] = c.CRDSources[i]
			}
		}
	}
	return files
}
