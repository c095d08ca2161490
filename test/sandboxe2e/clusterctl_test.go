package sandboxe2e

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	clusterctl "sigs.k8s.io/cluster-api/cmd/clusterctl/client"
	clusterctllog "sigs.k8s.io/cluster-api/cmd/clusterctl/log"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/sandbox"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// Scenario 4: clusterctl init into two bare management clusters, and
// clusterctl move of a running cluster from one to the other.
var _ = Describe("clusterctl init and move between two management clusters", Ordered, func() {
	var (
		repo     *ClusterctlRepository
		cctl     clusterctl.Client
		from, to *testenv.BareManagement
		// before the move, on the source
		machines    map[string]clusterv1.Machine
		configs     map[string]bootstrapv1.K0sWorkerConfig
		dataSecrets map[string]corev1.Secret
		machineSets []string
		nodes       []string
		// the MachinePool's join token: live across the move
		poolToken string
		poolNodes []string
	)

	BeforeAll(func(ctx SpecContext) {
		clusterctllog.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.Level(zapcore.InfoLevel)).WithName("clusterctl"))
		dir := GinkgoT().TempDir()
		var err error
		repo, err = BuildClusterctlRepository(filepath.Join(dir, "repository"))
		Expect(err).NotTo(HaveOccurred())
		cctl, err = clusterctl.New(ctx, repo.ConfigFile)
		Expect(err).NotTo(HaveOccurred())

		// Both management clusters start at once: each is an API server
		// and etcd, a few seconds apiece.
		var wg sync.WaitGroup
		var errFrom, errTo error
		start := func(name string, m **testenv.BareManagement, errp *error) {
			defer wg.Done()
			defer GinkgoRecover()
			*m, *errp = testenv.StartBareManagement(context.Background(), simulation.WithClusterServices(testenv.BareManagementOptions{
				Name:              name,
				StateDir:          filepath.Join(dir, name),
				Logger:            zap.New(zap.WriteTo(GinkgoWriter), zap.Level(zapcore.InfoLevel)).WithName(name),
				ControllerManager: true,
			}, repo.Providers(sb.Workload)))
		}
		wg.Add(2)
		go start("source", &from, &errFrom)
		go start("target", &to, &errTo)
		wg.Wait()
		DeferCleanup(func() {
			for _, m := range []*testenv.BareManagement{from, to} {
				if m != nil {
					Expect(m.Stop()).To(Succeed())
				}
			}
		})
		Expect(errFrom).NotTo(HaveOccurred())
		Expect(errTo).NotTo(HaveOccurred())
	}, NodeTimeout(3*time.Minute))

	It("installs Cluster API, cabpk0s and the simulated providers with clusterctl init", func(ctx SpecContext) {
		for _, m := range []*testenv.BareManagement{from, to} {
			_, err := cctl.Init(ctx, clusterctl.InitOptions{
				Kubeconfig:              clusterctl.Kubeconfig{Path: m.Kubeconfig},
				CoreProvider:            repo.CoreProvider,
				BootstrapProviders:      []string{repo.BootstrapProvider},
				ControlPlaneProviders:   []string{repo.ControlPlaneProvider},
				InfrastructureProviders: []string{repo.InfrastructureProvider},
				// Every provider's Deployment reports available only once
				// the simulated kubelet runs its process.
				WaitProviders:       true,
				WaitProviderTimeout: 2 * time.Minute,
			})
			Expect(err).NotTo(HaveOccurred())

			providers := &clusterctlv1.ProviderList{}
			Expect(m.Client.List(ctx, providers)).To(Succeed())
			Expect(providers.Items).To(ContainElement(And(
				HaveField("ObjectMeta.Namespace", "cabpk0s-system"),
				HaveField("ObjectMeta.Name", "bootstrap-k0s"),
				HaveField("ProviderName", Cabpk0sProviderName),
				HaveField("Type", string(clusterctlv1.BootstrapProviderType)),
				HaveField("Version", Cabpk0sDevVersion),
			)))
			Expect(providers.Items).To(HaveLen(4))

			// cabpk0s's validating webhook answers through the Service
			// clusterctl installed, with the certificate cert-manager issued.
			invalid := &bootstrapv1.K0sWorkerConfig{
				ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "invalid"},
				Spec:       bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Files: []bootstrapv1.File{{Path: "/etc/a", Content: "1"}, {Path: "/etc/a", Content: "2"}}}},
			}
			err = m.Client.Create(ctx, invalid, client.DryRunAll)
			Expect(err).To(MatchError(ContainSubstring("Duplicate value")))
		}
	}, SpecTimeout(4*time.Minute))

	It("runs the seed's MachineDeployment and a MachinePool on the source until every instance joined", func(ctx SpecContext) {
		c := from.Client
		Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: moveNS}})).To(Succeed())
		Expect(sandbox.CreateSeedCluster(ctx, c, moveNS)).To(Succeed())
		// v1beta1, as the seed has it: converted by Cluster API's and
		// cabpk0s's conversion webhooks through their Services.
		applySampleTo(ctx, c, "awsmachinetemplate.yaml", moveNS)
		applySampleTo(ctx, c, "machinedeployment.yaml", moveNS)
		// A MachinePool keeps its join token (more instances may join), so
		// one token is live across the move.
		createMachinePool(ctx, c, moveNS, &bootstrapv1.K0sWorkerConfig{
			Spec: bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.27.2+k0s.0"}},
		})

		Eventually(func(g Gomega) {
			list := &clusterv1.MachineList{}
			g.Expect(c.List(ctx, list, client.InNamespace(moveNS))).To(Succeed())
			allRunning(g, list.Items, 2)
			poolRunning(g, ctx, c, nil)
		}).WithContext(ctx).Should(Succeed())
		poolConfig := bootstrapv1.K0sWorkerConfig{}
		Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: poolName}, &poolConfig)).To(Succeed())
		poolToken = poolConfig.Annotations[controllers.TokenIDAnnotation]
		Expect(poolToken).NotTo(BeEmpty())
		Eventually(func() []string { return moveTokens(ctx) }).WithContext(ctx).Should(ConsistOf(poolToken),
			"joined machines keep no tokens; the pool keeps its own")
		pool := &clusterv1.MachinePool{}
		Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: poolName}, pool)).To(Succeed())
		for _, n := range pool.Status.NodeRefs {
			poolNodes = append(poolNodes, n.Name)
		}

		machines, configs, dataSecrets = map[string]clusterv1.Machine{}, map[string]bootstrapv1.K0sWorkerConfig{}, map[string]corev1.Secret{}
		list := &clusterv1.MachineList{}
		Expect(c.List(ctx, list, client.InNamespace(moveNS))).To(Succeed())
		for _, m := range list.Items {
			machines[m.Name] = m
			nodes = append(nodes, m.Status.NodeRef.Name)
			name := m.Spec.Bootstrap.ConfigRef.Name
			config := bootstrapv1.K0sWorkerConfig{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: name}, &config)).To(Succeed())
			configs[name] = config
			s := corev1.Secret{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: ptr.Deref(m.Spec.Bootstrap.DataSecretName, "")}, &s)).To(Succeed())
			Expect(s.Annotations).To(HaveKey(controllers.TokenIDAnnotation), "the data names the token it carries")
			dataSecrets[s.Name] = s
		}
		configs[poolName] = poolConfig
		s := corev1.Secret{}
		Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: ptr.Deref(pool.Spec.Template.Spec.Bootstrap.DataSecretName, "")}, &s)).To(Succeed())
		Expect(s.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, poolToken))
		dataSecrets[s.Name] = s
		sets := &clusterv1.MachineSetList{}
		Expect(c.List(ctx, sets, client.InNamespace(moveNS))).To(Succeed())
		for _, ms := range sets.Items {
			machineSets = append(machineSets, ms.Name)
		}
	}, SpecTimeout(2*time.Minute))

	It("moves the running cluster with clusterctl move: status rebuilt on the target, no new token, nothing left behind", func(ctx SpecContext) {
		Expect(cctl.Move(ctx, clusterctl.MoveOptions{
			FromKubeconfig: clusterctl.Kubeconfig{Path: from.Kubeconfig},
			ToKubeconfig:   clusterctl.Kubeconfig{Path: to.Kubeconfig},
			Namespace:      moveNS,
		})).To(Succeed())
		c := to.Client

		By("configs and data Secrets arrived unchanged")
		for name, before := range configs {
			config := &bootstrapv1.K0sWorkerConfig{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: name}, config)).To(Succeed())
			Expect(config.Spec).To(Equal(before.Spec))
		}
		for name, before := range dataSecrets {
			s := &corev1.Secret{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: name}, s)).To(Succeed())
			Expect(s.Data).To(Equal(before.Data), "the bootstrap data is the same, join token included")
			Expect(s.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, before.Annotations[controllers.TokenIDAnnotation]))
		}

		By("cabpk0s on the target rebuilt every config's status from its Machine and data Secret")
		Eventually(func(g Gomega) {
			for name := range configs {
				config := &bootstrapv1.K0sWorkerConfig{}
				g.Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: name}, config)).To(Succeed())
				g.Expect(config.Status.DataSecretName).To(HaveValue(Equal(name)))
				g.Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()))
				owner := "Machine "
				if name == poolName {
					owner = "MachinePool "
				}
				g.Expect(config.Status.Conditions).To(ContainElement(And(
					HaveField("Type", bootstrapv1.ReadyCondition),
					HaveField("Status", metav1.ConditionTrue),
					HaveField("Message", HavePrefix("Status rebuilt from "+owner)),
				)), name)
				s := &corev1.Secret{}
				g.Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: name}, s)).To(Succeed())
				g.Expect(metav1.IsControlledBy(s, config)).To(BeTrue(), "the data Secret is controlled by the moved config")
			}
		}).WithContext(ctx).Should(Succeed())

		By("the Machines run on, with the same Nodes, none replaced")
		Eventually(func(g Gomega) {
			list := &clusterv1.MachineList{}
			g.Expect(c.List(ctx, list, client.InNamespace(moveNS))).To(Succeed())
			allRunning(g, list.Items, len(machines))
			for _, m := range list.Items {
				g.Expect(machines).To(HaveKey(m.Name))
				g.Expect(m.Status.NodeRef.Name).To(Equal(machines[m.Name].Status.NodeRef.Name))
			}
			poolRunning(g, ctx, c, poolNodes)
		}).WithContext(ctx).Should(Succeed())
		sets := &clusterv1.MachineSetList{}
		Expect(c.List(ctx, sets, client.InNamespace(moveNS))).To(Succeed())
		Expect(sets.Items).To(HaveLen(len(machineSets)))
		for _, ms := range sets.Items {
			Expect(machineSets).To(ContainElement(ms.Name), "no rollout after the move")
		}

		By("no join token was minted or revoked, and no bootstrap data rewritten")
		Expect(moveTokens(ctx)).To(ConsistOf(poolToken), "the pool's token, and no other")
		for _, s := range dataSecrets {
			id := s.Annotations[controllers.TokenIDAnnotation]
			if id == poolToken {
				continue
			}
			Expect(wl.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: bootstrapapi.BootstrapTokenSecretPrefix + id}, &corev1.Secret{})).
				NotTo(Succeed(), "the token of a joined machine stays revoked")
		}
		poolConfig := &bootstrapv1.K0sWorkerConfig{}
		Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: poolName}, poolConfig)).To(Succeed())
		Expect(poolConfig.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, poolToken))
		Expect(poolConfig.Finalizers).To(ContainElement(controllers.TokenFinalizer), "the target revokes the pool's token when the config goes")
		// A new instance of the pool still joins with the moved data.
		poolData := dataSecrets[poolName]
		booted, err := simulation.Boot(ctx, poolData.Data["value"], string(poolData.Data["format"]),
			simulation.Machine{Hostname: poolName + "-after-move", DataDir: GinkgoT().TempDir()})
		Expect(err).NotTo(HaveOccurred())
		Expect(booted.Requester(ctx, wl)).To(HaveField("Username", "system:bootstrap:"+poolToken), "the node's certificate was requested with the pool's token")
		for name, before := range dataSecrets {
			s := &corev1.Secret{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: name}, s)).To(Succeed())
			Expect(s.Data).To(Equal(before.Data), "cabpk0s on the target rewrote no bootstrap data")
		}
		events := &eventsv1.EventList{}
		Expect(c.List(ctx, events, client.InNamespace(moveNS))).To(Succeed())
		for _, e := range events.Items {
			if e.Regarding.Kind == "K0sWorkerConfig" {
				Expect(e.Reason).NotTo(BeElementOf("DataSecretUpdated", "JoinTokenMissing"), e.Note)
			}
		}
		workloadNodes := &corev1.NodeList{}
		Expect(wl.List(ctx, workloadNodes)).To(Succeed())
		for _, n := range nodes {
			Expect(workloadNodes.Items).To(ContainElement(HaveField("ObjectMeta.Name", n)))
		}

		By("nothing of the cluster is left on the source")
		for _, gvk := range []schema.GroupVersionKind{
			clusterv1.GroupVersion.WithKind("ClusterList"),
			clusterv1.GroupVersion.WithKind("MachineDeploymentList"),
			clusterv1.GroupVersion.WithKind("MachineSetList"),
			clusterv1.GroupVersion.WithKind("MachineList"),
			clusterv1.GroupVersion.WithKind("MachinePoolList"),
			testenv.AWSMachinePoolGVK.GroupVersion().WithKind("AWSMachinePoolList"),
			bootstrapv1.GroupVersion.WithKind("K0sWorkerConfigList"),
			bootstrapv1.GroupVersion.WithKind("K0sWorkerConfigTemplateList"),
			testenv.AWSClusterGVK.GroupVersion().WithKind("AWSClusterList"),
			testenv.AWSMachineGVK.GroupVersion().WithKind("AWSMachineList"),
			testenv.AWSMachineTemplateGVK.GroupVersion().WithKind("AWSMachineTemplateList"),
			testenv.K0smotronControlPlaneGVK.GroupVersion().WithKind("K0smotronControlPlaneList"),
			corev1.SchemeGroupVersion.WithKind("SecretList"),
		} {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk)
			Expect(from.Client.List(ctx, list, client.InNamespace(moveNS))).To(Succeed())
			Expect(list.Items).To(BeEmpty(), gvk.Kind)
		}
		cluster := &clusterv1.Cluster{}
		Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: sandbox.SeedCluster}, cluster)).To(Succeed())
		Expect(ptr.Deref(cluster.Spec.Paused, false)).To(BeFalse(), "the target resumed the Cluster")
	}, SpecTimeout(3*time.Minute))
})

const (
	// moveNS holds the moved cluster: the seed's MachineDeployment and a
	// MachinePool, in a namespace of their own so their join tokens are
	// told apart from the other scenarios' in the shared workload cluster.
	moveNS = "move"
	// poolName names the MachinePool of the moved cluster, its
	// K0sWorkerConfig and its AWSMachinePool.
	poolName = "pool-test"
)

// createMachinePool creates a MachinePool of one instance bootstrapped by
// config (a K0sWorkerConfig, in any API version; named poolName here), on a
// (simulated) AWSMachinePool.
func createMachinePool(ctx SpecContext, c client.Client, namespace string, config client.Object) {
	GinkgoHelper()
	config.SetNamespace(namespace)
	config.SetName(poolName)
	Expect(c.Create(ctx, config)).To(Succeed())
	infra := &unstructured.Unstructured{}
	infra.SetGroupVersionKind(testenv.AWSMachinePoolGVK)
	infra.SetNamespace(namespace)
	infra.SetName(poolName)
	infra.Object["spec"] = map[string]any{"minSize": int64(1), "maxSize": int64(3), "awsLaunchTemplate": map[string]any{"instanceType": "t3.medium"}}
	Expect(c.Create(ctx, infra)).To(Succeed())
	Expect(c.Create(ctx, &clusterv1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: poolName},
		Spec: clusterv1.MachinePoolSpec{
			ClusterName: sandbox.SeedCluster,
			Replicas:    ptr.To[int32](1),
			Template: clusterv1.MachineTemplateSpec{Spec: clusterv1.MachineSpec{
				ClusterName:       sandbox.SeedCluster,
				Version:           "v1.27.2",
				Bootstrap:         clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: poolName}},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: testenv.AWSMachinePoolGVK.Group, Kind: testenv.AWSMachinePoolGVK.Kind, Name: poolName},
			}},
		},
	})).To(Succeed())
}

// poolRunning succeeds when the MachinePool runs its one instance, on the
// Nodes named (any, when nodes is nil).
func poolRunning(g Gomega, ctx context.Context, c client.Client, nodes []string) {
	pool := &clusterv1.MachinePool{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: moveNS, Name: poolName}, pool)).To(Succeed())
	g.Expect(pool.Status.Phase).To(Equal(string(clusterv1.MachinePoolPhaseRunning)))
	g.Expect(pool.Status.NodeRefs).To(HaveLen(1))
	if nodes != nil {
		g.Expect(pool.Status.NodeRefs).To(HaveExactElements(HaveField("Name", nodes[0])))
	}
}

// moveTokens lists the workload cluster's bootstrap tokens made for
// configs of the moved cluster's namespace.
func moveTokens(ctx context.Context) []string {
	list := &corev1.SecretList{}
	Expect(wl.List(ctx, list, client.InNamespace(metav1.NamespaceSystem))).To(Succeed())
	var ids []string
	for _, s := range list.Items {
		if s.Type == bootstrapapi.SecretTypeBootstrapToken && strings.Contains(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey]), "K0sWorkerConfig move/") {
			ids = append(ids, string(s.Data[bootstrapapi.BootstrapTokenIDKey]))
		}
	}
	return ids
}
