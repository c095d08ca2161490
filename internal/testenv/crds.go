package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// ReadCRD reads a CRD from a YAML file and adds labels: CRD bases in a
// provider's module lack the contract labels its kustomization adds (for
// example cluster.x-k8s.io/v1beta2: v1beta2).
func ReadCRD(path string, labels map[string]string) (*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CRD: %w", err)
	}
	crd, err := parseCRD(data, filepath.Base(path))
	if err != nil {
		return nil, err
	}
	for k, v := range labels {
		crd.Labels[k] = v
	}
	return crd, nil
}

// parseCRD parses one CRD document; its labels are never nil.
func parseCRD(data []byte, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("parsing CRD %s: %w", name, err)
	}
	if crd.Labels == nil {
		crd.Labels = map[string]string{}
	}
	return crd, nil
}

// LabelContract labels a CRD as implementing a Cluster API contract
// (v1beta1, v1beta2) with every version it serves, as a provider's
// kustomization does (cluster.x-k8s.io/v1beta1: v1beta1_v1beta2): Cluster
// API reads the label to pick the apiVersion of a referenced object.
func LabelContract(crd *apiextensionsv1.CustomResourceDefinition, contract string) *apiextensionsv1.CustomResourceDefinition {
	versions := make([]string, 0, len(crd.Spec.Versions))
	for _, v := range crd.Spec.Versions {
		if v.Served {
			versions = append(versions, v.Name)
		}
	}
	crd = crd.DeepCopy()
	if crd.Labels == nil {
		crd.Labels = map[string]string{}
	}
	crd.Labels[clusterv1.GroupVersion.Group+"/"+contract] = strings.Join(versions, "_")
	return crd
}

// InstallCRDs installs CRDs and waits until they are served.
func (m *Management) InstallCRDs(crds ...*apiextensionsv1.CustomResourceDefinition) error {
	if _, err := envtest.InstallCRDs(m.Config, envtest.CRDInstallOptions{CRDs: crds, MaxTime: time.Minute, PollInterval: 100 * time.Millisecond}); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	return nil
}
