// Package config holds cabpk0s's Kubernetes manifests: the kustomize bases
// under crd/, rbac/, manager/, webhook/, certmanager/, default/ and the
// seed's samples/. This file embeds the ones the embedded management plane
// installs (internal/testenv, internal/sandbox), so a binary built from
// them, such as bin/sandbox, carries them and needs no checkout. They are
// the files themselves, not copies: a build always has the current ones.
package config

import "embed"

// CRDs holds crd/bases/*.yaml: cabpk0s's CustomResourceDefinitions as
// controller-gen writes them (make generate).
//
//go:embed crd/bases/*.yaml
var CRDs embed.FS

// WebhookManifest is webhook/manifests.yaml: cabpk0s's webhook
// configurations as controller-gen writes them (make generate).
//
//go:embed webhook/manifests.yaml
var WebhookManifest []byte

// WebhookMatchConditions is webhook/match_conditions.yaml: the kustomize
// patch that gives the validating webhooks their matchConditions, which
// controller-gen's markers cannot say.
//
//go:embed webhook/match_conditions.yaml
var WebhookMatchConditions []byte

// Samples holds samples/*.yaml: the seed document's manifests, and the
// kustomization that lists them.
//
//go:embed samples/*.yaml
var Samples embed.FS
