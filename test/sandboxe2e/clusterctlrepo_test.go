package sandboxe2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// Providers of the local clusterctl repository, as clusterctl init takes
// them (name:version).
const (
	// Cabpk0sProviderName is cabpk0s's bootstrap provider name.
	Cabpk0sProviderName = "k0s"
	// Cabpk0sDevVersion is the version a build of this checkout carries in
	// a local repository (Cluster API's convention for local builds).
	Cabpk0sDevVersion = "v0.1.99"
	// SimulatedK0smotronProviderName is the control plane provider whose
	// components are only the K0smotronControlPlane stand-in CRD; its
	// "manager" is simulation.SimulatedK0smotronProvider.
	SimulatedK0smotronProviderName = "k0smotron-simulated"
	// SimulatedAWSProviderName is the infrastructure provider whose
	// components are only CAPA's CRDs; its "manager" is
	// simulation.SimulatedAWSProvider.
	SimulatedAWSProviderName = "aws-simulated"
	simulatedVersion         = "v0.0.1"
	// K0smotronBootstrapProviderName is k0smotron's bootstrap provider as
	// clusterctl names it; its components are k0smotron-shaped CRDs
	// (testenv.K0smotronBootstrapCRDs) and its "manager" is
	// simulation.SimulatedK0smotronBootstrapProvider. Release v1.0.0 stands
	// for k0smotron 1.x, v2.0.0 for 2.x.
	K0smotronBootstrapProviderName = "k0sproject-k0smotron"
)

// k0smotronReleases are the k0smotron bootstrap releases of the
// repository, by the API version each stores.
var k0smotronReleases = map[string]string{testenv.K0smotron1: "v1.0.0", testenv.K0smotron2: "v2.0.0"}

// ClusterctlRepository is a local clusterctl provider repository and the
// clusterctl configuration file that points at it.
type ClusterctlRepository struct {
	// ConfigFile is the clusterctl configuration file.
	ConfigFile string
	// CoreProvider, BootstrapProvider, ControlPlaneProvider and
	// InfrastructureProvider are name:version, for clusterctl init.
	CoreProvider, BootstrapProvider, ControlPlaneProvider, InfrastructureProvider string
}

// K0smotronBootstrapProvider is name:version of the k0smotron release
// storing storageVersion, for clusterctl init.
func (r *ClusterctlRepository) K0smotronBootstrapProvider(storageVersion string) string {
	return K0smotronBootstrapProviderName + ":" + k0smotronReleases[storageVersion]
}

// ProvidersWithK0smotron are Providers and k0smotron's bootstrap provider
// of the release storing storageVersion, which bootstraps nothing while
// hold is true.
func (r *ClusterctlRepository) ProvidersWithK0smotron(w *testenv.Workload, storageVersion string, hold *atomic.Bool) map[string]simulation.Provider {
	providers := r.Providers(w)
	providers["bootstrap-"+K0smotronBootstrapProviderName] = simulation.SimulatedK0smotronBootstrapProvider(w, storageVersion, hold)
	return providers
}

// Providers returns the in-process implementations of the repository's
// providers, by the cluster.x-k8s.io/provider label clusterctl gives their
// components; the simulated ones act on workload cluster w.
func (r *ClusterctlRepository) Providers(w *testenv.Workload) map[string]simulation.Provider {
	return map[string]simulation.Provider{
		"cluster-api":                                     simulation.CAPICoreProvider(),
		"bootstrap-" + Cabpk0sProviderName:                simulation.Cabpk0sProvider(),
		"control-plane-" + SimulatedK0smotronProviderName: simulation.SimulatedK0smotronProvider(w),
		"infrastructure-" + SimulatedAWSProviderName:      simulation.SimulatedAWSProvider(w),
	}
}

// BuildClusterctlRepository writes a local repository under dir, from this
// checkout and the module cache:
//   - cluster-api: Cluster API's core components, built with kustomize from
//     core/config/default of the cluster-api module this tree builds
//     against, with that module's metadata.yaml;
//   - bootstrap k0s: this checkout's release manifest (kustomize build
//     config/default, as `make manifests`) and metadata.yaml;
//   - control plane k0smotron-simulated and infrastructure aws-simulated:
//     the CRDs of the kinds the simulations stand in for (for AWS: the
//     seed's kinds and AWSMachinePool), and a Deployment the
//     simulated kubelet runs the simulation for.
func BuildClusterctlRepository(dir string) (*ClusterctlRepository, error) {
	capiDir, err := testenv.CAPIModuleDir()
	if err != nil {
		return nil, err
	}
	capiVersion := testenv.CAPIVersion
	root := testenv.RepoRoot()

	core, err := kustomizeBuild(filepath.Join(capiDir, "core", "config", "default"))
	if err != nil {
		return nil, err
	}
	coreMetadata, err := os.ReadFile(filepath.Join(capiDir, "metadata.yaml"))
	if err != nil {
		return nil, err
	}
	bootstrap, err := kustomizeBuild(filepath.Join(root, "config", "default"))
	if err != nil {
		return nil, err
	}
	bootstrapMetadata, err := os.ReadFile(filepath.Join(root, "metadata.yaml"))
	if err != nil {
		return nil, err
	}
	controlPlane, err := simulatedComponents(SimulatedK0smotronProviderName, []*apiextensionsv1.CustomResourceDefinition{testenv.K0smotronControlPlaneCRD()})
	if err != nil {
		return nil, err
	}
	// The simulated provider also has machine pools.
	capaCRDs, err := testenv.CAPACRDs(append(slices.Clone(testenv.CAPAKinds), testenv.AWSMachinePoolGVK.Kind)...)
	if err != nil {
		return nil, err
	}
	infrastructure, err := simulatedComponents(SimulatedAWSProviderName, capaCRDs)
	if err != nil {
		return nil, err
	}

	k0smotron := map[string][]byte{}
	for storage, version := range k0smotronReleases {
		crds, err := testenv.K0smotronBootstrapCRDs(storage)
		if err != nil {
			return nil, err
		}
		if k0smotron[version], err = simulatedComponents(K0smotronBootstrapProviderName, crds); err != nil {
			return nil, err
		}
	}

	type release struct {
		providerType, name, label, version, file string
		components, metadata                     []byte
	}
	releases := []release{
		{"CoreProvider", "cluster-api", "cluster-api", capiVersion, "core-components.yaml", core, coreMetadata},
		{"BootstrapProvider", Cabpk0sProviderName, "bootstrap-" + Cabpk0sProviderName, Cabpk0sDevVersion, "bootstrap-components.yaml", bootstrap, bootstrapMetadata},
		// K0smotronControlPlane implements the v1beta2 contract, CAPA v2.13 the v1beta1 one.
		{"ControlPlaneProvider", SimulatedK0smotronProviderName, "control-plane-" + SimulatedK0smotronProviderName, simulatedVersion, "control-plane-components.yaml", controlPlane, simulatedMetadata("v1beta2")},
		{"InfrastructureProvider", SimulatedAWSProviderName, "infrastructure-" + SimulatedAWSProviderName, simulatedVersion, "infrastructure-components.yaml", infrastructure, simulatedMetadata("v1beta1")},
		// Both k0smotron releases: the provider's URL names the last, and
		// clusterctl finds the other beside it.
		{"BootstrapProvider", K0smotronBootstrapProviderName, "bootstrap-" + K0smotronBootstrapProviderName, k0smotronReleases[testenv.K0smotron1], "bootstrap-components.yaml", k0smotron["v1.0.0"], k0smotronMetadata},
		{"BootstrapProvider", K0smotronBootstrapProviderName, "bootstrap-" + K0smotronBootstrapProviderName, k0smotronReleases[testenv.K0smotron2], "bootstrap-components.yaml", k0smotron["v2.0.0"], k0smotronMetadata},
	}
	var config strings.Builder
	config.WriteString("# Written by BuildClusterctlRepository (test/sandboxe2e).\n")
	// The simulated cert-manager is installed with the management cluster,
	// not by clusterctl (which would download cert-manager).
	config.WriteString("cert-manager:\n  externallyProvisioned: \"true\"\nproviders:\n")
	listed := map[string]int{}
	for i, r := range releases {
		listed[r.name] = i
	}
	for i, r := range releases {
		releaseDir := filepath.Join(dir, r.label, r.version)
		if err := os.MkdirAll(releaseDir, 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(releaseDir, r.file), r.components, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(releaseDir, "metadata.yaml"), r.metadata, 0o600); err != nil {
			return nil, err
		}
		if listed[r.name] == i {
			fmt.Fprintf(&config, "- name: %q\n  type: %q\n  url: %q\n", r.name, r.providerType, filepath.Join(releaseDir, r.file))
		}
	}
	repo := &ClusterctlRepository{
		ConfigFile:             filepath.Join(dir, "clusterctl.yaml"),
		CoreProvider:           "cluster-api:" + capiVersion,
		BootstrapProvider:      Cabpk0sProviderName + ":" + Cabpk0sDevVersion,
		ControlPlaneProvider:   SimulatedK0smotronProviderName + ":" + simulatedVersion,
		InfrastructureProvider: SimulatedAWSProviderName + ":" + simulatedVersion,
	}
	return repo, os.WriteFile(repo.ConfigFile, []byte(config.String()), 0o600)
}

func kustomizeBuild(dir string) ([]byte, error) {
	bin, err := testenv.KustomizeBinary()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "build", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w: %s", dir, err, stderr.String())
	}
	return out, nil
}

// k0smotronMetadata is the stand-in k0smotron's metadata.yaml: 1.x
// implements Cluster API's v1beta1 contract, 2.x the v1beta2 one.
var k0smotronMetadata = []byte("apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n- major: 1\n  minor: 0\n  contract: v1beta1\n- major: 2\n  minor: 0\n  contract: v1beta2\n")

func simulatedMetadata(contract string) []byte {
	return []byte("apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n- major: 0\n  minor: 0\n  contract: " + contract + "\n")
}

// simulatedComponents are a simulated provider's components: its namespace,
// the CRDs of the kinds it stands in for, and a Deployment that no kubelet
// could run (its image does not exist) and the simulated kubelet runs
// in-process.
func simulatedComponents(name string, crds []*apiextensionsv1.CustomResourceDefinition) ([]byte, error) {
	namespace := name + "-system"
	podLabels := map[string]string{"control-plane": "controller-manager"}
	objs := []any{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: namespace}},
	}
	for _, crd := range crds {
		crd = crd.DeepCopy()
		crd.TypeMeta = metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"}
		objs = append(objs, crd)
	}
	objs = append(objs, &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-controller-manager", Labels: podLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "manager",
					Image: "simulated.invalid/" + name + ":" + simulatedVersion,
				}}},
			},
		},
	})
	var out bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out.Bytes(), nil
}
