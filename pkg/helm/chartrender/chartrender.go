// Package chartrender is the contract between pkg/helm and the code that
// runs the Helm SDK: the chart stage of a render (load the chart, coalesce
// and check the values, run the templates) takes a Request and gives a
// Result or an error. pkg/helm/sdk implements it in the process;
// pkg/helm/helmexec runs it in a child process (cmd/sync-job-helm), so that
// sync-job does not link the Helm SDK. pkg/helm does the rest of a render
// (hooks, post-renderers, validation, sorting, digest) on the Result.
//
// The package imports nothing of Helm, Kubernetes or kustomize: both the
// parent and the child link it.
package chartrender

import (
	"context"
	"errors"
)

// Request is what the chart stage renders. Field meanings are those of
// pkg/helm's RenderOptions of the same names.
type Request struct {
	// ChartPath is a packaged chart (.tgz) or a chart directory, already
	// on disk (and confined to its source by the caller).
	ChartPath   string `json:"chartPath"`
	ReleaseName string `json:"releaseName"`
	// Namespace is .Release.Namespace, already defaulted.
	Namespace string `json:"namespace"`
	// Revision is .Release.Revision, already defaulted.
	Revision  int  `json:"revision"`
	IsUpgrade bool `json:"isUpgrade,omitempty"`
	// Values are the user-supplied values.
	Values                   map[string]any `json:"values,omitempty"`
	ValuesFiles              []string       `json:"valuesFiles,omitempty"`
	IgnoreMissingValuesFiles bool           `json:"ignoreMissingValuesFiles,omitempty"`
	// DecryptionKeys are the entries of the decryption Secret
	// (sops.ParseKeys' input) for SOPS-encrypted ValuesFiles; nil: none.
	// They are secret: never log a Request.
	DecryptionKeys          map[string][]byte `json:"decryptionKeys,omitempty"`
	KubeVersion             string            `json:"kubeVersion,omitempty"`
	APIVersions             []string          `json:"apiVersions,omitempty"`
	DisableSchemaValidation bool              `json:"disableSchemaValidation,omitempty"`
	// SkipCRDs leaves the crds/ directories out of the Result.
	SkipCRDs bool `json:"skipCRDs,omitempty"`
}

// File is a file of the chart or of its rendering, named by its path in
// the chart with the chart's name first, e.g. "app/templates/cm.yaml".
type File struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// Result is what the templates rendered.
type Result struct {
	// Chart, Version and AppVersion describe the top-level chart.
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
	// Files are the rendered templates of the chart and its subcharts,
	// NOTES.txt files left out, sorted by name.
	Files []File `json:"files"`
	// Notes is the rendered NOTES.txt of the top-level chart.
	Notes string `json:"notes,omitempty"`
	// CRDs are the files of the crds/ directories of the chart and its
	// enabled subcharts, as Helm lists them (none with SkipCRDs).
	CRDs []File `json:"crds,omitempty"`
	// Revealed are the values SOPS decryption of ValuesFiles revealed,
	// for the caller to mask wherever it reports (redact.Secrets). They
	// are secret: never log a Result.
	Revealed []string `json:"revealed,omitempty"`
}

// Renderer runs the chart stage.
type Renderer interface {
	RenderChart(ctx context.Context, req *Request) (*Result, error)
}

// The errors a Renderer wraps, so that callers can branch on them in
// either process (their text is that of pkg/helm's and pkg/render's errors
// of the same meaning, which pkg/helm maps them onto).
var (
	// ErrInvalidChart: the chart cannot be rendered as it is.
	ErrInvalidChart = errors.New("invalid chart")
	// ErrInvalidOptions: the request cannot be used as given (release
	// name, KubeVersion).
	ErrInvalidOptions = errors.New("invalid options")
	// ErrDecryptionRequired: a values file is SOPS-encrypted and there
	// are no keys.
	ErrDecryptionRequired = errors.New("decryption required: SOPS-encrypted, and no decryption is configured")
)

// Kinds name the errors above (and the context's) on the wire between the
// processes.
var Kinds = map[string]error{
	"InvalidChart":       ErrInvalidChart,
	"InvalidOptions":     ErrInvalidOptions,
	"DecryptionRequired": ErrDecryptionRequired,
	"Canceled":           context.Canceled,
	"DeadlineExceeded":   context.DeadlineExceeded,
}
