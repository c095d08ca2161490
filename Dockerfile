# syntax=docker/dockerfile:1
# The cabpk0s manager image: a static binary on distroless, as nonroot.
#
#   make docker-build                      # ghcr.io/cabpk0s/cabpk0s-controller:dev
#   make docker-build REGISTRY=... TAG=...
#
# Cross-builds with BuildKit: the build stage runs on the build platform and
# compiles for TARGETOS/TARGETARCH.

ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /workspace

# Dependencies first, so source changes reuse the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/

ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG LDFLAGS="-s -w"
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "${LDFLAGS}" -o /out/manager ./cmd/manager

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.source="https://github.com/cabpk0s/cabpk0s" \
      org.opencontainers.image.description="Cluster API bootstrap provider for k0s"
WORKDIR /
COPY --from=build /out/manager /manager
# 65532 is distroless's nonroot user; config/manager runs as it too.
USER 65532:65532
ENTRYPOINT ["/manager"]
