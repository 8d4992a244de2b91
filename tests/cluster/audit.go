package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// auditPolicy logs every request once, when its response is complete,
// with its user, impersonated user, verb and object, without bodies.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted, Panic]
rules:
- level: Metadata
`

// auditArgs writes the audit policy and returns kube-apiserver's audit
// flags, when Options.AuditLog is set.
func (c *Cluster) auditArgs() ([]string, error) {
	if !c.opts.AuditLog {
		return nil, nil
	}
	policy := c.path("audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	// The log backend's default mode is blocking: an event is written
	// before the response is sent, so a test reads every request it made.
	return []string{"--audit-policy-file=" + policy, "--audit-log-path=" + c.AuditLogPath(), "--audit-log-format=json"}, nil
}

// AuditLogPath is the file of kube-apiserver's audit log (Options.AuditLog).
func (c *Cluster) AuditLogPath() string { return c.path("audit.log") }

// AuditEvent is what a test reads of one audit log entry.
type AuditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		APIGroup  string `json:"apiGroup"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// AuditEvents returns the audit log's entries so far (Options.AuditLog).
func (c *Cluster) AuditEvents() ([]AuditEvent, error) {
	if !c.opts.AuditLog {
		return nil, fmt.Errorf("the cluster was started without Options.AuditLog")
	}
	f, err := os.Open(c.AuditLogPath())
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s: %w", c.AuditLogPath(), err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
