//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/test/framework"
	"sigs.k8s.io/cluster-api/test/framework/bootstrap"
	"sigs.k8s.io/cluster-api/test/framework/clusterctl"
)

// releaseURL is where cabpk0s publishes its release assets.
const releaseURL = "https://github.com/cabpk0s/cabpk0s/releases/download/%s/%s"

// clusterctl upgrade: a management cluster runs the previous cabpk0s
// release (CABPK0S_UPGRADE_FROM) with a workload cluster on it;
// `clusterctl upgrade apply` moves cabpk0s to this checkout; the existing
// workers stay, their configs stay Ready, and a new worker joins.
var _ = Describe("clusterctl upgrade", func() {
	var (
		spec      *clusterSpec
		mgmt      bootstrap.ClusterProvider
		mgmtProxy framework.ClusterProxy
	)

	BeforeEach(func() {
		onlyOn(dockerProviderName, "it needs a second kind management cluster")
		from, _ := variable(e2eConfig, varCabpk0sUpgradeFrom)
		if from == "" {
			Skip("no previous cabpk0s release exists yet to upgrade from: set CABPK0S_UPGRADE_FROM " +
				"(in the e2e config or the environment) to a released version, e.g. v0.1.0, once one is published")
		}
	})

	AfterEach(func() {
		if spec != nil {
			spec.cleanup()
		}
		disposeCluster(mgmtProxy, mgmt)
	})

	It("upgrades cabpk0s from the previous release", func() {
		from, _ := variable(e2eConfig, varCabpk0sUpgradeFrom)
		folder := filepath.Join(artifactFolder, "clusterctl-upgrade")
		Expect(os.MkdirAll(folder, 0o750)).To(Succeed())

		By("Adding cabpk0s " + from + " to a copy of the local repository")
		config := e2eConfig.DeepCopy()
		metadata := filepath.Join(folder, "metadata-"+from+".yaml")
		download(fmt.Sprintf(releaseURL, from, "metadata.yaml"), metadata)
		for i := range config.Providers {
			p := &config.Providers[i]
			if p.Name == bootstrapProviderName {
				p.Versions = append([]clusterctl.ProviderVersionSource{{
					Name:     from,
					Value:    fmt.Sprintf(releaseURL, from, "bootstrap-components.yaml"),
					Type:     clusterctl.URLSource,
					Contract: clusterv1.GroupVersion.Version,
					Files:    []clusterctl.Files{{SourcePath: metadata, TargetName: "metadata.yaml"}},
				}}, p.Versions...)
			}
		}
		upgradeConfig := clusterctl.CreateRepository(ctx, clusterctl.CreateRepositoryInput{
			E2EConfig: config, RepositoryFolder: filepath.Join(folder, "repository"),
		})

		By("Creating a management cluster with cabpk0s " + from)
		mgmt = bootstrap.CreateKindBootstrapClusterAndLoadImages(ctx, bootstrap.CreateKindBootstrapClusterAndLoadImagesInput{
			Name:               e2eConfig.ManagementClusterName + "-upgrade",
			KubernetesVersion:  e2eConfig.MustGetVariable(varKubernetesVersionMgmt),
			RequiresDockerSock: true,
			Images:             e2eConfig.Images,
			LogFolder:          filepath.Join(folder, "kind"),
		})
		Expect(mgmt).NotTo(BeNil())
		mgmtProxy = framework.NewClusterProxy("upgrade", mgmt.GetKubeconfigPath(), newScheme(), clusterProxyOptions(e2eConfig)...)
		initManagementCluster(e2eConfig, mgmtProxy, upgradeConfig, bootstrapProviderName+":"+from, filepath.Join(folder, "clusters", mgmtProxy.GetName()),
			e2eConfig.GetIntervals("clusterctl-upgrade", "wait-controllers"))

		ns, cancel := framework.SetupSpecNamespace(ctx, "clusterctl-upgrade", mgmtProxy, artifactFolder, nil)
		spec = &clusterSpec{name: "clusterctl-upgrade", proxy: mgmtProxy, namespace: ns, cancelWatch: cancel,
			result: &clusterctl.ApplyClusterTemplateAndWaitResult{}}
		spec.createCluster("", 1, nil)
		cluster := spec.result.Cluster
		verifyWorkers(mgmtProxy, cluster, defaultExpectations(2))
		before := workerNodes(mgmtProxy, cluster)

		By("Upgrading cabpk0s to this checkout with clusterctl upgrade apply")
		clusterctl.UpgradeManagementClusterAndWait(ctx, clusterctl.UpgradeManagementClusterAndWaitInput{
			ClusterProxy:         mgmtProxy,
			ClusterctlConfigPath: upgradeConfig,
			Contract:             clusterv1.GroupVersion.Version,
			LogFolder:            filepath.Join(folder, "clusters", mgmtProxy.GetName()),
		}, e2eConfig.GetIntervals("clusterctl-upgrade", "wait-controllers")...)

		By("Checking the workers are untouched and a new one joins")
		verifyWorkers(mgmtProxy, cluster, defaultExpectations(2))
		Expect(workerNodes(mgmtProxy, cluster)).To(Equal(before))
		scaleWorkers(mgmtProxy, cluster, spec.name, 2)
	})
})

// download fetches a release asset to a file.
func download(url, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred(), "fetching %s", url)
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "fetching %s", url)
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
}
