package controllers_test

import (
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

var seedCluster sync.Once

// ensureSeedCluster provides the Cluster the seed's manifests name:
// cp-test in namespace default.
func ensureSeedCluster(t *testing.T) {
	seedCluster.Do(func() { createCluster(t, "default", "cp-test", fixtures.ClusterOptions{}) })
}

// TestSeedMachineBootstraps applies the seed's Machine, K0sWorkerConfig and
// AWSMachine verbatim and follows them until the node joined.
func TestSeedMachineBootstraps(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ensureSeedCluster(t)
	for _, obj := range append(sample(t, "machine.yaml"), sample(t, "awsmachine.yaml")...) {
		g.Expect(env.Client.Create(ctx, obj, client.FieldValidation("Strict"))).To(Succeed())
	}

	secret := waitForDataSecret(t, "default", "machine-test-config")
	config := getConfig(t, "default", "machine-test-config")
	id := config.Annotations[controllers.TokenIDAnnotation]
	g.Expect(id).NotTo(BeEmpty())
	g.Expect(config.Finalizers).To(ContainElement(controllers.TokenFinalizer))

	// The data Secret as the bootstrap contract and infrastructure
	// providers expect it.
	g.Expect(secret.Type).To(Equal(clusterv1.ClusterSecretType))
	g.Expect(secret.Data).To(HaveKeyWithValue("format", []byte("cloud-config")))
	g.Expect(secret.Labels).To(HaveKeyWithValue(clusterv1.ClusterNameLabel, "cp-test"))
	g.Expect(secret.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, id))
	g.Expect(metav1.IsControlledBy(secret, config)).To(BeTrue())
	validateCloudConfig(t, secret.Data["value"])
	g.Expect(string(secret.Data["value"])).NotTo(ContainSubstring(" v1.27.2+k0s.0"), "sanity: the version is inside the encoded script")

	token := &corev1.Secret{}
	g.Expect(workload.Client.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(id)}, token)).To(Succeed())
	for _, usage := range []string{bootstrapapi.BootstrapTokenUsageAuthentication, "usage-bootstrap-api-auth", "usage-bootstrap-api-worker-calls"} {
		g.Expect(token.Data).To(HaveKeyWithValue(usage, []byte("true")))
	}
	expiration, err := time.Parse(time.RFC3339, string(token.Data[bootstrapapi.BootstrapTokenExpirationKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(time.Until(expiration)).To(BeNumerically("<=", testTokenTTL))

	// Cluster API consumed the data; Ready is mirrored to the Machine.
	machine := &clusterv1.Machine{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "machine-test-0"}, machine)).To(Succeed())
		g.Expect(machine.Spec.Bootstrap.DataSecretName).To(HaveValue(Equal("machine-test-config")))
		g.Expect(machine.Status.Initialization.BootstrapDataSecretCreated).To(HaveValue(BeTrue()))
	}, waitTimeout, pollEvery).Should(Succeed())

	// The machine joins through the kubelet's TLS bootstrap; once its node
	// joined, cabpk0s revokes the token and the finalizer goes.
	booted := joinNode(t, "default", "machine-test-0")
	expectNodeCertificateFromCluster(t, booted, id)
	expectRevokedBy(t, id, true, false)
	g.Eventually(func(g Gomega) {
		config := getConfig(t, "default", "machine-test-config")
		g.Expect(config.Annotations).NotTo(HaveKey(controllers.TokenIDAnnotation))
		g.Expect(config.Finalizers).NotTo(ContainElement(controllers.TokenFinalizer))
	}, waitTimeout, pollEvery).Should(Succeed())
}

// mdConfigs returns the token IDs of the configs the seed's
// MachineDeployment stamped, once each has its data Secret.
func mdTokenIDs(t *testing.T, g Gomega, replicas int) map[string]string {
	t.Helper()
	ids := map[string]string{}
	list := &bootstrapv1.K0sWorkerConfigList{}
	g.Expect(env.Client.List(t.Context(), list, client.InNamespace("default"), client.MatchingLabels{clusterv1.MachineDeploymentNameLabel: "md-test"})).To(Succeed())
	live := 0
	for _, c := range list.Items {
		if !c.DeletionTimestamp.IsZero() {
			continue
		}
		live++
		g.Expect(c.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()), c.Name)
		id := c.Annotations[controllers.TokenIDAnnotation]
		g.Expect(id).NotTo(BeEmpty(), c.Name)
		ids[c.Name] = id
	}
	g.Expect(live).To(Equal(replicas))
	return ids
}

// TestSeedMachineDeploymentScales applies the seed's MachineDeployment and
// K0sWorkerConfigTemplate, then scales up and down: one distinct token per
// Machine, and the tokens of deleted Machines are revoked.
func TestSeedMachineDeploymentScales(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ensureSeedCluster(t)
	for _, obj := range sample(t, "machinedeployment.yaml") {
		g.Expect(env.Client.Create(ctx, obj, client.FieldValidation("Strict"))).To(Succeed())
	}
	template := sample(t, "awsmachinetemplate.yaml")[0]
	// CAPA requires the instance type the seed leaves as a placeholder.
	g.Expect(unstructured.SetNestedMap(template.Object, map[string]any{"instanceType": "t3.large"}, "spec", "template", "spec")).To(Succeed())
	g.Expect(env.Client.Create(ctx, template)).To(Succeed())

	var ids map[string]string
	g.Eventually(func(g Gomega) { ids = mdTokenIDs(t, g, 2) }, waitTimeout, pollEvery).Should(Succeed())
	g.Expect(distinct(ids)).To(HaveLen(2))

	scale := func(replicas int32) {
		md := &clusterv1.MachineDeployment{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "md-test"}, md)).To(Succeed())
		base := md.DeepCopy()
		md.Spec.Replicas = &replicas
		g.Expect(env.Client.Patch(ctx, md, client.MergeFrom(base))).To(Succeed())
	}

	scale(5)
	g.Eventually(func(g Gomega) { ids = mdTokenIDs(t, g, 5) }, 2*waitTimeout, pollEvery).Should(Succeed())
	g.Expect(distinct(ids)).To(HaveLen(5))
	for _, id := range ids {
		g.Expect(tokenExists(t, id)).To(BeTrue())
	}

	before := ids
	scale(1)
	g.Eventually(func(g Gomega) { ids = mdTokenIDs(t, g, 1) }, 2*waitTimeout, pollEvery).Should(Succeed())
	for name, id := range before {
		if _, kept := ids[name]; kept {
			g.Expect(tokenExists(t, id)).To(BeTrue())
			continue
		}
		g.Eventually(func() bool { return tokenExists(t, id) }, waitTimeout, pollEvery).Should(BeFalse(), "token of deleted config %s", name)
		expectRevokedBy(t, id, true, false)
	}

	// The Machine left joins through the kubelet's TLS bootstrap.
	machines := &clusterv1.MachineList{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.List(ctx, machines, client.InNamespace("default"), client.MatchingLabels{clusterv1.MachineDeploymentNameLabel: "md-test"})).To(Succeed())
		g.Expect(machines.Items).To(HaveLen(1))
	}, waitTimeout, pollEvery).Should(Succeed())
	booted := joinNode(t, "default", machines.Items[0].Name)
	expectNodeCertificateFromCluster(t, booted, ids[machines.Items[0].Spec.Bootstrap.ConfigRef.Name])
	g.Eventually(machinePhase(t, "default", machines.Items[0].Name), waitTimeout, pollEvery).Should(Equal(string(clusterv1.MachinePhaseRunning)))
	expectNoTokenOfAJoinedMachine(t, "default")
}

// TestScalingPoolTokenIsExtended: while a MachinePool's instances have not
// all joined, its token is extended like a pending Machine's, not rotated:
// past the moment a steady pool would rotate, the data still carries the
// first token, with a later expiry.
func TestScalingPoolTokenIsExtended(t *testing.T) {
	g := NewWithT(t)
	ns, cluster := clusterWithConfig(t, "scaling", "pool")
	createMachinePool(t, ns, cluster.Name, "pool", "pool")
	data := waitForDataSecret(t, ns, "pool")
	first := data.Annotations[controllers.TokenIDAnnotation]
	token, err := jointoken.Get(t.Context(), workload.Client, first)
	g.Expect(err).NotTo(HaveOccurred())

	// A steady pool's rotation would fall due half a TTL after creation.
	time.Sleep(time.Until(token.Expiration.Add(-testTokenTTL/2)) + 5*time.Second)
	g.Expect(waitForDataSecret(t, ns, "pool").Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, first), "no rotation while scaling")
	g.Eventually(func() time.Time {
		extended, err := jointoken.Get(t.Context(), workload.Client, first)
		g.Expect(err).NotTo(HaveOccurred())
		return extended.Expiration
	}, testTokenTTL, time.Second).Should(BeTemporally(">", token.Expiration), "the scaling pool's token is extended")
	g.Expect(getConfig(t, ns, "pool").Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, first))
}

func distinct(ids map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

func newConfig(ns, name string, spec bootstrapv1.K0sWorkerConfigSpec) *bootstrapv1.K0sWorkerConfig {
	return &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

// TestPausedClusterGetsNoDataUntilUnpaused: pausing a Cluster stops its
// configs, with a Paused condition, even once everything else is ready;
// unpausing resumes at once (the Cluster watch, not a poll).
func TestPausedClusterGetsNoDataUntilUnpaused(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "paused")
	cluster := createCluster(t, ns, "paused", fixtures.ClusterOptions{ControlPlaneUninitialized: true})
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}}))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).Should(HavePrefix(bootstrapv1.WaitingForControlPlaneInitializationReason))

	setClusterPaused(t, cluster, true)
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.PausedCondition), waitTimeout, pollEvery).Should(HavePrefix("Paused"))
	g.Expect(fixtures.SetControlPlaneInitialized(ctx, env.Client, ns, cluster.Name)).To(Succeed())
	g.Consistently(func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "worker"}, &corev1.Secret{})
	}, 3*time.Second, pollEvery).ShouldNot(Succeed())
	g.Expect(tokenSecrets(t, ns, "worker")).To(BeEmpty())

	setClusterPaused(t, cluster, false)
	start := time.Now()
	waitForDataSecret(t, ns, "worker")
	g.Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.PausedCondition), waitTimeout, pollEvery).Should(HavePrefix("NotPaused"))
}

// TestWaitsForControlPlaneInitialization: the condition says what the
// config waits for, and initialization is acted on at once.
func TestWaitsForControlPlaneInitialization(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "cp-init")
	cluster := createCluster(t, ns, "late", fixtures.ClusterOptions{ControlPlaneUninitialized: true})
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", bootstrapv1.K0sWorkerConfigSpec{}))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")

	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), waitTimeout, pollEvery).
		Should(Equal(bootstrapv1.WaitingForControlPlaneInitializationReason + ": Waiting for the control plane of Cluster late to be initialized"))
	g.Expect(tokenSecrets(t, ns, "worker")).To(BeEmpty())

	g.Expect(fixtures.SetControlPlaneInitialized(ctx, env.Client, ns, cluster.Name)).To(Succeed())
	start := time.Now()
	waitForDataSecret(t, ns, "worker")
	g.Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))

	// Neither the config nor the Machine names a version: the latest k0s is
	// installed, as with k0smotron, and the condition says so.
	g.Expect(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition)()).To(Equal(
		bootstrapv1.DataSecretAvailableReason + ": Neither the config nor its Machine sets a version: the machine installs the latest k0s release"))
}

// workerWaitingForSource creates a Cluster, a config named worker whose
// file reads Secret worker-files (not created) and its Machine, and waits
// until the config says it waits for the Secret.
func workerWaitingForSource(t *testing.T, prefix string) (ns, clusterName string) {
	t.Helper()
	g := NewWithT(t)
	ns = newNamespace(t, prefix)
	cluster := createCluster(t, ns, prefix, fixtures.ClusterOptions{})
	g.Expect(env.Client.Create(t.Context(), newConfig(ns, "worker", motdFrom("worker-files")))).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker", "worker")
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.DataSecretAvailableCondition), waitTimeout, pollEvery).
		Should(Equal(bootstrapv1.MissingFileSourceReason + ": Waiting for Secret " + ns + "/worker-files"))
	return ns, cluster.Name
}

// TestMissingSourceMintsNoToken: a missing contentFrom Secret is found
// before a join token exists, so retries keep no token alive that no data
// will carry; after the fix exactly one token ever existed for the config.
func TestMissingSourceMintsNoToken(t *testing.T) {
	g := NewWithT(t)
	ns, _ := workerWaitingForSource(t, "retry")
	g.Consistently(func() []corev1.Secret { return tokenSecrets(t, ns, "worker") }, 3*time.Second, pollEvery).Should(BeEmpty())
	reserved := getConfig(t, ns, "worker").Annotations[controllers.TokenIDAnnotation]
	g.Expect(reserved).NotTo(BeEmpty(), "the token ID is reserved at creation")

	// The source watch picks it up at once, not at a poll.
	createMotd(t, ns, "worker-files", "welcome")
	start := time.Now()
	data := waitForDataSecret(t, ns, "worker")
	g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
	g.Expect(cloudConfigFiles(t, data.Data["value"])).To(HaveKeyWithValue("/etc/motd", "welcome"))
	tokens := tokenSecrets(t, ns, "worker")
	g.Expect(tokens).To(HaveLen(1))
	id := string(tokens[0].Data[bootstrapapi.BootstrapTokenIDKey])
	g.Expect(id).To(Equal(reserved), "the token is the one reserved")
	g.Expect(data.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, id))
	user := joinAsWorker(t, joinToken(t, data.Data["value"]), "worker")
	g.Expect(user.Username).To(Equal("system:bootstrap:" + id))
}

// TestLabelledSourceWakesItsConfig: a source Secret that carries the
// cluster-name label is not in the source cache (the manager's cache keeps
// those, and each Secret is kept once); its appearance still wakes the
// config at once.
func TestLabelledSourceWakesItsConfig(t *testing.T) {
	g := NewWithT(t)
	ns, clusterName := workerWaitingForSource(t, "labelled")
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker-files", Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Data:       map[string][]byte{"motd": []byte("labelled")},
	})).To(Succeed())
	start := time.Now()
	data := waitForDataSecret(t, ns, "worker")
	g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "woken by the watch, not by a resync")
	g.Expect(cloudConfigFiles(t, data.Data["value"])).To(HaveKeyWithValue("/etc/motd", "labelled"))
}

// TestTokenExtendedUntilNodeJoins: while the Machine has no node the
// token's expiry keeps moving; once it joined, the token is deleted.
func TestTokenExtendedUntilNodeJoins(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, _, id := bootstrappedWorker(t, "ttl")

	expiry := func() time.Time {
		token, err := jointoken.Get(ctx, workload.Client, id)
		g.Expect(err).NotTo(HaveOccurred())
		return token.Expiration
	}
	first := expiry()
	extensions, revocations := tokenOperations(t, "extended"), tokenOperations(t, "revoked")
	g.Eventually(expiry, testTokenTTL, time.Second).Should(BeTemporally(">", first), "the expiry must be extended while the machine has not joined")
	g.Expect(tokenOperations(t, "extended")).To(BeNumerically(">", extensions), "extensions are counted")

	joinNode(t, ns, ns)
	g.Eventually(func() bool { return tokenExists(t, id) }, waitTimeout, pollEvery).Should(BeFalse())
	g.Expect(tokenOperations(t, "revoked")).To(BeNumerically(">", revocations), "revocations are counted")
}

// TestStatusRebuiltAfterMove: status wiped (as `clusterctl move` leaves it)
// is rebuilt from the Machine and the data Secret; no new token is minted
// and the Secret's lost controller reference is repaired.
func TestStatusRebuiltAfterMove(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, _, id := bootstrappedWorker(t, "move")
	data := waitForDataSecret(t, ns, "worker")
	g.Eventually(func(g Gomega) {
		machine := &clusterv1.Machine{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ns}, machine)).To(Succeed())
		g.Expect(machine.Spec.Bootstrap.DataSecretName).To(HaveValue(Equal("worker")))
	}, waitTimeout, pollEvery).Should(Succeed())

	base := data.DeepCopy()
	data.OwnerReferences = nil
	g.Expect(env.Client.Patch(ctx, data, client.MergeFrom(base))).To(Succeed())
	config := getConfig(t, ns, "worker")
	config.Status = bootstrapv1.K0sWorkerConfigStatus{}
	g.Expect(env.Client.Status().Update(ctx, config)).To(Succeed())

	g.Eventually(func(g Gomega) {
		config := getConfig(t, ns, "worker")
		g.Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()))
		g.Expect(config.Status.DataSecretName).To(HaveValue(Equal("worker")))
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(data), data)).To(Succeed())
		g.Expect(metav1.IsControlledBy(data, config)).To(BeTrue())
	}, waitTimeout, pollEvery).Should(Succeed())
	g.Expect(getConfig(t, ns, "worker").Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, id))
	tokens := tokenSecrets(t, ns, "worker")
	g.Expect(tokens).To(HaveLen(1))
	g.Expect(string(tokens[0].Data[bootstrapapi.BootstrapTokenIDKey])).To(Equal(id))
}

// TestDeletingAConfigRevokesItsToken: a Machine deleted before it joined
// takes its config with it, and the config's finalizer revokes the token.
func TestDeletingAConfigRevokesItsToken(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "delete")
	cluster := createCluster(t, ns, "delete", fixtures.ClusterOptions{})
	g.Expect(env.Client.Create(ctx, newConfig(ns, "worker", bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			SecretMetadata: &bootstrapv1.SecretMetadata{Labels: map[string]string{"team": "blue"}, Annotations: map[string]string{"note": "x"}},
		},
	}))).To(Succeed())
	machine := createMachine(t, ns, cluster.Name, "worker", "worker")
	data := waitForDataSecret(t, ns, "worker")
	g.Expect(data.Labels).To(HaveKeyWithValue("team", "blue"))
	g.Expect(data.Annotations).To(HaveKeyWithValue("note", "x"))
	id := getConfig(t, ns, "worker").Annotations[controllers.TokenIDAnnotation]

	g.Expect(env.Client.Delete(ctx, machine)).To(Succeed())
	g.Eventually(func() bool { return tokenExists(t, id) }, waitTimeout, pollEvery).Should(BeFalse())
	waitForConfigGone(t, ns, "worker")
}

// TestMachinePoolTokenRotatesInPlace: a MachinePool's instances share one
// config, so they keep their own hostnames, and once half of the token's
// life is gone the data Secret is rewritten in place with a new, working token.
func TestMachinePoolTokenRotatesInPlace(t *testing.T) {
	g := NewWithT(t)
	ns, cluster := clusterWithConfig(t, "pool", "pool")
	createMachinePool(t, ns, cluster.Name, "pool", "pool")

	data := waitForDataSecret(t, ns, "pool")
	first := data.Annotations[controllers.TokenIDAnnotation]
	g.Expect(first).NotTo(BeEmpty())
	for path, f := range cloudConfigFiles(t, data.Data["value"]) {
		g.Expect(f).NotTo(ContainSubstring("hostname-override"), "instances of a pool must not share one node name (%s)", path)
	}
	// The pool's instances join with its data; once all have, the pool
	// stops scaling and its token is rotated at half life.
	g.Expect(joinPool(t, ns, "pool", data)).To(Equal("system:bootstrap:" + first))

	rotated := waitForNewToken(t, data, first, 2*testTokenTTL)
	g.Expect(rotated.UID).To(Equal(data.UID), "the data Secret is updated in place")
	second := rotated.Annotations[controllers.TokenIDAnnotation]
	g.Expect(getConfig(t, ns, "pool").Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, second))
	g.Expect(joinAsWorker(t, joinToken(t, rotated.Data["value"]), "pool-b").Username).To(Equal("system:bootstrap:" + second))
}
