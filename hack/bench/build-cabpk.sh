#!/usr/bin/env bash
# Builds Cluster API's kubeadm bootstrap provider (CABPK) for the benchmark
# into $1, from the cluster-api release hack/bench/cabpk/go.mod pins (the
# same one cabpk0s is built against), with its version stamped in.
set -euo pipefail

out=${1:?usage: build-cabpk.sh OUTPUT}
here=$(cd "$(dirname "$0")/cabpk" && pwd)
version=$(cd "$here" && go list -m -f '{{.Version}}' sigs.k8s.io/cluster-api)
mkdir -p "$(dirname "$out")"
echo "building CABPK ${version} into ${out}" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$out" \
  -ldflags "-s -w -X sigs.k8s.io/cluster-api/version.gitVersion=${version}" \
  sigs.k8s.io/cluster-api/bootstrap/kubeadm)
