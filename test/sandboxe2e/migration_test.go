package sandboxe2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctl "sigs.k8s.io/cluster-api/cmd/clusterctl/client"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/migrationcheck"
	"github.com/cabpk0s/cabpk0s/internal/sandbox"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// Scenario 6: a management cluster that k0smotron's bootstrap provider ran
// switches to cabpk0s in place, with the steps of
// docs/migration-from-k0smotron.md, run with clusterctl as a user would;
// once for each k0smotron release line (1.x stores v1beta1, 2.x v1beta2).
// Each run has its own management and workload clusters, so the workload's
// k0smotron tokens are the run's own.
var _ = Describe("Switching a management cluster from k0smotron's bootstrap provider in place", func() {
	for _, storage := range []string{testenv.K0smotron1, testenv.K0smotron2} {
		migrationScenario(storage)
	}
})

// The objects of a migration run, in namespace migrationNS of its own
// management cluster.
const (
	migrationNS = "migrate"
	// migrationMD is the seed's MachineDeployment.
	migrationMD = "md-test"
	// extraWorker is a Machine whose config uses k0smotron's fields beyond
	// the defaults; they must survive the switch.
	extraWorker = "extra-worker"
	// refusedConfig is a config k0smotron stored that cabpk0s's schema
	// refuses: the pre-switch check reports it.
	refusedConfig = "refused"
)

func migrationScenario(storage string) {
	release := k0smotronReleases[storage]
	Describe(fmt.Sprintf("k0smotron %s (stores %s)", release, storage), Ordered, func() {
		var (
			repo *ClusterctlRepository
			cctl clusterctl.Client
			m    *testenv.BareManagement
			w    *testenv.Workload
			hold atomic.Bool
			c    client.Client
			// Before the switch.
			booted      []string // configs k0smotron bootstrapped: the MachineDeployment's, extraWorker and the pool
			pending     string   // the MachineDeployment's config left without data at the switch
			dataBefore  map[string]corev1.Secret
			k0smotronOf map[string]string // config -> the k0smotron token its data carries
			extraSpec   map[string]any    // extraWorker's spec as k0smotron stored it
		)
		configGVK := schema.GroupVersionKind{Group: bootstrapv1.GroupVersion.Group, Version: storage, Kind: "K0sWorkerConfig"}

		BeforeAll(func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			var err error
			repo, err = BuildClusterctlRepository(filepath.Join(dir, "repository"))
			Expect(err).NotTo(HaveOccurred())
			cctl, err = clusterctl.New(ctx, repo.ConfigFile)
			Expect(err).NotTo(HaveOccurred())
			w, err = testenv.StartWorkload(context.Background())
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { Expect(w.Stop()).To(Succeed()) })
			m, err = testenv.StartBareManagement(context.Background(), simulation.WithClusterServices(testenv.BareManagementOptions{
				Name:              "k0smotron-" + storage,
				StateDir:          filepath.Join(dir, "management"),
				Logger:            zap.New(zap.WriteTo(GinkgoWriter), zap.Level(zapcore.InfoLevel)).WithName("k0smotron-" + storage),
				ControllerManager: true,
			}, repo.ProvidersWithK0smotron(w, storage, &hold)))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { Expect(m.Stop()).To(Succeed()) })
			c = m.Client
		}, NodeTimeout(3*time.Minute))

		It("runs a cluster bootstrapped by k0smotron: a MachineDeployment mid-scale, a Machine and a MachinePool", func(ctx SpecContext) {
			_, err := cctl.Init(ctx, clusterctl.InitOptions{
				Kubeconfig:              clusterctl.Kubeconfig{Path: m.Kubeconfig},
				CoreProvider:            repo.CoreProvider,
				BootstrapProviders:      []string{repo.K0smotronBootstrapProvider(storage)},
				ControlPlaneProviders:   []string{repo.ControlPlaneProvider},
				InfrastructureProviders: []string{repo.InfrastructureProvider},
				WaitProviders:           true,
				WaitProviderTimeout:     2 * time.Minute,
			})
			Expect(err).NotTo(HaveOccurred())

			Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: migrationNS}})).To(Succeed())
			Expect(sandbox.CreateSeedCluster(ctx, c, migrationNS)).To(Succeed())
			applySampleTo(ctx, c, "awsmachinetemplate.yaml", migrationNS)
			applySampleTo(ctx, c, "machinedeployment.yaml", migrationNS)
			createK0smotronWorker(ctx, c, configGVK, extraWorker, k0smotronExtraSpec(storage))
			poolConfig := &unstructured.Unstructured{}
			poolConfig.SetGroupVersionKind(configGVK)
			poolConfig.Object["spec"] = map[string]any{"version": "v1.27.2+k0s.0"}
			createMachinePool(ctx, c, migrationNS, poolConfig)
			// Stored, never used by a Machine: a config cabpk0s's schema
			// refuses.
			refused := &unstructured.Unstructured{}
			refused.SetGroupVersionKind(configGVK)
			refused.SetNamespace(migrationNS)
			refused.SetName(refusedConfig)
			refused.Object["spec"] = k0smotronRefusedSpec(storage)
			Expect(c.Create(ctx, refused)).To(Succeed())

			Eventually(func(g Gomega) {
				machines := &clusterv1.MachineList{}
				g.Expect(c.List(ctx, machines, client.InNamespace(migrationNS))).To(Succeed())
				allRunning(g, machines.Items, 3)
				pool := &clusterv1.MachinePool{}
				g.Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: poolName}, pool)).To(Succeed())
				g.Expect(pool.Status.NodeRefs).To(HaveLen(1))
			}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())

			By("a scale-up in flight: k0smotron stops before it bootstraps the new Machine")
			hold.Store(true)
			scaleMachineDeployment(ctx, c, 3)
			Eventually(func(g Gomega) {
				for _, machine := range machinesOf(ctx, g, c, migrationMD) {
					if name := machine.Spec.Bootstrap.ConfigRef.Name; machine.Spec.Bootstrap.DataSecretName == nil && name != "" {
						pending = name
					}
				}
				g.Expect(pending).NotTo(BeEmpty())
				config := &unstructured.Unstructured{}
				config.SetGroupVersionKind(configGVK)
				g.Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: pending}, config)).To(Succeed())
			}).WithContext(ctx).Should(Succeed())

			dataBefore, k0smotronOf = map[string]corev1.Secret{}, map[string]string{}
			machines := &clusterv1.MachineList{}
			Expect(c.List(ctx, machines, client.InNamespace(migrationNS))).To(Succeed())
			names := []string{poolName}
			for _, machine := range machines.Items {
				if machine.Spec.Bootstrap.DataSecretName != nil {
					names = append(names, machine.Spec.Bootstrap.ConfigRef.Name)
				}
			}
			booted = names
			Expect(booted).To(HaveLen(4))
			for _, name := range booted {
				s := corev1.Secret{}
				Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: name}, &s)).To(Succeed())
				Expect(s.Annotations).NotTo(HaveKey(controllers.TokenIDAnnotation), "k0smotron's data names no token")
				dataBefore[name] = s
				token, err := simulation.JoinTokenFromBootstrapData(s.Data["value"], string(s.Data["format"]))
				Expect(err).NotTo(HaveOccurred())
				parsed, err := jointoken.Worker.FromJoinToken(token)
				Expect(err).NotTo(HaveOccurred())
				k0smotronOf[name] = parsed.ID
			}
			Expect(k0smotronTokens(ctx, w)).To(ContainElements(values(k0smotronOf)), "k0smotron never revokes its tokens")
			extra := &unstructured.Unstructured{}
			extra.SetGroupVersionKind(configGVK)
			Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: extraWorker}, extra)).To(Succeed())
			extraSpec, _, _ = unstructured.NestedMap(extra.Object, "spec")
		}, SpecTimeout(6*time.Minute))

		It("the guide's check, run before the switch, reports what cabpk0s's schema refuses, and only that", func(ctx SpecContext) {
			var stdout, stderr bytes.Buffer
			code := migrationcheck.Run(ctx, []string{"--kubeconfig", m.Kubeconfig}, &stdout, &stderr)
			Expect(code).To(Equal(1), stderr.String())
			field := "spec.provisioner.platform"
			if storage == testenv.K0smotron1 {
				field = "spec.ignition.variant"
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			Expect(lines).To(HaveExactElements(
				HavePrefix(fmt.Sprintf("K0sWorkerConfig %s/%s (%s): %s: invalid: Unsupported value", migrationNS, refusedConfig, storage, field)),
				// The MachineDeployment's 3 configs and its template, the
				// extra Machine's, the pool's and the refused one.
				HavePrefix("checked 7 objects: 1 finding"),
			), stdout.String())
		}, SpecTimeout(time.Minute))

		It("switches with the guide's steps: pause, clusterctl delete keeping the CRDs, clusterctl init, unpause", func(ctx SpecContext) {
			setClusterPaused(ctx, c, true)
			Expect(cctl.Delete(ctx, clusterctl.DeleteOptions{
				Kubeconfig:         clusterctl.Kubeconfig{Path: m.Kubeconfig},
				BootstrapProviders: []string{K0smotronBootstrapProviderName},
			})).To(Succeed())
			for _, plural := range []string{"k0sworkerconfigs", "k0sworkerconfigtemplates", "k0scontrollerconfigs"} {
				Expect(c.Get(ctx, client.ObjectKey{Name: plural + "." + bootstrapv1.GroupVersion.Group}, &apiextensionsv1.CustomResourceDefinition{})).To(Succeed(), "clusterctl delete keeps CRDs")
			}

			_, err := cctl.Init(ctx, clusterctl.InitOptions{
				Kubeconfig:          clusterctl.Kubeconfig{Path: m.Kubeconfig},
				BootstrapProviders:  []string{repo.BootstrapProvider},
				WaitProviders:       true,
				WaitProviderTimeout: 2 * time.Minute,
			})
			Expect(err).NotTo(HaveOccurred())
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(c.Get(ctx, client.ObjectKey{Name: "k0sworkerconfigs." + bootstrapv1.GroupVersion.Group}, crd)).To(Succeed())
			Expect(crd.Labels).To(HaveKeyWithValue(clusterv1.ProviderNameLabel, "bootstrap-"+Cabpk0sProviderName), "cabpk0s's CRD now")
			Expect(crd.Status.StoredVersions).To(ContainElement(storage), "k0smotron's objects are still stored as %s", storage)
			setClusterPaused(ctx, c, false)
		}, SpecTimeout(4*time.Minute))

		It("takes over: bootstrapped Machines keep their data byte for byte and get no token, pending ones get cabpk0s's", func(ctx SpecContext) {
			By("every config k0smotron bootstrapped reports Ready with cabpk0s's conditions")
			Eventually(func(g Gomega) {
				for _, name := range booted {
					config := &bootstrapv1.K0sWorkerConfig{}
					g.Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: name}, config)).To(Succeed())
					g.Expect(conditions.IsTrue(config, bootstrapv1.ReadyCondition)).To(BeTrue(), name)
					g.Expect(conditions.GetReason(config, bootstrapv1.DataSecretAvailableCondition)).To(Equal(bootstrapv1.DataSecretAvailableReason), name)
					g.Expect(config.Annotations).To(HaveKey(controllers.AdoptedAnnotation), name)
				}
			}).WithContext(ctx).Should(Succeed())

			By("the Machine k0smotron left pending gets cabpk0s's data and joins")
			Eventually(func(g Gomega) {
				allRunning(g, machinesOf(ctx, g, c, migrationMD), 3)
			}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
			s := &corev1.Secret{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: pending}, s)).To(Succeed())
			Expect(s.Annotations).To(HaveKey(controllers.TokenIDAnnotation), "written by cabpk0s")

			By("k0smotron's tokens of joined Machines are revoked, the pool's is kept, and the Cluster says so")
			Eventually(func(g Gomega) {
				live := k0smotronTokens(ctx, w)
				for name, id := range k0smotronOf {
					if name == poolName {
						g.Expect(live).To(ContainElement(id), "the pool's instances may still join with it")
						continue
					}
					g.Expect(live).NotTo(ContainElement(id), "%s joined", name)
				}
			}).WithContext(ctx).Should(Succeed())
			pool := &bootstrapv1.K0sWorkerConfig{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: poolName}, pool)).To(Succeed())
			Expect(pool.Annotations).To(HaveKeyWithValue(controllers.K0smotronTokenIDAnnotation, k0smotronOf[poolName]))
			Expect(pool.Finalizers).To(ContainElement(controllers.TokenFinalizer), "deleting the pool's config revokes k0smotron's token")
			Eventually(func(g Gomega) {
				adoption, err := fixtures.ReadAdoption(ctx, c, migrationNS)
				g.Expect(err).NotTo(HaveOccurred())
				// One pass; should the cache show a config late, its own
				// pass follows: the counts add up.
				g.Expect(adoption.Notes).NotTo(BeEmpty())
				g.Expect(adoption.Count("K0sWorkerConfigs whose bootstrap data another provider wrote")).To(Equal(4))
				g.Expect(adoption.Count("k0smotron join tokens revoked (their machines joined)")).To(Equal(3))
				g.Expect(adoption.Count("k0smotron join tokens kept until their machines join")).To(Equal(1))
				g.Expect(adoption.Names()).To(ConsistOf(booted), "the events name the configs taken over")
			}).WithContext(ctx).Should(Succeed())

			By("no bootstrapped Machine's data changed, and none of them got a cabpk0s token")
			for name, before := range dataBefore {
				after := &corev1.Secret{}
				Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: name}, after)).To(Succeed())
				Expect(after.Data).To(Equal(before.Data), name)
				Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "%s: never written again", name)
			}
			Expect(cabpk0sTokensFor(ctx, w, booted)).To(BeEmpty())

			By("k0smotron's fields of a config read back unchanged through cabpk0s's API, and after a write")
			extra := &unstructured.Unstructured{}
			extra.SetGroupVersionKind(configGVK)
			Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: extraWorker}, extra)).To(Succeed())
			Expect(extra.Object["spec"]).To(Equal(extraSpec))
			typed := &bootstrapv1.K0sWorkerConfig{}
			Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: extraWorker}, typed)).To(Succeed())
			typed.Labels["migrated"] = "true"
			Expect(c.Update(ctx, typed)).To(Succeed())
			Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: extraWorker}, extra)).To(Succeed())
			Expect(extra.Object["spec"]).To(Equal(extraSpec))

			By("a scale-up joins with cabpk0s's data")
			scaleMachineDeployment(ctx, c, 4)
			Eventually(func(g Gomega) {
				allRunning(g, machinesOf(ctx, g, c, migrationMD), 4)
			}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
			for _, machine := range machinesOf(ctx, Default, c, migrationMD) {
				if _, ok := dataBefore[machine.Spec.Bootstrap.ConfigRef.Name]; ok {
					continue
				}
				s := &corev1.Secret{}
				Expect(c.Get(ctx, client.ObjectKey{Namespace: migrationNS, Name: *machine.Spec.Bootstrap.DataSecretName}, s)).To(Succeed())
				Expect(s.Annotations).To(HaveKey(controllers.TokenIDAnnotation), machine.Name)
			}
		}, SpecTimeout(5*time.Minute))

		if storage == testenv.K0smotron1 {
			It("cannot roll back to k0smotron 1.x: the API server refuses its CRDs, which lack the version cabpk0s stored", func(ctx SpecContext) {
				// What `clusterctl init --bootstrap k0sproject-k0smotron:v1.x`
				// sends for each CRD (a merge patch), dry-run: clusterctl
				// retries the refusal for minutes before it gives up.
				crds, err := testenv.K0smotronBootstrapCRDs(storage)
				Expect(err).NotTo(HaveOccurred())
				for _, crd := range crds {
					current := &apiextensionsv1.CustomResourceDefinition{}
					Expect(c.Get(ctx, client.ObjectKeyFromObject(crd), current)).To(Succeed())
					crd.ResourceVersion = current.ResourceVersion
					Expect(c.Patch(ctx, crd, client.Merge, client.DryRunAll)).To(MatchError(ContainSubstring(
						`"v1beta2": missing from spec.versions; v1beta2 was previously a storage version`)), crd.Name)
				}
			}, SpecTimeout(time.Minute))
			return
		}

		It("rolls back to k0smotron 2.x with the guide's steps: every Machine runs on, and k0smotron bootstraps again", func(ctx SpecContext) {
			setClusterPaused(ctx, c, true)
			Expect(cctl.Delete(ctx, clusterctl.DeleteOptions{
				Kubeconfig:         clusterctl.Kubeconfig{Path: m.Kubeconfig},
				BootstrapProviders: []string{Cabpk0sProviderName},
			})).To(Succeed())
			// The guide's command: cabpk0s's finalizers would hold a
			// config's deletion with nobody left to remove them.
			configs := &bootstrapv1.K0sWorkerConfigList{}
			Expect(c.List(ctx, configs, client.InNamespace(migrationNS))).To(Succeed())
			for i := range configs.Items {
				config := &configs.Items[i]
				base := config.DeepCopy()
				config.Finalizers = nil
				Expect(c.Patch(ctx, config, client.MergeFrom(base))).To(Succeed())
			}
			// The guide's command: k0smotron's template CRD converts
			// nothing, and clusterctl's merge patch cannot take the webhook
			// of cabpk0s's out of it (the API server refuses the result).
			template := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "k0sworkerconfigtemplates." + bootstrapv1.GroupVersion.Group}}
			Expect(c.Patch(ctx, template, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/conversion","value":{"strategy":"None"}}]`)))).To(Succeed())
			hold.Store(false)
			_, err := cctl.Init(ctx, clusterctl.InitOptions{
				Kubeconfig:          clusterctl.Kubeconfig{Path: m.Kubeconfig},
				BootstrapProviders:  []string{repo.K0smotronBootstrapProvider(storage)},
				WaitProviders:       true,
				WaitProviderTimeout: 2 * time.Minute,
			})
			Expect(err).NotTo(HaveOccurred())
			setClusterPaused(ctx, c, false)

			By("k0smotron's schema reads every config, cabpk0s's or its own")
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(configGVK.GroupVersion().WithKind("K0sWorkerConfigList"))
			Expect(c.List(ctx, list, client.InNamespace(migrationNS))).To(Succeed())
			Expect(list.Items).To(HaveLen(7))
			By("a scale-up joins with k0smotron's data, a scale-down completes")
			scaleMachineDeployment(ctx, c, 5)
			Eventually(func(g Gomega) {
				allRunning(g, machinesOf(ctx, g, c, migrationMD), 5)
			}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
			scaleMachineDeployment(ctx, c, 2)
			Eventually(func(g Gomega) {
				allRunning(g, machinesOf(ctx, g, c, migrationMD), 2)
			}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		}, SpecTimeout(4*time.Minute))
	})
}

// k0smotronExtraSpec is a worker spec with k0smotron's fields beyond the
// defaults, in the release's version.
func k0smotronExtraSpec(storage string) map[string]any {
	spec := map[string]any{
		"version":           "v1.27.2+k0s.0",
		"args":              []any{"--debug"},
		"useSystemHostname": true,
		"files":             []any{map[string]any{"path": "/etc/extra.conf", "content": "extra", "permissions": "0644"}},
	}
	if storage == testenv.K0smotron1 {
		spec["preStartCommands"] = []any{"echo pre"}
		spec["postStartCommands"] = []any{"echo post"}
		return spec
	}
	spec["preK0sCommands"] = []any{"echo pre"}
	spec["postK0sCommands"] = []any{"echo post"}
	spec["provisioner"] = map[string]any{"type": "cloud-config", "platform": "linux"}
	spec["secretMetadata"] = map[string]any{"labels": map[string]any{"team": "platform"}}
	return spec
}

// k0smotronRefusedSpec is a spec k0smotron's release stores and cabpk0s's
// schema refuses.
func k0smotronRefusedSpec(storage string) map[string]any {
	if storage == testenv.K0smotron1 {
		return map[string]any{"ignition": map[string]any{"variant": "openshift", "version": "4.14.0"}}
	}
	return map[string]any{"provisioner": map[string]any{"platform": "windows"}}
}

// createK0smotronWorker creates a Machine, its AWSMachine and its config
// (of gvk, as k0smotron's release stores it) with spec.
func createK0smotronWorker(ctx SpecContext, c client.Client, gvk schema.GroupVersionKind, name string, spec map[string]any) {
	GinkgoHelper()
	config := &unstructured.Unstructured{}
	config.SetGroupVersionKind(gvk)
	config.SetNamespace(migrationNS)
	config.SetName(name)
	config.Object["spec"] = spec
	Expect(c.Create(ctx, config)).To(Succeed())
	infra := &unstructured.Unstructured{}
	infra.SetGroupVersionKind(testenv.AWSMachineGVK)
	infra.SetNamespace(migrationNS)
	infra.SetName(name)
	infra.Object["spec"] = map[string]any{"instanceType": "t3.medium"}
	Expect(c.Create(ctx, infra)).To(Succeed())
	Expect(c.Create(ctx, &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: migrationNS, Name: name, Labels: map[string]string{clusterv1.ClusterNameLabel: sandbox.SeedCluster}},
		Spec: clusterv1.MachineSpec{
			ClusterName: sandbox.SeedCluster,
			Version:     "v1.27.2",
			Bootstrap:   clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: gvk.Group, Kind: gvk.Kind, Name: name}},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: testenv.AWSMachineGVK.Group, Kind: testenv.AWSMachineGVK.Kind, Name: name,
			},
		},
	})).To(Succeed())
}

func setClusterPaused(ctx SpecContext, c client.Client, paused bool) {
	GinkgoHelper()
	cluster := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: migrationNS, Name: sandbox.SeedCluster}}
	Expect(c.Patch(ctx, cluster, client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"paused":%t}}`, paused)))).To(Succeed())
}

func scaleMachineDeployment(ctx SpecContext, c client.Client, replicas int) {
	GinkgoHelper()
	md := &clusterv1.MachineDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: migrationNS, Name: migrationMD}}
	Expect(c.Patch(ctx, md, client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)))).To(Succeed())
}

// machinesOf lists the MachineDeployment's Machines that are not being
// deleted.
func machinesOf(ctx context.Context, g Gomega, c client.Client, md string) []clusterv1.Machine {
	list := &clusterv1.MachineList{}
	g.Expect(c.List(ctx, list, client.InNamespace(migrationNS), client.MatchingLabels{clusterv1.MachineDeploymentNameLabel: md})).To(Succeed())
	var out []clusterv1.Machine
	for _, machine := range list.Items {
		if machine.DeletionTimestamp.IsZero() {
			out = append(out, machine)
		}
	}
	return out
}

// k0smotronTokens lists the IDs of the workload cluster's worker tokens
// k0smotron created.
func k0smotronTokens(ctx context.Context, w *testenv.Workload) []string {
	list := &corev1.SecretList{}
	Expect(w.Client.List(ctx, list, client.InNamespace(metav1.NamespaceSystem))).To(Succeed())
	var ids []string
	for i := range list.Items {
		if jointoken.Worker.IsK0smotrons(&list.Items[i]) {
			ids = append(ids, string(list.Items[i].Data[bootstrapapi.BootstrapTokenIDKey]))
		}
	}
	return ids
}

// cabpk0sTokensFor lists the IDs of the workload cluster's tokens cabpk0s
// made for the configs named.
func cabpk0sTokensFor(ctx context.Context, w *testenv.Workload, configs []string) []string {
	list := &corev1.SecretList{}
	Expect(w.Client.List(ctx, list, client.InNamespace(metav1.NamespaceSystem))).To(Succeed())
	var ids []string
	for _, s := range list.Items {
		description := string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey])
		for _, name := range configs {
			if strings.HasSuffix(description, " "+migrationNS+"/"+name+", managed by cabpk0s") {
				ids = append(ids, string(s.Data[bootstrapapi.BootstrapTokenIDKey]))
			}
		}
	}
	return ids
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
