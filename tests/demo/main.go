// Command demo is `make demo`: it starts the local test cluster (with a node
// that runs Pods) and a local Git server, publishes a sample application,
// installs a sync for it with `kubectl gitsync install`, runs it, shows its
// status, and keeps everything up until Ctrl-C so you can try the plugin.
// With -exit it stops after the status instead (a smoke check).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/gitsync/gitsync/pkg/cli"
	"github.com/gitsync/gitsync/tests/cluster"
	"github.com/gitsync/gitsync/tests/gitserver"
)

const (
	namespace = "gitsync-demo"
	image     = "gitsync.local/sync-job:demo"
)

func main() {
	exit := flag.Bool("exit", false, "stop after showing the status instead of waiting for Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

// sample is the application the demo syncs: a ConfigMap, and a Deployment
// and Service running the node's pause image.
func sample(greeting string) map[string]string {
	return map[string]string{
		"deploy/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: " + greeting + "\n",
		"deploy/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 1
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
      - name: hello
        image: ` + cluster.PauseImage + `
        imagePullPolicy: Never
        securityContext:
          runAsNonRoot: true
          runAsUser: 65532
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: {app: hello}
  ports:
  - port: 80
`,
	}
}

func run(ctx context.Context, exit bool) (err error) {
	start := time.Now()
	step("starting the local cluster (etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet, kube-proxy)")
	env, err := cluster.Start(ctx, cluster.Options{Node: true})
	if err != nil {
		return err
	}
	defer func() {
		// On standard error: after Ctrl-C on `make demo | tee demo.log`,
		// standard output leads nowhere (tee got the SIGINT too), and the
		// terminal still shows standard error. The teardown itself does
		// not depend on either (cluster.Start makes a closed pipe harmless).
		fmt.Fprintln(os.Stderr, "\n==> stopping the cluster and the Git server")
		err = errors.Join(err, env.Stop())
	}()
	fmt.Printf("cluster ready in %.1fs\n", env.StartupTime().Seconds())

	step("starting a local Git server and publishing a sample application")
	git, err := gitserver.Start(ctx, gitserver.Options{ListenIP: env.HostIP()})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, git.Close()) }()
	repo, err := git.CreateRepo(ctx, "hello")
	if err != nil {
		return err
	}
	if _, err := repo.Commit(ctx, "hello v1", sample("hello from git")); err != nil {
		return err
	}
	fmt.Println("repository:", git.HTTPURL("hello"))

	step("building the sync-job image and importing it into the node")
	if err := env.BuildImage(ctx, "./cmd/sync-job", image); err != nil {
		return err
	}
	if _, err := env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}

	gitsync := func(args ...string) error {
		fmt.Printf("$ kubectl gitsync %s\n", strings.Join(args, " "))
		cmd := cli.NewRootCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stdout})
		cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath(), "-n", namespace))
		return cmd.ExecuteContext(ctx)
	}
	step("installing the sync")
	if err := gitsync("install", "hello", "--url", git.HTTPURL("hello"), "--insecure", "--branch", "main",
		"--path", "./deploy", "--interval", "5m", "--image", image); err != nil {
		return err
	}
	step("running it now (a Job from the sync's CronJob, on the node)")
	if err := gitsync("run", "hello"); err != nil {
		return err
	}
	step("its status")
	if err := gitsync("status", "hello"); err != nil {
		return err
	}
	fmt.Printf("\ndemo ready in %.0fs\n", time.Since(start).Seconds())
	if exit {
		return nil
	}

	root, _ := cluster.RepoRoot()
	fmt.Printf(`
The cluster and the Git server stay up until you press Ctrl-C. In another shell:

  export KUBECONFIG=%s
  export PATH=%s:$PATH          # after 'make build'
  kubectl get all,configmaps -n %s
  kubectl gitsync status -n %s
  kubectl gitsync history hello -n %s
  kubectl gitsync tree hello -n %s

  # change the application in Git and sync it now:
  git clone %s /tmp/hello && cd /tmp/hello
  sed -i 's/hello from git/hello again/' deploy/config.yaml
  git -c user.name=you -c user.email=you@example.com commit -am 'say hello again' && git push
  kubectl gitsync run hello -n %s
`, env.KubeconfigPath(), filepath.Join(root, "bin"), namespace, namespace, namespace, namespace, git.HTTPURL("hello"), namespace)
	<-ctx.Done()
	return nil
}
