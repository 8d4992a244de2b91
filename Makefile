# gitsync — the Makefile is the contract: build, test, e2e, bench, lint, image, demo.
# Everything it needs it installs or builds itself (Debian packages with apt-get, the
# pinned Kubernetes binaries from the Go module proxy into a cache keyed by version).

SHELL := /bin/bash
.DEFAULT_GOAL := build

MODULE      := github.com/gitsync/gitsync
VERSION     ?= $(shell git describe --tags --match 'v*' 2>/dev/null || echo v0.0.0-$(COMMIT))
COMMIT      ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS     := -s -w -X $(MODULE)/pkg/version.Version=$(VERSION) -X $(MODULE)/pkg/version.Commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
GOOS        ?= $(shell go env GOOS)
GOARCH      ?= $(shell go env GOARCH)
BIN         := $(CURDIR)/bin
IMAGE_REPO  ?= ghcr.io/gitsync/sync-job
IMAGE_TAG   ?= $(VERSION)
IMAGE_TAR   ?= $(BIN)/sync-job-image.tar

# The test cluster's Kubernetes version is pinned in tests/testbin/go.mod; binaries are
# built once per pin into a cache outside the work tree (so fresh clones reuse it) and
# linked into .cache/testbin/<version> where the harness looks by default.
KUBE_VERSION  := $(shell awk '$$1=="k8s.io/kubernetes"{print $$2; exit}' tests/testbin/go.mod)
KUBE_MINOR    := $(word 2,$(subst ., ,$(KUBE_VERSION)))
TESTBIN_KEY   := $(shell cat tests/testbin/go.mod tests/testbin/go.sum | sha256sum | cut -c1-12)
TESTBIN_CACHE ?= $(HOME)/.cache/gitsync/testbin
TESTBIN_DIR   ?= $(TESTBIN_CACHE)/$(KUBE_VERSION)-$(TESTBIN_KEY)
TESTBIN_LINK  := $(CURDIR)/.cache/testbin/$(KUBE_VERSION)
KUBE_LDFLAGS  := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
                 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
                 -X k8s.io/component-base/version.gitTreeState=clean
KUBE_CMDS     := kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl

# The test S3 server (SeaweedFS) is pinned in tests/s3server/go.mod and built the same way.
S3SERVER_VERSION := $(shell awk '$$1=="require"{$$1=""; $$0=$$0} $$1=="github.com/seaweedfs/seaweedfs"{print $$2; exit}' tests/s3server/go.mod)
S3SERVER_KEY     := $(shell cat tests/s3server/go.mod tests/s3server/go.sum | sha256sum | cut -c1-12)
S3SERVER_CACHE   ?= $(HOME)/.cache/gitsync/s3server
S3SERVER_DIR     ?= $(S3SERVER_CACHE)/$(S3SERVER_VERSION)-$(S3SERVER_KEY)
S3SERVER_LINK    := $(CURDIR)/.cache/s3server/$(S3SERVER_VERSION)

# The test Pushgateway is pinned in tests/pushgateway/go.mod and built the same way.
PUSHGATEWAY_VERSION := $(shell awk '$$1=="require"{$$1=""; $$0=$$0} $$1=="github.com/prometheus/pushgateway"{print $$2; exit}' tests/pushgateway/go.mod)
PUSHGATEWAY_KEY     := $(shell cat tests/pushgateway/go.mod tests/pushgateway/go.sum | sha256sum | cut -c1-12)
PUSHGATEWAY_CACHE   ?= $(HOME)/.cache/gitsync/pushgateway
PUSHGATEWAY_DIR     ?= $(PUSHGATEWAY_CACHE)/$(PUSHGATEWAY_VERSION)-$(PUSHGATEWAY_KEY)
PUSHGATEWAY_LINK    := $(CURDIR)/.cache/pushgateway/$(PUSHGATEWAY_VERSION)

# Debian packages the tests need: the Git server runs real git; node mode runs containerd, runc, CNI, iptables.
DEB_PACKAGES  := git ca-certificates containerd runc containernetworking-plugins iptables conntrack iproute2
TEST_TIMEOUT  ?= 45m
# kustomize's own build is quadratic: the render benchmark compares with it up
# to this many objects (10000 takes about half an hour of CPU).
GITSYNC_BENCH_KUSTOMIZE_MAX ?= 2000
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint

export GITSYNC_TESTBIN := $(TESTBIN_DIR)
export GITSYNC_S3SERVER := $(S3SERVER_DIR)
export GITSYNC_PUSHGATEWAY := $(PUSHGATEWAY_DIR)


.PHONY: size
size: ## Print the binaries' sizes, sync-job's size by module, its init work and start-up time (no cluster).
	go run ./tests/bench -only size

.PHONY: build test unit fuzz e2e bench lint image dist demo testbin s3server pushgateway deps clean help

help: ## Show the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build kubectl-gitsync, sync-job and its child sync-job-helm (Helm render, Sigstore checks, CEL) as static binaries into bin/.
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/kubectl-gitsync ./cmd/sync-job ./cmd/sync-job-helm

deps: ## Install the Debian packages the tests need (apt-get, only what is missing).
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

testbin: $(TESTBIN_DIR)/.stamp ## Build the pinned etcd and Kubernetes binaries (cached per pin).
	@mkdir -p $(dir $(TESTBIN_LINK)) && ln -sfn $(TESTBIN_DIR) $(TESTBIN_LINK)

$(TESTBIN_DIR)/.stamp: | tests/testbin/go.mod tests/testbin/go.sum
	@echo "building Kubernetes $(KUBE_VERSION) and etcd into $(TESTBIN_DIR) (cold: ~6 min on 2 cores)"
	@mkdir -p $(TESTBIN_DIR).tmp
	cd tests/testbin && CGO_ENABLED=0 go build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $(TESTBIN_DIR).tmp/ $(addprefix k8s.io/kubernetes/cmd/,$(KUBE_CMDS))
	cd tests/testbin && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(TESTBIN_DIR).tmp/etcd go.etcd.io/etcd/server/v3
	@rm -rf $(TESTBIN_DIR) && mv $(TESTBIN_DIR).tmp $(TESTBIN_DIR) && touch $@

s3server: $(S3SERVER_DIR)/.stamp ## Build the pinned S3 server (SeaweedFS) the bucket tests run (cached per pin).
	@mkdir -p $(dir $(S3SERVER_LINK)) && ln -sfn $(S3SERVER_DIR) $(S3SERVER_LINK)

$(S3SERVER_DIR)/.stamp: | tests/s3server/go.mod tests/s3server/go.sum
	@echo "building SeaweedFS $(S3SERVER_VERSION) into $(S3SERVER_DIR) (cold: ~12 min of CPU, 36 min wall on 2 shared cores; 164 MB binary)"
	@mkdir -p $(S3SERVER_DIR).tmp
	cd tests/s3server && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(S3SERVER_DIR).tmp/weed github.com/seaweedfs/seaweedfs/weed
	@rm -rf $(S3SERVER_DIR) && mv $(S3SERVER_DIR).tmp $(S3SERVER_DIR) && touch $@

pushgateway: $(PUSHGATEWAY_DIR)/.stamp ## Build the pinned Prometheus Pushgateway the metrics tests push to (cached per pin).
	@mkdir -p $(dir $(PUSHGATEWAY_LINK)) && ln -sfn $(PUSHGATEWAY_DIR) $(PUSHGATEWAY_LINK)

$(PUSHGATEWAY_DIR)/.stamp: | tests/pushgateway/go.mod tests/pushgateway/go.sum
	@echo "building the Pushgateway $(PUSHGATEWAY_VERSION) into $(PUSHGATEWAY_DIR) (cold: ~2 min on 2 cores)"
	@mkdir -p $(PUSHGATEWAY_DIR).tmp
	cd tests/pushgateway && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(PUSHGATEWAY_DIR).tmp/pushgateway github.com/prometheus/pushgateway
	@rm -rf $(PUSHGATEWAY_DIR) && mv $(PUSHGATEWAY_DIR).tmp $(PUSHGATEWAY_DIR) && touch $@

test: deps testbin s3server pushgateway ## Run every test: unit, integration (real control plane) and end-to-end (real node); then make fuzz.
	go test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) fuzz

# Go fuzz targets as PACKAGE:TARGET; each runs FUZZTIME on top of its seed
# corpus (f.Add and testdata/fuzz/TARGET). Targets live in small packages
# where possible: the fuzzing build instruments every package linked in.
FUZZ_TARGETS := ./pkg/render/internal/manifest:FuzzDecode ./pkg/spec:FuzzParse ./pkg/inventory:FuzzDecodeEntries \
                ./pkg/redact:FuzzURL ./pkg/source/archive:FuzzExtract ./pkg/render:FuzzExpand
FUZZTIME ?= 3s

fuzz: ## Run every fuzz target for FUZZTIME (3s) each: manifests, spec, inventory, substitution, URL redaction, archives.
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

# Packages whose tests need no cluster (no etcd, no API server): the
# operations' pure logic, formatting and diff text, spec, install, names,
# the sync-job argument contract, render. The others start a control plane
# (TestMain) or build release archives (tools/dist).
UNIT_PKGS := ./pkg/action/... ./pkg/format/... ./pkg/health/... ./pkg/install/... ./pkg/jobargs/... ./pkg/names/... \
             ./pkg/object/... ./pkg/spec/... ./pkg/render/... ./internal/...

unit: ## Run the tests of the packages that need no cluster (seconds).
	go test -count=1 $(UNIT_PKGS)

e2e: deps testbin ## Run the end-to-end tests on a real node.
	go test -count=1 -timeout $(TEST_TIMEOUT) -v ./tests/e2e/...

bench: deps testbin s3server ## Run the benchmarks and print figures with their workloads (docs/benchmarks.md).
	go run ./tests/bench $(BENCH_FLAGS)
	@echo "BenchmarkRenderAtScale: render of 1k/2k/5k/10k objects with targetNamespace, namePrefix, commonMetadata, images and two patches on the linear path; kustomize's own build up to GITSYNC_BENCH_KUSTOMIZE_MAX=$(GITSYNC_BENCH_KUSTOMIZE_MAX) objects"
	GITSYNC_BENCH_KUSTOMIZE_MAX=$(GITSYNC_BENCH_KUSTOMIZE_MAX) go test -count=1 -run '^$$' -bench . -benchmem -timeout $(TEST_TIMEOUT) ./pkg/render/ ./pkg/apply/ ./pkg/inventory/
	go test -count=1 -run 'TestBenchmark' -v ./pkg/helm/ | grep -E '^(=== RUN|--- |\s+bench_test)|ok|FAIL' 
	go test -count=1 -run 'TestBenchmarkImageScan' -v ./pkg/imageupdate/ | grep -E '^(=== RUN|--- |\s+bench_test)|ok|FAIL'

lint: $(GOLANGCI_LINT) ## gofmt, go mod tidy, go vet and golangci-lint (pinned, installed into bin/).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go mod tidy -diff
	go vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

image: ## Build the sync-job image tarball (reproducible, with sync-job-helm next to sync-job) into bin/sync-job-image.tar.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build $(GOFLAGS_BUILD) -o $(BIN)/linux_$(GOARCH)/ ./cmd/sync-job ./cmd/sync-job-helm
	go run ./tools/mkimage -binary $(BIN)/linux_$(GOARCH)/sync-job -extra $(BIN)/linux_$(GOARCH)/sync-job-helm -tag $(IMAGE_REPO):$(IMAGE_TAG) -arch $(GOARCH) -o $(IMAGE_TAR)

dist: ## Cross-build the plugin archives for krew into dist/ (UPDATE_MANIFEST=1 also rewrites plugin.yaml).
	go run ./tools/dist -version $(VERSION) -ldflags '$(LDFLAGS)' -out dist $(if $(UPDATE_MANIFEST),-update-manifest)

demo: deps testbin ## Start the local cluster and Git server and show how to use them (Ctrl-C stops).
	go run ./tests/demo

clean: ## Remove build outputs (not the testbin cache).
	rm -rf $(BIN) dist .cache/testbin .cache/s3server .cache/pushgateway
