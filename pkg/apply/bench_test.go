package apply

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync/gitsync/pkg/object"
)

// mixed1000 renders 1,000 objects of seven common kinds into ns.
func mixed1000(t testing.TB, ns string) []*unstructured.Unstructured {
	var b strings.Builder
	for i := range 143 {
		fmt.Fprintf(&b, `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-%[1]d
data:
  config.yaml: |
    replicas: %[1]d
    name: app-%[1]d
---
apiVersion: v1
kind: Secret
metadata:
  name: secret-%[1]d
stringData:
  password: p-%[1]d
---
apiVersion: v1
kind: Service
metadata:
  name: svc-%[1]d
spec:
  clusterIP: None
  selector:
    app: app-%[1]d
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa-%[1]d
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: role-%[1]d
rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [cm-%[1]d]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb-%[1]d
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-%[1]d}
subjects:
- kind: ServiceAccount
  name: sa-%[1]d
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
spec:
  replicas: 0
  selector:
    matchLabels: {app: app-%[1]d}
  template:
    metadata:
      labels: {app: app-%[1]d}
    spec:
      serviceAccountName: sa-%[1]d
      containers:
      - name: app
        image: example.invalid/app:%[1]d
        ports:
        - containerPort: 8080
---
`, i)
	}
	out := objs(t, ns, b.String())
	// Subjects need a namespace too.
	for _, u := range out {
		if u.GetKind() == "RoleBinding" {
			subjects, _, _ := unstructured.NestedSlice(u.Object, "subjects")
			subjects[0].(map[string]any)["namespace"] = ns
			_ = unstructured.SetNestedSlice(u.Object, subjects, "subjects")
		}
	}
	return out[:1000]
}

// BenchmarkApply1000 applies 1,000 mixed objects to an empty namespace
// (cold), then again (unchanged: every object sent), then again with the
// fingerprints of the previous apply (recorded: nothing sent), at several
// concurrencies, and reports the three times per run.
func BenchmarkApply1000(b *testing.B) {
	for _, conc := range []int{4, 8, 16, 32} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			e, requests := newEngine(b, nil)
			var cold, unchanged, recorded time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				ns := env.NewNamespace(b)
				in := mixed1000(b, ns)
				opts := Options{Labels: testLabels(ns), Concurrency: conc}
				requests.reset()
				b.StartTimer()

				begin, cpu0, self0 := time.Now(), clusterCPU(b), selfCPU()
				cs, err := e.Apply(b.Context(), in, opts)
				cold += time.Since(begin)
				coldCPU, coldSelf := clusterCPU(b)-cpu0, selfCPU()-self0
				if err != nil || cs.Err() != nil {
					b.Fatalf("cold apply: %v %v", err, cs.Err())
				}
				if got := cs.Counts()[Created]; got != 1000 {
					b.Fatalf("cold apply: %v", cs.Counts())
				}
				coldRequests := len(requests.requests())

				requests.reset()
				begin, cpu0 = time.Now(), clusterCPU(b)
				cs, err = e.Apply(b.Context(), in, opts)
				unchanged += time.Since(begin)
				unchangedCPU := clusterCPU(b) - cpu0
				if err != nil || cs.Err() != nil {
					b.Fatalf("unchanged apply: %v %v", err, cs.Err())
				}
				unchangedRequests := len(requests.requests())
				unchangedCounts := cs.Counts()

				opts.Fingerprints = map[object.ID]string{}
				for _, c := range cs.Changes {
					opts.Fingerprints[c.ID] = c.Fingerprint
				}
				requests.reset()
				begin = time.Now()
				cs, err = e.Apply(b.Context(), in, opts)
				recorded += time.Since(begin)
				if err != nil || cs.Err() != nil || cs.Counts()[Unchanged] != 1000 {
					b.Fatalf("recorded apply: %v %v %v", err, cs.Err(), cs.Counts())
				}
				b.Logf("concurrency %d: cold %d requests, cluster %.1f CPU-s, client %.2f CPU-s; unchanged %d requests, cluster %.1f CPU-s, %v; recorded %d requests",
					conc, coldRequests, coldCPU.Seconds(), coldSelf.Seconds(), unchangedRequests, unchangedCPU.Seconds(), unchangedCounts, len(requests.requests()))
				n++
			}
			b.ReportMetric(cold.Seconds()/float64(n), "cold-s/op")
			b.ReportMetric(unchanged.Seconds()/float64(n), "unchanged-s/op")
			b.ReportMetric(recorded.Seconds()/float64(n), "recorded-s/op")
		})
	}
}

// clusterCPU returns the CPU time the cluster's processes (kube-apiserver,
// etcd, kube-controller-manager) have used so far: a measure of the work an
// apply causes that does not depend on what else the machine is doing.
func clusterCPU(b *testing.B) time.Duration {
	var total time.Duration
	for _, pid := range env.PIDs() {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name (which may hold spaces): utime and
		// stime are the 12th and 13th, in clock ticks (100 per second here).
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.Atoi(fields[11])
		stime, _ := strconv.Atoi(fields[12])
		total += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return total
}

// selfCPU returns the CPU time this test process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
