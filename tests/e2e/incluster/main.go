// Command incluster is the end-to-end tests' probe of Pod networking: from
// inside a Pod it reaches the apiserver through the kubernetes Service with
// rest.InClusterConfig, as sync-job does, and prints the address it used and
// the identity the apiserver saw. Each argument is a URL it then fetches,
// printing the status and body: tests check that Pods reach servers bound to
// the cluster's HostIP.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("incluster: host=%s user=%s\n", cfg.Host, review.Status.UserInfo.Username)
	for _, url := range os.Args[1:] {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Printf("get %s: %d %s\n", url, resp.StatusCode, body)
	}
	return nil
}
