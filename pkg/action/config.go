package action

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/gitsync/gitsync/pkg/kube/kubeclientset"
	"github.com/gitsync/gitsync/pkg/retry"
)

// Config is the cluster an operation works on. Build it with NewConfig.
type Config struct {
	// REST reaches the cluster; operations that need more than Client (the
	// apply engine, a render, a local run) build their clients from it.
	REST *rest.Config
	// Client is a clientset for REST; gitsync's engine packages take it as
	// their kube.Interface.
	Client kubeclientset.Clientset
	// Now is the clock of ages and next runs. Default time.Now.
	Now func() time.Time

	meta metadata.Interface
}

// NewConfig returns a Config for the cluster rc points to. Every client of
// it retries transient API faults as a run's do (pkg/retry); rc itself is
// not changed.
func NewConfig(rc *rest.Config) (*Config, error) {
	rc = rest.CopyConfig(rc)
	retry.Wrap(rc, retry.Options{})
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return &Config{REST: rc, Client: kubeclientset.FromClientset(client)}, nil
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// metadata returns a metadata client, which reads and deletes objects of any
// kind without a typed client.
func (c *Config) metadata() (metadata.Interface, error) {
	if c.meta == nil {
		m, err := metadata.NewForConfig(c.REST)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		c.meta = m
	}
	return c.meta, nil
}

// Ref names one sync.
type Ref struct {
	// Name is the sync's name. Required.
	Name string
	// Namespace is the sync's namespace. Required.
	Namespace string
}

// String returns "namespace/name", as messages name a sync.
func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// Progress is told what an operation that waits sees, as it sees it. Both
// methods are called from the goroutine running the operation.
type Progress interface {
	// Event reports, in one line, something that happened (a Job created,
	// a Pod scheduled).
	Event(msg string)
	// Status says what the operation waits for now; "" when it is not
	// waiting for anything in particular.
	Status(msg string)
}

// NoProgress is a Progress that ignores everything: the default.
type NoProgress struct{}

// Event ignores msg.
func (NoProgress) Event(string) {}

// Status ignores msg.
func (NoProgress) Status(string) {}

func progressOr(p Progress) Progress {
	if p == nil {
		return NoProgress{}
	}
	return p
}
