package templates

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/version"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/cmd/clusterctl/client/config"
	"sigs.k8s.io/cluster-api/cmd/clusterctl/client/repository"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The provider as clusterctl knows it: bootstrap-k0s.
const (
	providerName  = "k0s"
	providerLabel = "bootstrap-k0s"
	managerImage  = "ghcr.io/cabpk0s/cabpk0s-controller"
)

// tiltProvider is an entry of tilt-provider.yaml, as Cluster API's Tiltfile
// reads it.
type tiltProvider struct {
	Name   string `json:"name"`
	Config struct {
		Image           string   `json:"image"`
		Context         string   `json:"context"`
		GoMain          string   `json:"go_main"`
		KustomizeFolder string   `json:"kustomize_folder"`
		Label           string   `json:"label"`
		Version         string   `json:"version"`
		LiveReloadDeps  []string `json:"live_reload_deps"`
	} `json:"config"`
}

// clusterctlSettings is clusterctl-settings.json, as Cluster API's
// cmd/clusterctl/hack/create-local-repository.py reads it.
type clusterctlSettings struct {
	Name   string `json:"name"`
	Config struct {
		ComponentsFile string `json:"componentsFile"`
		ConfigFolder   string `json:"configFolder"`
		NextVersion    string `json:"nextVersion"`
	} `json:"config"`
}

// TestTiltProvider checks that tilt-provider.yaml points at paths that exist,
// live-reloads the source trees, and names the image the manifest uses.
func TestTiltProvider(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "tilt-provider.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var providers []tiltProvider
	g.Expect(yaml.UnmarshalStrict(data, &providers)).To(Succeed())
	g.Expect(providers).To(HaveLen(1))
	p := providers[0].Config

	context := filepath.Join(root, p.Context)
	g.Expect(filepath.Join(context, p.GoMain)).To(BeAnExistingFile())
	g.Expect(filepath.Join(context, p.KustomizeFolder, "kustomization.yaml")).To(BeAnExistingFile())
	for _, dep := range p.LiveReloadDeps {
		_, err := os.Stat(filepath.Join(context, dep))
		g.Expect(err).NotTo(HaveOccurred(), "live_reload_deps: %s", dep)
	}
	g.Expect(p.LiveReloadDeps).To(ContainElements("api", "controllers", "internal", "cmd"))

	// Tilt swaps the image by name: the manifest must use it (any tag).
	manifest := string(kustomizeBuild(t, filepath.Join(context, p.KustomizeFolder)))
	g.Expect(p.Image).To(Equal(managerImage))
	g.Expect(manifest).To(ContainSubstring("image: " + p.Image + ":"))
	validateProviderVersion(t, filepath.Join(root, "metadata.yaml"), providerName, clusterctlv1.BootstrapProviderType, p.Version)
}

// TestClusterctlSettings checks clusterctl-settings.json the same way.
func TestClusterctlSettings(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "clusterctl-settings.json"))
	g.Expect(err).NotTo(HaveOccurred())
	var s clusterctlSettings
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	g.Expect(dec.Decode(&s)).To(Succeed())
	g.Expect(s.Name).To(Equal(providerLabel))
	g.Expect(s.Config.ComponentsFile).To(Equal("bootstrap-components.yaml"))
	g.Expect(filepath.Join(root, s.Config.ConfigFolder, "kustomization.yaml")).To(BeAnExistingFile())
	validateProviderVersion(t, filepath.Join(root, "metadata.yaml"), providerName, clusterctlv1.BootstrapProviderType, s.Config.NextVersion)
}

// TestTiltfile checks that the paths the standalone Tiltfile uses exist.
func TestTiltfile(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "Tiltfile"))
	g.Expect(err).NotTo(HaveOccurred())
	tiltfile := string(data)
	for _, path := range []string{
		"config/default", "metadata.yaml", "./cmd/manager", "templates/cluster-template-docker.yaml",
		"api", "cmd", "controllers", "internal", "go.mod", "go.sum",
	} {
		g.Expect(tiltfile).To(ContainSubstring(path))
		_, err := os.Stat(filepath.Join(root, path))
		g.Expect(err).NotTo(HaveOccurred(), "the Tiltfile uses %s", path)
	}
	g.Expect(tiltfile).To(ContainSubstring(managerImage))
}

// TestMetadata runs metadata.yaml, and the metadata files the e2e configs
// ship for released providers, through clusterctl's own reading and
// validation (the repository client's metadata Get, which checks apiVersion,
// kind and release series since v1.11), then checks, as clusterctl's
// installer does, that the versions we install have a release series.
func TestMetadata(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot()
	k0smotron := map[string]bool{}
	for _, name := range []string{"docker", "aws"} {
		k0smotron[loadE2EConfig(t, name).Variables["K0SMOTRON_VERSION"]] = true
	}
	k0smotronVersions := slices.Sorted(maps.Keys(k0smotron))
	for _, tc := range []struct {
		file     string
		name     string
		typ      clusterctlv1.ProviderType
		versions []string
	}{
		// This provider: the first release, the next one (Tilt, e2e).
		{"metadata.yaml", providerName, clusterctlv1.BootstrapProviderType, []string{"v0.1.0", "v0.1.99"}},
		{"e2e/data/shared/capi/metadata.yaml", "cluster-api", clusterctlv1.CoreProviderType, []string{"v1.14.2"}},
		// The k0smotron release the e2e configs install.
		{"e2e/data/shared/k0smotron/metadata.yaml", "k0sproject-k0smotron", clusterctlv1.ControlPlaneProviderType, k0smotronVersions},
		{"e2e/data/shared/capa/metadata.yaml", "aws", clusterctlv1.InfrastructureProviderType, []string{"v2.13.0"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			for _, v := range tc.versions {
				validateProviderVersion(t, filepath.Join(root, tc.file), tc.name, tc.typ, v)
			}
		})
	}
}

// validateProviderVersion reads metadata through clusterctl's repository
// client from a local repository laid out as clusterctl expects, and checks
// that version belongs to a release series.
func validateProviderVersion(t *testing.T, metadataFile, name string, typ clusterctlv1.ProviderType, providerVersion string) {
	t.Helper()
	g := NewWithT(t)
	dir := t.TempDir()
	label := clusterctlv1.ManifestLabel(name, typ)
	versionDir := filepath.Join(dir, label, providerVersion)
	g.Expect(os.MkdirAll(versionDir, 0o750)).To(Succeed())
	data, err := os.ReadFile(metadataFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(versionDir, "metadata.yaml"), data, 0o600)).To(Succeed())
	components := filepath.Join(versionDir, "components.yaml")
	g.Expect(os.WriteFile(components, nil, 0o600)).To(Succeed())
	configFile := filepath.Join(dir, "clusterctl.yaml")
	g.Expect(os.WriteFile(configFile, []byte("{}\n"), 0o600)).To(Succeed())

	ctx := context.Background()
	configClient, err := config.New(ctx, configFile)
	g.Expect(err).NotTo(HaveOccurred())
	repo, err := repository.New(ctx, config.NewProvider(name, components, typ), configClient)
	g.Expect(err).NotTo(HaveOccurred())
	md, err := repo.Metadata(providerVersion).Get(ctx)
	g.Expect(err).NotTo(HaveOccurred(), "clusterctl rejects %s", metadataFile)
	v, err := version.ParseSemantic(providerVersion)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(md.GetReleaseSeriesForVersion(v)).NotTo(BeNil(), "%s has no release series for %s", metadataFile, providerVersion)
}
