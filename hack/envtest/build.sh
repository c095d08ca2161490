#!/usr/bin/env bash
# Builds the envtest binaries from Go modules into $1, because setup-envtest's
# downloads are unreachable here: kube-apiserver and etcd, and for the join
# judged by Kubernetes' own code, kube-controller-manager and k0s-worker-join
# (the k0s worker's join through the kubelet's TLS bootstrap library). A stamp
# file records what was built, so a warm machine skips the build entirely.
set -euo pipefail

out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
kube_version=v1.36.3
etcd_version=v3.6.5
# The join program is ours: its source is part of what was built.
join_sum=$(cat "$here/kube-apiserver/go.mod" "$here/kube-apiserver/k0s-worker-join/"*.go | sha256sum | cut -c1-16)
stamp="kubernetes=${kube_version} etcd=${etcd_version} k0s-worker-join=${join_sum} $(go env GOOS)/$(go env GOARCH)"
binaries=(kube-apiserver kube-controller-manager etcd k0s-worker-join)

built=true
for bin in "${binaries[@]}"; do [[ -x "$out/$bin" ]] || built=false; done
if $built && [[ "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
mkdir -p "$out"
rm -f "$out/.stamp"

echo "building envtest assets into $out (cold: several minutes)" >&2
version_pkg=k8s.io/component-base/version
version_flags="-X ${version_pkg}.gitVersion=${kube_version} -X ${version_pkg}.gitMajor=1 -X ${version_pkg}.gitMinor=36 -X ${version_pkg}.gitTreeState=clean"
for cmd in kube-apiserver kube-controller-manager; do
  (cd "$here/kube-apiserver" && CGO_ENABLED=0 go build -trimpath -o "$out/$cmd" -ldflags "-s -w ${version_flags}" "k8s.io/kubernetes/cmd/$cmd")
done
(cd "$here/kube-apiserver" && CGO_ENABLED=0 go build -trimpath -o "$out/k0s-worker-join" -ldflags "-s -w" ./k0s-worker-join)
(cd "$here/etcd" && CGO_ENABLED=0 go build -trimpath -o "$out/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3)

"$out/kube-apiserver" --version >&2
"$out/kube-controller-manager" --version >&2
# sed reads all of it: head would leave etcd a SIGPIPE (141 under pipefail).
"$out/etcd" --version | sed -n 1p >&2
echo "$stamp" > "$out/.stamp"
