#!/usr/bin/env bash
# go-install.sh PACKAGE VERSION OUTPUT: builds a Go tool at a pinned version
# and installs it at OUTPUT (a versioned path, so versions never mix).
set -euo pipefail
pkg=${1:?package} version=${2:?version} out=${3:?output}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOFLAGS= GOWORK=off go install "${pkg}@${version}"
mkdir -p "$(dirname "$out")"
name=$(basename "$pkg")
# go install names a binary after the path element before a /vN suffix.
if [[ $name =~ ^v[0-9]+$ ]]; then name=$(basename "$(dirname "$pkg")"); fi
mv "$tmp/$name" "$out"
