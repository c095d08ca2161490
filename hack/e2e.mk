# End-to-end tests, the release image and assets, and the API reference.
# Included at the end of the Makefile (it uses KUSTOMIZE and friends).
#
#   make e2e-docker     kind + CAPD e2e (needs a Docker engine)
#   make e2e-aws        AWS e2e (needs AWS credentials and a management cluster in AWS)
#   make docker-build   the manager image (needs Docker)
#   make release        out/: bootstrap-components.yaml (image tag set),
#                       metadata.yaml, cluster-template*.yaml
#   make api-docs       regenerate docs/api-reference.md from the CRDs

REGISTRY ?= ghcr.io/cabpk0s
IMAGE_NAME ?= cabpk0s-controller
TAG ?= dev
IMAGE ?= $(REGISTRY)/$(IMAGE_NAME):$(TAG)
# The image reference config/manager uses; release and e2e-aws replace it.
DEV_IMAGE_NAME := ghcr.io/cabpk0s/cabpk0s-controller
DOCKER ?= docker

E2E_DIR := $(ROOT)/e2e
ARTIFACTS ?= $(E2E_DIR)/_artifacts
E2E_TIMEOUT ?= 3h
# A Ginkgo label filter (e.g. PR-Blocking) and extra `go test` arguments.
GINKGO_LABEL_FILTER ?=
GINKGO_FOCUS ?=
E2E_ARGS ?=
SKIP_RESOURCE_CLEANUP ?= false
# A kubeconfig of the AWS management cluster (see e2e/config/aws.yaml).
E2E_AWS_MANAGEMENT_KUBECONFIG ?=
E2E_TEMPLATE_DIRS = $(wildcard $(E2E_DIR)/data/infrastructure-*/cluster-template*/)

##@ End-to-end tests

.PHONY: e2e-templates
e2e-templates: $(KUSTOMIZE) ## Build the e2e cluster templates from their kustomizations.
	@for dir in $(E2E_TEMPLATE_DIRS); do \
		dir=$${dir%/}; \
		$(KUSTOMIZE) build "$$dir" > "$$dir.yaml.tmp" && mv "$$dir.yaml.tmp" "$$dir.yaml" || exit 1; \
		echo "built $${dir#$(ROOT)/}.yaml"; \
	done

.PHONY: e2e-check-docker
e2e-check-docker:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "e2e: '$(DOCKER)' is not installed. The Docker e2e needs a Docker engine (kind and CAPD run containers)." >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "e2e: '$(DOCKER) info' failed: no Docker engine is reachable. Start Docker (or set DOCKER_HOST) and retry." >&2; exit 1; }

.PHONY: e2e-check-aws
e2e-check-aws:
	@missing=""; \
	for v in AWS_REGION AWS_AVAILABILITY_ZONE AWS_SSH_KEY_NAME AWS_VPC_ID AWS_SUBNET_ID AWS_SECURITY_GROUP_ID AWS_AMI_ID AWS_FLATCAR_AMI_ID E2E_IMAGE; do \
		[ -n "$${!v}" ] || missing="$$missing $$v"; \
	done; \
	if [ -z "$$AWS_B64ENCODED_CREDENTIALS" ] && { [ -z "$$AWS_ACCESS_KEY_ID" ] || [ -z "$$AWS_SECRET_ACCESS_KEY" ]; }; then \
		missing="$$missing AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(or AWS_B64ENCODED_CREDENTIALS)"; \
	fi; \
	if [ -n "$$missing" ]; then \
		echo "e2e-aws: missing AWS settings:$$missing" >&2; \
		echo "  Credentials come from the environment (CI: repository secrets); the others describe the VPC," >&2; \
		echo "  subnet, security group, AMIs and the pushed image the test uses. See docs/development.md." >&2; \
		exit 1; \
	fi; \
	if [ -z "$(E2E_AWS_MANAGEMENT_KUBECONFIG)" ] || [ ! -f "$(E2E_AWS_MANAGEMENT_KUBECONFIG)" ]; then \
		echo "e2e-aws: E2E_AWS_MANAGEMENT_KUBECONFIG must name the kubeconfig of a management cluster in AWS." >&2; \
		echo "  k0smotron hosts the control planes there behind LoadBalancer Services the EC2 workers must reach;" >&2; \
		echo "  a kind cluster on this machine cannot serve. See docs/development.md." >&2; \
		exit 1; \
	fi; \
	if [ -z "$$AWS_B64ENCODED_CREDENTIALS" ] && ! command -v clusterawsadm >/dev/null 2>&1; then \
		echo "e2e-aws: set AWS_B64ENCODED_CREDENTIALS, or put clusterawsadm on PATH to encode AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY." >&2; \
		exit 1; \
	fi

# go test runs the Ginkgo suite (no ginkgo CLI needed); CAPI's framework
# runs kustomize from CAPI_KUSTOMIZE_PATH for the provider built here.
E2E_RUN = cd $(E2E_DIR) && CAPI_KUSTOMIZE_PATH=$(KUSTOMIZE) go test -tags e2e -timeout $(E2E_TIMEOUT) -v . -args \
	-e2e.artifacts-folder=$(ARTIFACTS) -e2e.skip-resource-cleanup=$(SKIP_RESOURCE_CLEANUP) \
	-ginkgo.v -ginkgo.label-filter='$(GINKGO_LABEL_FILTER)' -ginkgo.focus='$(GINKGO_FOCUS)' $(E2E_ARGS)

.PHONY: e2e-docker
e2e-docker: e2e-check-docker docker-build e2e-templates ## Run the e2e suite on kind + CAPD (needs Docker).
	$(E2E_RUN) -e2e.config=$(E2E_DIR)/config/docker.yaml

.PHONY: e2e-aws
e2e-aws: e2e-check-aws e2e-templates ## Run the e2e suite on AWS (needs AWS credentials and E2E_AWS_MANAGEMENT_KUBECONFIG).
	@if [ -z "$$AWS_B64ENCODED_CREDENTIALS" ]; then export AWS_B64ENCODED_CREDENTIALS="$$(clusterawsadm bootstrap credentials encode-as-profile)"; fi; \
	export KUBECONFIG="$(E2E_AWS_MANAGEMENT_KUBECONFIG)"; \
	$(E2E_RUN) -e2e.config=$(E2E_DIR)/config/aws.yaml -e2e.use-existing-cluster=true -e2e.reinstall-providers=true

##@ Release

.PHONY: docker-build
docker-build: e2e-check-docker ## Build the manager image REGISTRY/IMAGE_NAME:TAG (needs Docker).
	DOCKER_BUILDKIT=1 $(DOCKER) build --tag $(IMAGE) $(ROOT)

.PHONY: docker-push
docker-push: e2e-check-docker ## Push the manager image REGISTRY/IMAGE_NAME:TAG.
	$(DOCKER) push $(IMAGE)

RELEASE_DIR := $(ROOT)/out

.PHONY: release
release: $(KUSTOMIZE) ## Write out/: bootstrap-components.yaml (image tag TAG), metadata.yaml, cluster-template*.yaml.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -R $(ROOT)/config "$$tmp/config"; \
	(cd "$$tmp/config/default" && $(KUSTOMIZE) edit set image $(DEV_IMAGE_NAME)=$(IMAGE)); \
	mkdir -p $(RELEASE_DIR); \
	$(KUSTOMIZE) build "$$tmp/config/default" > $(RELEASE_DIR)/bootstrap-components.yaml; \
	grep -q "image: $(IMAGE)$$" $(RELEASE_DIR)/bootstrap-components.yaml || { echo "release: image $(IMAGE) not set in bootstrap-components.yaml" >&2; exit 1; }; \
	cp $(ROOT)/metadata.yaml $(RELEASE_DIR)/metadata.yaml; \
	cp $(ROOT)/templates/cluster-template*.yaml $(RELEASE_DIR)/; \
	echo "wrote $(RELEASE_DIR): bootstrap-components.yaml ($(IMAGE)), metadata.yaml, $$(cd $(ROOT)/templates && echo cluster-template*.yaml)"

##@ Documentation

.PHONY: api-docs
api-docs: ## Regenerate docs/api-reference.md from the CRDs in config/crd/bases.
	go run ./hack/apidocs -crds config/crd/bases -out docs/api-reference.md
