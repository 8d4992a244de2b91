package install

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/jobargs"
	"github.com/gitsync/gitsync/pkg/names"
	"github.com/gitsync/gitsync/pkg/spec"
	"github.com/gitsync/gitsync/pkg/version"
)

// ImageRepository is the repository of the default sync-job image.
const ImageRepository = "ghcr.io/gitsync/sync-job"

// The CronJob's fixed settings.
const (
	// StartingDeadlineSeconds: a run that could not start within five
	// minutes of its schedule (controller down, previous run still going) is
	// skipped rather than started late, and at most one late run starts, so
	// missed schedules never pile up. It also keeps a sync window: a run
	// scheduled at 17:55 does not start at 19:00.
	StartingDeadlineSeconds = 300
	// JobsHistoryLimit finished Jobs (and their Pods' logs) of each outcome
	// are kept; the run history itself is in the history ConfigMaps.
	JobsHistoryLimit = 3
	// DeadlineMargin is added to a run's budget (spec.timeout for apply,
	// prune and health checks, plus the source's timeout for each of its
	// Resolve and Fetch) for Pod start, image pull, render and record.
	DeadlineMargin = 2 * time.Minute
	// UserID is the user and group sync-job runs as (the image's user).
	UserID = 65532
	// WorkDir is the emptyDir sync-job fetches into; the root filesystem is
	// read-only.
	WorkDir = "/tmp"
	// ContainerName is the name of the sync-job container.
	ContainerName = "sync-job"
)

// Resources of the sync-job container, sized from what `make bench`
// measured (docs/benchmarks.md): peak RSS 54.5 MiB for 1,000 objects (of
// which 38 MiB are the binary's own, reclaimable pages), 114 MiB for 10,000,
// and 86 MiB resolving a chart in a 30 MB Helm index. The request covers the
// common case; the limit leaves room for the large ones. No CPU limit: a run
// is short, and throttling it only makes it hold its Lease longer.
const (
	// CPURequest is the container's CPU request; there is no CPU limit.
	CPURequest = "100m"
	// MemoryRequest is the container's memory request.
	MemoryRequest = "64Mi"
	// MemoryLimit is the container's memory limit.
	MemoryLimit = "256Mi"
	// WorkDirSizeLimit caps the emptyDir at WorkDir.
	WorkDirSizeLimit = "1Gi"
)

// DefaultImage returns the sync-job image of this plugin's version:
// ghcr.io/gitsync/sync-job:<version.Version>.
func DefaultImage() string { return ImageRepository + ":" + version.Version }

// PullPolicy returns the pull policy Kubernetes would default image to
// (Always for :latest or no tag, else IfNotPresent), written out so that the
// CronJob says what happens. It fails on a malformed image reference.
func PullPolicy(image string) (corev1.PullPolicy, error) {
	if _, err := name.ParseReference(image); err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent, nil
	}
	// A tag follows the last ':' after the last '/'; a ':' before it is a
	// registry port.
	last := image[strings.LastIndex(image, "/")+1:]
	tag := ""
	if i := strings.LastIndex(last, ":"); i >= 0 {
		tag = last[i+1:]
	}
	if tag == "" || tag == "latest" {
		return corev1.PullAlways, nil
	}
	return corev1.PullIfNotPresent, nil
}

// ActiveDeadline returns how long one run's Job may take: spec.timeout
// (and the chart's tests' timeout, spec.HelmTestTimeout) plus the source's
// fetch budget (spec.Source.FetchBudget: its timeout for each
// of Resolve and Fetch, of every kind, with a Git source's includes and
// submodules) plus DeadlineMargin. Past it the Job controller stops the Pod
// (SIGTERM), which sync-job records as interrupted; within it a slow
// source fails on its own timeout first, with a message that says so.
// spec.runTimeout raises it, for a sync whose Flux units need longer.
func ActiveDeadline(s *spec.Sync) time.Duration {
	d := spec.DefaultTimeout
	if s.Spec.Timeout != nil {
		d = s.Spec.Timeout.Duration
	}
	d += s.Spec.HelmTestTimeout() + s.Spec.Source.FetchBudget() + DeadlineMargin
	if s.Spec.RunTimeout != nil {
		d = max(d, s.Spec.RunTimeout.Duration)
	}
	return d
}

// JobArgs returns the sync-job arguments of the sync named sync in mode.
// The scope is the mode: --scope=namespace tells sync-job to refuse, before
// applying anything, a render with cluster-scoped objects or objects outside
// the target namespace, which the Role would refuse one by one, half-way
// through an apply.
func JobArgs(sync string, mode RBACMode) jobargs.Args {
	return jobargs.Args{Sync: sync, Scope: string(mode), WorkDir: WorkDir}
}

// Args returns JobArgs(sync, mode) as the CronJob's container carries them.
func Args(sync string, mode RBACMode) []string { return JobArgs(sync, mode).Argv() }

func cronJob(s *spec.Sync, opts Options) (*batchv1.CronJob, error) {
	policy, err := PullPolicy(opts.Image)
	if err != nil {
		return nil, err
	}
	ns, sync := s.Namespace, s.Name
	tmpLimit := resource.MustParse(WorkDirSizeLimit)
	pod := corev1.PodSpec{
		ServiceAccountName:           names.ServiceAccount(sync),
		AutomountServiceAccountToken: ptr.To(true), // sync-job talks to the API server
		RestartPolicy:                corev1.RestartPolicyNever,
		// Service environment variables are of no use to sync-job and can
		// be many in a busy namespace.
		EnableServiceLinks: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](UserID),
			RunAsGroup:     ptr.To[int64](UserID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            ContainerName,
			Image:           opts.Image,
			ImagePullPolicy: policy,
			Args:            Args(sync, opts.RBAC),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse(CPURequest),
					corev1.ResourceMemory: resource.MustParse(MemoryRequest),
				},
				// No CPU limit: throttling would only stretch a run.
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(MemoryLimit)},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: WorkDir}},
			// A failed run's last log lines show in kubectl describe.
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
		Volumes: []corev1.Volume{{
			Name:         "tmp",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpLimit}},
		}},
	}
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJob"},
		ObjectMeta: meta(ns, sync, ns, names.CronJob(sync)),
		Spec: batchv1.CronJobSpec{
			Schedule:                   s.Spec.Schedule,
			Suspend:                    ptr.To(s.Spec.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To[int64](StartingDeadlineSeconds),
			SuccessfulJobsHistoryLimit: ptr.To[int32](JobsHistoryLimit),
			FailedJobsHistoryLimit:     ptr.To[int32](JobsHistoryLimit),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(ns, sync)},
				Spec: batchv1.JobSpec{
					// A failed run is recorded; the next schedule retries.
					BackoffLimit:          ptr.To[int32](0),
					ActiveDeadlineSeconds: ptr.To(int64(ActiveDeadline(s) / time.Second)),
					// No ttlSecondsAfterFinished: the history limits already
					// bound the Jobs, and a TTL would delete the logs of the
					// last failed run before anyone reads them.
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: Labels(ns, sync)},
						Spec:       pod,
					},
				},
			},
		},
	}, nil
}

// AnnotationInstantiate marks a Job created from a CronJob by hand, as
// `kubectl create job --from=cronjob/...` does.
const AnnotationInstantiate = "cronjob.kubernetes.io/instantiate"

// JobFromCronJob returns a Job that runs cj's job template now: the
// template's labels, annotations and spec, the annotation
// AnnotationInstantiate=manual, and cj as controlling owner, so that the
// CronJob's concurrency policy and history limits count it and deleting the
// CronJob deletes it. An empty name asks the API server to generate one
// from cj's name. cj must have been read from the cluster (its UID is
// needed); it is not modified.
func JobFromCronJob(cj *batchv1.CronJob, name string) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := maps.Clone(tmpl.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationInstantiate] = "manual"
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			Labels:      maps.Clone(tmpl.Labels),
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         batchv1.SchemeGroupVersion.String(),
				Kind:               "CronJob",
				Name:               cj.Name,
				UID:                cj.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: tmpl.Spec,
	}
	if name == "" {
		job.GenerateName = cj.Name + "-"
	}
	return job
}

// SyncJobContainer returns the sync-job container of pod (the CronJob's Job
// template, or the Pod of a run): the one named ContainerName, else the only
// container; nil when there is neither. Everything that reads the container
// (its arguments, its log, its state) finds it here.
func SyncJobContainer(pod *corev1.PodSpec) *corev1.Container {
	for i := range pod.Containers {
		if pod.Containers[i].Name == ContainerName {
			return &pod.Containers[i]
		}
	}
	if len(pod.Containers) == 1 {
		return &pod.Containers[0]
	}
	return nil
}
