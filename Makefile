# cabpk0s — Cluster API bootstrap provider for k0s.
#
#   make demo       the product on an embedded management plane (no Docker)
#   make test       everything a change must pass: unit + envtest integration tests
#   make verify     generated files current, go vet, golangci-lint
#   make bench      scale-up and saturation throughput, restart cost, many clusters, pending machines, beside CABPK and the floor
#   make bench-quick  the same at small N, nothing appended
#   make soak       the fault suite's long run; figures into docs/reliability.md
#   make generate   deepcopy, CRDs, webhook configuration, RBAC (commit the result)
#   make manifests  the clusterctl release assets in out/
#
# Tools are built from pinned Go module versions into a per-user cache, so a
# fresh clone on a warm machine does not rebuild them.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT := $(abspath .)
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cabpk0s
TOOLS_DIR := $(CACHE_DIR)/bin

CONTROLLER_GEN_VER := v0.21.0
KUSTOMIZE_VER := v5.7.0
GOLANGCI_LINT_VER := v2.12.2

CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen-$(CONTROLLER_GEN_VER)
KUSTOMIZE := $(TOOLS_DIR)/kustomize-$(KUSTOMIZE_VER)
GOLANGCI_LINT := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VER)

# kube-apiserver, kube-controller-manager, etcd and k0s-worker-join for the
# tests and the demo, built from Go modules (hack/envtest):
# setup-envtest's downloads are not reachable from our machines.
ENVTEST_ASSETS_DIR ?= $(CACHE_DIR)/envtest
export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS_DIR)

# Debian packages the tests run for real: cloud-init validates rendered
# cloud-config, shellcheck checks the bootstrap script.
TEST_PACKAGES := cloud-init shellcheck

GO_TEST_FLAGS ?= -race
GENERATED := api config/crd config/rbac config/webhook docs/api-reference.md \
	internal/testenv/thirdparty internal/testenv/zz_generated.thirdparty.go

# The CAPA release whose CRDs the embedded management plane serves (the
# seed's AWSMachine and AWSMachineTemplate are real, schema-checked objects).
# make generate copies them, and Cluster API's manifests at the version in
# go.mod, into internal/testenv/thirdparty (hack/thirdparty).
CAPA_VERSION := v2.13.0

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

DEMO_ARGS ?=

.PHONY: demo
demo: envtest-assets ## Run cabpk0s on an embedded management plane with the seed's samples (DEMO_ARGS='--empty --state-dir DIR').
	go build -trimpath -o bin/sandbox ./cmd/sandbox
	exec bin/sandbox $(DEMO_ARGS)

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy, CRDs, webhook configuration, RBAC, the API reference and the embedded Cluster API/CAPA manifests.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) webhook paths=./internal/webhooks/... output:webhook:artifacts:config=config/webhook
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./cmd/... paths=./internal/... paths=./controllers/... output:rbac:artifacts:config=config/rbac
	go run ./hack/apidocs -crds config/crd/bases -out docs/api-reference.md
	go run ./hack/thirdparty -capa-version $(CAPA_VERSION) -out internal/testenv

.PHONY: build
build: ## Build the manager into bin/manager and the cabpk0s command line (cabpk0s render) into bin/cabpk0s.
	CGO_ENABLED=0 go build -trimpath -o bin/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -o bin/cabpk0s ./cmd/cabpk0s

.PHONY: manifests
manifests: $(KUSTOMIZE) ## Write out/bootstrap-components.yaml and out/metadata.yaml.
	KUSTOMIZE=$(KUSTOMIZE) hack/release-manifests.sh

##@ Testing

.PHONY: test
test: test-deps envtest-assets $(KUSTOMIZE) ## Run unit and envtest integration tests (the fault suite's short run included).
	KUSTOMIZE=$(KUSTOMIZE) go test $(GO_TEST_FLAGS) -timeout 45m ./... $(GO_TEST_ARGS)

.PHONY: verify
verify: verify-generate vet lint ## Check generated files are current, go vet, golangci-lint.

.PHONY: verify-generate
verify-generate: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); \
		echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi

.PHONY: vet
vet:
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, kube-controller-manager, etcd and k0s-worker-join for the tests and the demo (cached).
	hack/envtest/build.sh $(ENVTEST_ASSETS_DIR)

.PHONY: test-deps
test-deps: ## Install the Debian packages the tests use, when missing.
	@missing=""; for p in $(TEST_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

##@ Benchmark

BENCH_ARGS ?=
# A development run: every scenario at a small N, the report printed, not
# appended to docs/benchmarks.md.
BENCH_QUICK_ARGS = -n 100 -saturation-n 500 -restart-at 500 -clusters 1,10 -clusters-n 500 -pending-n 500 -token-ttl 30s -periods 2 -markdown ""
# CABPK is built from the cluster-api release hack/bench/cabpk pins.
CABPK_VER = $(shell cd hack/bench/cabpk && go list -m -f '{{.Version}}' sigs.k8s.io/cluster-api)
CABPK = $(TOOLS_DIR)/cabpk-$(CABPK_VER)

.PHONY: bench
bench: envtest-assets build ## Measure cabpk0s, CABPK and the floor: scale-up, saturation, a restart, many clusters, pending machines; appends to docs/benchmarks.md.
	@[ -x "$(CABPK)" ] || hack/bench/build-cabpk.sh "$(CABPK)"
	go build -o bin/bench ./hack/bench
	bin/bench -manager bin/manager -cabpk "$(CABPK)" -cabpk-version "$(CABPK_VER)" $(BENCH_ARGS)

.PHONY: bench-quick
bench-quick: ## The benchmark at small N, every scenario, for development; appends nothing.
	$(MAKE) bench BENCH_ARGS='$(BENCH_QUICK_ARGS) $(BENCH_ARGS)'

##@ Reliability

SOAK ?= 30m

.PHONY: soak
soak: test-deps envtest-assets ## The fault suite's long run: every fault, then SOAK (30m) of scaling with one leader; writes the figures into docs/reliability.md (CABPK0S_FAULTS_SEED=N replays a run).
	CABPK0S_FAULTS_SOAK=$(SOAK) CABPK0S_FAULTS_REPORT=$(ROOT)/docs/reliability.md \
		go test $(GO_TEST_FLAGS) -count=1 -timeout 120m -v -run '^TestFaults$$' ./test/faults/

##@ Tools

$(CONTROLLER_GEN):
	hack/go-install.sh sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_GEN_VER) $@

$(KUSTOMIZE):
	hack/go-install.sh sigs.k8s.io/kustomize/kustomize/v5 $(KUSTOMIZE_VER) $@

$(GOLANGCI_LINT):
	hack/go-install.sh github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VER) $@
include hack/e2e.mk
