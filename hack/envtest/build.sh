#!/usr/bin/env bash
# Builds the envtest binaries (kube-apiserver, etcd) from Go modules into $1,
# because setup-envtest's downloads are unreachable here. A stamp file records
# what was built, so a warm machine skips the build entirely.
set -euo pipefail

out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
kube_version=v1.36.3
etcd_version=v3.6.5
stamp="kube-apiserver=${kube_version} etcd=${etcd_version} $(go env GOOS)/$(go env GOARCH)"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
mkdir -p "$out"
rm -f "$out/.stamp"

echo "building envtest assets into $out (cold: several minutes)" >&2
version_pkg=k8s.io/component-base/version
(cd "$here/kube-apiserver" && CGO_ENABLED=0 go build -trimpath -o "$out/kube-apiserver" \
  -ldflags "-s -w -X ${version_pkg}.gitVersion=${kube_version} -X ${version_pkg}.gitMajor=1 -X ${version_pkg}.gitMinor=36 -X ${version_pkg}.gitTreeState=clean" \
  k8s.io/kubernetes/cmd/kube-apiserver)
(cd "$here/etcd" && CGO_ENABLED=0 go build -trimpath -o "$out/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3)

"$out/kube-apiserver" --version >&2
"$out/etcd" --version | head -1 >&2
echo "$stamp" > "$out/.stamp"
