package syncrun

import (
	"encoding/base64"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What a run masks (docs/security.md, "Secret values"): every value of
// every Secret it reads (substituteFrom, valuesFrom, source credentials
// and verification keys, decryption keys, notification providers, the
// kubeconfig of a remote cluster), every value SOPS decrypted while
// rendering (render.Options.Secrets), and the data of every Secret the
// render holds (objects and Helm hooks). An API server's validation error
// quotes the value it refuses, a substitution or a template error its
// input: masking them where the run reports — its log (the handler
// newRunner installs), its Result, the record, history, Events and
// notifications — keeps them out of all of them, whatever stage wrote
// the message.

// noteRenderedSecrets adds the data of the Secrets of a render to the
// values the run masks: stringData values, and data values both decoded
// and as written (base64).
func (r *runner) noteRenderedSecrets(rnd *rendering) {
	for _, o := range rnd.objects {
		r.noteSecretObject(o)
	}
	if rnd.chart != nil {
		for _, h := range rnd.chart.Hooks {
			r.noteSecretObject(h.Object)
		}
	}
}

func (r *runner) noteSecretObject(o *unstructured.Unstructured) {
	if o == nil || o.GetKind() != "Secret" || o.GetAPIVersion() != "v1" {
		return
	}
	if data, ok := o.Object["stringData"].(map[string]any); ok {
		for _, v := range data {
			if s, ok := v.(string); ok {
				r.secrets.Add(s)
			}
		}
	}
	if data, ok := o.Object["data"].(map[string]any); ok {
		for _, v := range data {
			s, ok := v.(string)
			if !ok {
				continue
			}
			r.secrets.Add(s)
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				r.secrets.Add(string(b))
			}
		}
	}
}

// maskResult masks the secret values in what res and its units report.
func (r *runner) maskResult(res *Result) {
	if res == nil {
		return
	}
	res.Message = r.secrets.Text(res.Message)
	res.Err = r.secrets.Error(res.Err)
	for i := range res.Units {
		u := &res.Units[i]
		u.Message = r.secrets.Text(u.Message)
		u.Err = r.secrets.Error(u.Err)
	}
}
