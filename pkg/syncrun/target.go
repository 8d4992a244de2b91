package syncrun

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gitsync/gitsync/pkg/apply"
	"github.com/gitsync/gitsync/pkg/flux"
	"github.com/gitsync/gitsync/pkg/kube"
	"github.com/gitsync/gitsync/pkg/retry"
	"github.com/gitsync/gitsync/pkg/spec"
)

// The seam between a run's two identities. The spec, the Secrets it names,
// the state ConfigMaps, the Lease and the Events are read and written with
// the run's own config (runner.client). Every request for the sync's
// objects — apply, prune, drift LISTs, health checks, Helm hooks and the
// cluster capabilities a chart renders with — goes through a destination:
// the run's own cluster and identity by default; with serviceAccountName
// the same cluster as that ServiceAccount (impersonation); with kubeConfig
// another cluster, again as the ServiceAccount when one is named.

// destinationRef says where a unit's objects go: the spec fields
// serviceAccountName and kubeConfig of the sync or of a Flux unit, with the
// namespace they are relative to.
type destinationRef struct {
	// namespace holds the ServiceAccount and the kubeconfig Secret: the
	// sync's namespace, or a Flux unit's own.
	namespace string
	// serviceAccount is impersonated; "" keeps the run's identity.
	serviceAccount string
	// kubeConfig selects another cluster; nil keeps the run's.
	kubeConfig *spec.KubeConfigReference
	// field is the spec path of these fields in errors: "spec" for the
	// sync, the Flux object's id for a unit.
	field string
}

func (d destinationRef) key() string {
	k := d.namespace + "\x00" + d.serviceAccount
	if kc := d.kubeConfig; kc != nil && kc.SecretRef != nil {
		k += "\x00" + kc.SecretRef.Name + "\x00" + kc.SecretRef.Key
	}
	return k
}

// destination is the cluster and identity a unit's objects are read and
// written with.
type destination struct {
	// cfg builds the clients for the objects (hooks, capabilities).
	cfg *rest.Config
	// engine applies, prunes, checks drift and waits.
	engine *apply.Engine
	// server is the API server's address; remote is set for a kubeConfig.
	server string
	remote bool
	// user is the impersonated user name, "" for the run's own identity.
	user string
}

// destinations caches one destination per destinationRef for a run: units
// with the same ServiceAccount and cluster share their clients and the
// RESTMapper's discovery.
type destinations struct {
	mu   sync.Mutex
	byID map[string]*destination
	// retries count the retried requests to other clusters: their
	// configs are not built from the run's, which runner.retries counts.
	retries []*retry.Counter
	// callerOnly makes every destination the caller's own cluster and
	// identity: Render (build, diff) writes nothing, resolves kinds and
	// reads capabilities as the plugin's user, who need not be allowed
	// to impersonate, and diff compares with the sync's own cluster.
	callerOnly bool
}

// destinationFor returns the destination of ref, building it on first use.
func (r *runner) destinationFor(ctx context.Context, ref destinationRef) (*destination, error) {
	if r.dests.callerOnly {
		ref = destinationRef{}
	}
	r.dests.mu.Lock()
	defer r.dests.mu.Unlock()
	if d, ok := r.dests.byID[ref.key()]; ok {
		return d, nil
	}
	if ref.serviceAccount == "" && ref.kubeConfig == nil {
		d := &destination{cfg: r.cfg, engine: r.engine, server: r.cfg.Host}
		r.dests.put(ref.key(), d)
		return d, nil
	}
	d := &destination{cfg: rest.CopyConfig(r.cfg), server: r.cfg.Host}
	if ref.kubeConfig != nil {
		cfg, err := r.remoteConfig(ctx, ref)
		if err != nil {
			return nil, err
		}
		r.dests.retries = append(r.dests.retries, retry.Wrap(cfg, retry.Options{}))
		d.cfg, d.server, d.remote = cfg, serverAddress(cfg.Host), true
	}
	if ref.serviceAccount != "" {
		d.user = serviceAccountUser(ref.namespace, ref.serviceAccount)
		// Only the user: groups and extra would need impersonate rights
		// on groups, which the job's RBAC does not grant. The API server
		// adds the ServiceAccount's groups itself.
		d.cfg.Impersonate = rest.ImpersonationConfig{UserName: d.user}
		if err := checkImpersonation(ctx, d.cfg); err != nil {
			return nil, fmt.Errorf("%s.serviceAccountName: cannot act as %s: %w", ref.field, d.user, err)
		}
	}
	engine, err := apply.New(d.cfg, r.log)
	if err != nil {
		return nil, err
	}
	d.engine = engine
	r.dests.put(ref.key(), d)
	return d, nil
}

// checkImpersonation asks the API server who cfg is (a SelfSubjectReview,
// which any user may make and which stores nothing), so that a job that
// may not impersonate the ServiceAccount fails at once with the server's
// Forbidden, naming the verb and the ServiceAccount, rather than later
// with whatever its first request (API discovery) makes of it.
func checkImpersonation(ctx context.Context, cfg *rest.Config) error {
	c, err := kube.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = c.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	return err
}

func (ds *destinations) put(key string, d *destination) {
	if ds.byID == nil {
		ds.byID = map[string]*destination{}
	}
	ds.byID[key] = d
}

func (ds *destinations) retried() int64 {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var n int64
	for _, c := range ds.retries {
		n += c.Retries()
	}
	return n
}

// rootDestination is where the sync's own objects go.
func (r *runner) rootDestination(ctx context.Context) (*destination, error) {
	s := &r.sync.Spec
	return r.destinationFor(ctx, destinationRef{
		namespace: r.opts.Namespace, serviceAccount: s.ServiceAccountName, kubeConfig: s.KubeConfig, field: "spec",
	})
}

// remoteConfig reads the kubeconfig ref names, with the run's own
// identity, and returns the config of its current context. A kubeconfig
// comes from a Secret a tenant may write, so what would run a process or
// read a file of the job's Pod (the job's own token is one) is refused.
func (r *runner) remoteConfig(ctx context.Context, ref destinationRef) (*rest.Config, error) {
	sr := ref.kubeConfig.SecretRef
	field := ref.field + ".kubeConfig.secretRef"
	if sr == nil || sr.Name == "" {
		return nil, fmt.Errorf("%s: the Secret holding the kubeconfig is required", field)
	}
	sec, err := r.client.Secrets(ref.namespace).Get(ctx, sr.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s: Secret/%s/%s not found", field, ref.namespace, sr.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	where := fmt.Sprintf("%s: Secret/%s/%s", field, ref.namespace, sr.Name)
	keys := spec.DefaultKubeConfigKeys
	if sr.Key != "" {
		keys = []string{sr.Key}
	}
	var data []byte
	for _, k := range keys {
		if v, ok := sec.Data[k]; ok {
			data, where = v, where+" key "+k
			break
		}
	}
	if data == nil {
		return nil, fmt.Errorf("%s has no key %s", where, orList(keys))
	}
	kc, err := clientcmd.Load(data)
	if err != nil {
		// The parser's message may quote the Secret's content.
		return nil, fmt.Errorf("%s: not a valid kubeconfig", where)
	}
	// Its credentials are masked; its server, names and kind are what
	// messages and status name.
	for _, a := range kc.AuthInfos {
		r.secrets.Add(a.Token, a.Password, string(a.ClientKeyData))
	}
	if err := checkKubeConfig(kc); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	cfg.QPS, cfg.Burst = r.cfg.QPS, r.cfg.Burst
	cfg.Timeout = r.cfg.Timeout
	return cfg, nil
}

// checkKubeConfig refuses what a kubeconfig from a Secret must not do in
// the job's Pod: run a credential plugin (exec, auth-provider) or read a
// file (tokenFile, client certificate and key files, a CA file), which
// could be the job's own ServiceAccount token.
func checkKubeConfig(kc *clientcmdapi.Config) error {
	var errs []error
	for _, name := range sortedKeys(kc.AuthInfos) {
		a := kc.AuthInfos[name]
		at := fmt.Sprintf("users[%q]", name)
		if a.Exec != nil {
			errs = append(errs, fmt.Errorf("%s.user.exec: exec credential plugins are refused: no process is started from a kubeconfig in a Secret; use a token or client certificate", at))
		}
		if a.AuthProvider != nil {
			errs = append(errs, fmt.Errorf("%s.user.auth-provider: auth provider plugins are refused; use a token or client certificate", at))
		}
		for f, v := range map[string]string{"tokenFile": a.TokenFile, "client-certificate": a.ClientCertificate, "client-key": a.ClientKey} {
			if v != "" {
				errs = append(errs, fmt.Errorf("%s.user.%s: files are refused: the kubeconfig must hold its credentials inline (%s-data)", at, f, f))
			}
		}
	}
	for _, name := range sortedKeys(kc.Clusters) {
		if kc.Clusters[name].CertificateAuthority != "" {
			errs = append(errs, fmt.Errorf("clusters[%q].cluster.certificate-authority: files are refused: use certificate-authority-data", name))
		}
	}
	if kc.CurrentContext == "" {
		errs = append(errs, errors.New("current-context: not set"))
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func orList(keys []string) string {
	q := slices.Clone(keys)
	for i, k := range q {
		q[i] = fmt.Sprintf("%q", k)
	}
	if len(q) == 1 {
		return q[0]
	}
	return fmt.Sprintf("%s or %s", q[0], q[1])
}

// serviceAccountUser is the user name the API server gives ServiceAccount
// name of namespace ns.
func serviceAccountUser(ns, name string) string { return "system:serviceaccount:" + ns + ":" + name }

// fluxDestination is the destinationRef of a Flux unit: its
// serviceAccountName and kubeConfig are relative to its own namespace, as
// in Flux, and without either the namespace lockdown's default
// ServiceAccount applies, as Flux's --default-service-account does.
func (r *runner) fluxDestination(id flux.ID, serviceAccount string, kc *spec.KubeConfigReference) destinationRef {
	serviceAccount = r.lockdown.UnitServiceAccount(serviceAccount, kc != nil)
	return destinationRef{namespace: id.Namespace, serviceAccount: serviceAccount, kubeConfig: kc, field: id.String() + " spec"}
}

// serverAddress is host without user information, which a kubeconfig's
// server URL may carry and which must not reach the record.
func serverAddress(host string) string {
	u, err := url.Parse(host)
	if err != nil || u.User == nil {
		return host
	}
	u.User = nil
	return u.String()
}
