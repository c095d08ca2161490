// Package config holds cabpk0s's Kubernetes manifests: the kustomize bases
// under crd/, rbac/, manager/, webhook/, certmanager/, default/ and the
// seed's samples/. This file embeds the ones the embedded management plane
// installs (internal/testenv, internal/sandbox), so a binary built from
// them, such as bin/sandbox, carries them and needs no checkout. They are
// the files themselves, not copies: a build always has the current ones.
package config

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

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

// CustomResourceDefinitions parses CRDs, in file name order, anew on each
// call (callers may change what they get). Strictly: a field this
// apiextensions version does not know would be dropped, and the schema
// used would not be the one the API server is given.
func CustomResourceDefinitions() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := fs.Glob(CRDs, "crd/bases/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("listing the embedded CRDs: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("no CRDs embedded in crd/bases")
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(files))
	for _, f := range files {
		data, err := CRDs.ReadFile(f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("parsing CRD %s: %w", path.Base(f), err)
		}
		if crd.Labels == nil {
			crd.Labels = map[string]string{}
		}
		crds = append(crds, crd)
	}
	return crds, nil
}
