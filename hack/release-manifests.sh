#!/usr/bin/env bash
# Writes the clusterctl release assets to out/:
#   out/bootstrap-components.yaml  kustomize build config/default
#   out/metadata.yaml              copy of metadata.yaml
# KUSTOMIZE names the kustomize binary (default: kustomize on PATH).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUSTOMIZE="${KUSTOMIZE:-kustomize}"
OUT="${ROOT}/out"

if ! command -v "${KUSTOMIZE}" >/dev/null 2>&1; then
  echo "kustomize not found: set KUSTOMIZE to its path" >&2
  exit 1
fi

mkdir -p "${OUT}"
"${KUSTOMIZE}" build "${ROOT}/config/default" > "${OUT}/bootstrap-components.yaml.tmp"
mv "${OUT}/bootstrap-components.yaml.tmp" "${OUT}/bootstrap-components.yaml"
cp "${ROOT}/metadata.yaml" "${OUT}/metadata.yaml"
echo "wrote ${OUT}/bootstrap-components.yaml and ${OUT}/metadata.yaml"
