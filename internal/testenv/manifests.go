package testenv

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime/debug"
	"slices"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
)

// thirdParty holds the manifests of Cluster API (CAPIVersion: its core
// CRDs and webhook configuration) and CAPA (CAPAVersion: the CRDs of the
// kinds in CAPAKinds, and AWSMachinePool) that the management clusters
// serve, copied from the pinned modules by make generate (hack/thirdparty):
// embedding cannot reach the module cache, and a binary built from this
// package must not need one.
//
//go:embed thirdparty
var thirdParty embed.FS

// CAPAKinds are the CAPA kinds StartManagement serves: the seed's, and the
// cluster template kind. CAPACRDs also has AWSMachinePool.
var CAPAKinds = []string{"AWSCluster", "AWSClusterTemplate", "AWSMachine", "AWSMachineTemplate"}

// capiCRDs are Cluster API's core CRDs.
func capiCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return crdsIn(thirdParty, "thirdparty/cluster-api/crd")
}

// capiWebhookManifest is Cluster API's core webhook configuration.
func capiWebhookManifest() ([]byte, error) {
	return thirdParty.ReadFile("thirdparty/cluster-api/webhook/manifests.yaml")
}

// cabpk0sCRDs are this tree's CRDs (config/crd/bases).
func cabpk0sCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return cabpk0sconfig.CustomResourceDefinitions()
}

// CAPACRDs are CAPA's CRDs of the kinds named (CAPAKinds, or
// AWSMachinePool), with the contract label CAPA's own kustomization adds:
// CAPA v2.13 implements the v1beta1 contract.
func CAPACRDs(kinds ...string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	all, err := crdsIn(thirdParty, "thirdparty/cluster-api-provider-aws/crd")
	if err != nil {
		return nil, err
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(kinds))
	for _, kind := range kinds {
		i := slices.IndexFunc(all, func(crd *apiextensionsv1.CustomResourceDefinition) bool { return crd.Spec.Names.Kind == kind })
		if i < 0 {
			return nil, fmt.Errorf("CAPA %s: no CRD of that kind is embedded (see hack/thirdparty)", kind)
		}
		crds = append(crds, LabelContract(all[i], "v1beta1"))
	}
	return crds, nil
}

// crdsIn parses every CRD file in dir of fsys.
func crdsIn(fsys fs.FS, dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, errors.Join(err, fmt.Errorf("no CRDs embedded in %s", dir))
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(files))
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		crd, err := parseCRD(data, path.Base(f))
		if err != nil {
			return nil, err
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// checkThirdPartyVersion fails when the embedded Cluster API manifests are
// of another version than the Cluster API code linked into this binary: a
// go.mod bump without make generate.
func checkThirdPartyVersion() error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	for _, dep := range info.Deps {
		if dep.Path != capiModule {
			continue
		}
		version := dep.Version
		if dep.Replace != nil {
			version = dep.Replace.Version
		}
		if version != CAPIVersion {
			return fmt.Errorf("the embedded Cluster API manifests are %s, the binary is built with Cluster API %s: run make generate", CAPIVersion, version)
		}
	}
	return nil
}
