//go:build e2e

package e2e

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "sigs.k8s.io/cluster-api-provider-aws/v2/api/v1beta2"
	"sigs.k8s.io/cluster-api/test/framework"
	"sigs.k8s.io/cluster-api/test/framework/bootstrap"
	"sigs.k8s.io/cluster-api/test/framework/clusterctl"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// Flags, as in Cluster API's own suite.
var (
	configPath          string
	artifactFolder      string
	skipCleanup         bool
	useExistingCluster  bool
	clusterctlConfigArg string
	reinstallProviders  bool
)

// Suite state, shared by the specs.
var (
	ctx                   = ctrl.SetupSignalHandler()
	e2eConfig             *clusterctl.E2EConfig
	clusterctlConfigPath  string
	bootstrapClusterProxy framework.ClusterProxy
	bootstrapProvider     bootstrap.ClusterProvider
)

func init() {
	flag.StringVar(&configPath, "e2e.config", "", "path to the e2e config file (config/docker.yaml or config/aws.yaml)")
	flag.StringVar(&artifactFolder, "e2e.artifacts-folder", "_artifacts", "folder where e2e test artifacts (logs, resources, clusterctl describe output) are stored")
	flag.BoolVar(&skipCleanup, "e2e.skip-resource-cleanup", false, "if true, the resources and the management cluster are kept after the run")
	flag.BoolVar(&useExistingCluster, "e2e.use-existing-cluster", false, "if true, the management cluster is the current KUBECONFIG context instead of a new kind cluster")
	flag.StringVar(&clusterctlConfigArg, "e2e.clusterctl-config", "", "an existing clusterctl config to use instead of building a local repository")
	flag.BoolVar(&reinstallProviders, "e2e.reinstall-providers", false, "with -e2e.use-existing-cluster: remove the providers installed there (clusterctl delete --all) and install the ones of this run")
}

func TestE2E(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	klog.SetLogger(ctrl.Log)
	RegisterFailHandler(Fail)
	RunSpecs(t, "cabpk0s e2e")
}

// suiteData is what the first Ginkgo process hands to all the others.
type suiteData struct {
	ArtifactFolder       string `json:"artifactFolder"`
	ConfigPath           string `json:"configPath"`
	ClusterctlConfigPath string `json:"clusterctlConfigPath"`
	KubeconfigPath       string `json:"kubeconfigPath"`
}

var _ = SynchronizedBeforeSuite(func() []byte {
	Expect(configPath).To(BeAnExistingFile(), "-e2e.config must name an e2e config file")
	Expect(os.MkdirAll(artifactFolder, 0o750)).To(Succeed())
	folder, err := filepath.Abs(artifactFolder)
	Expect(err).NotTo(HaveOccurred())

	By("Loading the e2e config from " + configPath)
	config, err := loadE2EConfig(ctx, configPath)
	Expect(err).NotTo(HaveOccurred())

	By("Creating the local clusterctl repository")
	clusterctlConfig := clusterctlConfigArg
	if clusterctlConfig == "" {
		clusterctlConfig = clusterctl.CreateRepository(ctx, clusterctl.CreateRepositoryInput{
			E2EConfig:        config,
			RepositoryFolder: filepath.Join(folder, "repository"),
		})
	}

	By("Setting up the management cluster")
	provider, proxy := setupManagementCluster(config, folder)

	if useExistingCluster && reinstallProviders {
		By("Removing the providers of an earlier run from the existing management cluster")
		clusterctl.Delete(ctx, clusterctl.DeleteInput{
			LogFolder:            filepath.Join(folder, "clusters", proxy.GetName()),
			ClusterctlConfigPath: clusterctlConfig,
			KubeconfigPath:       proxy.GetKubeconfigPath(),
		})
	}

	By("Initializing the management cluster with clusterctl")
	initManagementCluster(config, proxy, clusterctlConfig, bootstrapProviderName, filepath.Join(folder, "clusters", proxy.GetName()),
		config.GetIntervals("bootstrap", "wait-controllers"))

	data, err := json.Marshal(suiteData{
		ArtifactFolder:       folder,
		ConfigPath:           configPath,
		ClusterctlConfigPath: clusterctlConfig,
		KubeconfigPath:       proxy.GetKubeconfigPath(),
	})
	Expect(err).NotTo(HaveOccurred())
	bootstrapProvider = provider
	return data
}, func(data []byte) {
	var sd suiteData
	Expect(json.Unmarshal(data, &sd)).To(Succeed())
	artifactFolder = sd.ArtifactFolder
	clusterctlConfigPath = sd.ClusterctlConfigPath
	config, err := loadE2EConfig(ctx, sd.ConfigPath)
	Expect(err).NotTo(HaveOccurred())
	e2eConfig = config
	bootstrapClusterProxy = framework.NewClusterProxy("bootstrap", sd.KubeconfigPath, newScheme(), clusterProxyOptions(config)...)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	if bootstrapClusterProxy != nil {
		dumpManagementCluster(bootstrapClusterProxy)
	}
	if skipCleanup {
		return
	}
	By("Tearing down the management cluster")
	disposeCluster(bootstrapClusterProxy, bootstrapProvider)
})

// newScheme knows Cluster API's types, CAPA's and cabpk0s's.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	framework.TryAddDefaultSchemes(scheme)
	utilruntime.Must(bootstrapv1beta1.AddToScheme(scheme))
	utilruntime.Must(bootstrapv1.AddToScheme(scheme))
	utilruntime.Must(infrav1.AddToScheme(scheme))
	return scheme
}

// clusterProxyOptions collects machine logs the way the infrastructure allows.
func clusterProxyOptions(config *clusterctl.E2EConfig) []framework.Option {
	if infrastructureProvider(config) == dockerProviderName {
		return []framework.Option{framework.WithMachineLogCollector(k0sDockerLogCollector())}
	}
	return nil
}

// setupManagementCluster creates a kind cluster (loading the images the
// config lists) or uses the current kubeconfig context.
func setupManagementCluster(config *clusterctl.E2EConfig, folder string) (bootstrap.ClusterProvider, framework.ClusterProxy) {
	kubeconfig := ""
	var provider bootstrap.ClusterProvider
	if useExistingCluster {
		kubeconfig = os.Getenv("KUBECONFIG")
		if kubeconfig == "" {
			kubeconfig = filepath.Join(os.Getenv("HOME"), ".kube", "config")
		}
		// Only the first path of a KUBECONFIG list.
		kubeconfig = strings.Split(kubeconfig, string(os.PathListSeparator))[0]
	} else {
		version, _ := variable(config, varKubernetesVersionMgmt)
		ipFamily, _ := variable(config, "IP_FAMILY")
		provider = bootstrap.CreateKindBootstrapClusterAndLoadImages(ctx, bootstrap.CreateKindBootstrapClusterAndLoadImagesInput{
			Name:               config.ManagementClusterName,
			KubernetesVersion:  version,
			RequiresDockerSock: config.HasDockerProvider(),
			Images:             config.Images,
			IPFamily:           ipFamily,
			LogFolder:          filepath.Join(folder, "kind"),
		})
		Expect(provider).NotTo(BeNil(), "failed to create the kind management cluster")
		kubeconfig = provider.GetKubeconfigPath()
	}
	Expect(kubeconfig).To(BeAnExistingFile(), "the management cluster's kubeconfig must exist")
	return provider, framework.NewClusterProxy("bootstrap", kubeconfig, newScheme(), clusterProxyOptions(config)...)
}

// initManagementCluster runs clusterctl init with Cluster API, k0smotron's
// control plane, cabpk0s (bootstrapProviderName, or "name:version" for a
// release) and the infrastructure provider (skipped when the providers are
// already there, as with -e2e.use-existing-cluster), waiting for the
// controllers as long as intervals allow.
func initManagementCluster(config *clusterctl.E2EConfig, proxy framework.ClusterProxy, clusterctlConfig, cabpk0s, logFolder string, intervals []any) {
	clusterctl.InitManagementClusterAndWatchControllerLogs(ctx, clusterctl.InitManagementClusterAndWatchControllerLogsInput{
		ClusterProxy:            proxy,
		ClusterctlConfigPath:    clusterctlConfig,
		CoreProvider:            coreProviderName,
		BootstrapProviders:      []string{cabpk0s},
		ControlPlaneProviders:   []string{controlPlaneProviderName},
		InfrastructureProviders: config.InfrastructureProviders(),
		LogFolder:               logFolder,
	}, intervals...)
}

// disposeCluster tears down a kind cluster the suite created and its proxy,
// unless -e2e.skip-resource-cleanup keeps them. Either may be nil (set up
// only part way).
func disposeCluster(proxy framework.ClusterProxy, provider bootstrap.ClusterProvider) {
	if skipCleanup {
		return
	}
	if proxy != nil {
		proxy.Dispose(ctx)
	}
	if provider != nil {
		provider.Dispose(ctx)
	}
}
