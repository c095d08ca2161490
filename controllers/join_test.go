package controllers_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The join judged by Kubernetes' own code: machines boot with the data
// cabpk0s wrote, through the kubelet's TLS bootstrap, a certificate the
// workload's real kube-controller-manager approves and signs, the worker
// profile read with the node's credentials and the Node registered by the
// node itself (simulation.Boot). Who deleted a token is read from the
// workload API server's audit log: cabpk0s, the tokencleaner, or an admin.

// expectNodeCertificateFromCluster checks the join's client certificate:
// issued by the cluster CA for client authentication, to system:node:<n>,
// requested by the bootstrap identity of token id.
func expectNodeCertificateFromCluster(t *testing.T, booted simulation.Booted, id string) {
	t.Helper()
	g := NewWithT(t)
	block, _ := pem.Decode([]byte(booted.ClientCertificate))
	g.Expect(block).NotTo(BeNil(), "the join returned a certificate")
	cert, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(HaveOccurred())
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(workload.CACert)
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	g.Expect(err).NotTo(HaveOccurred(), "the node's certificate chains to the cluster CA")
	g.Expect(booted.NodeUser).To(Equal("system:node:" + booted.NodeName))
	g.Expect(booted.NodeGroups).To(ContainElement("system:nodes"))
	requester, err := booted.Requester(t.Context(), workload.Client)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(requester.Username).To(Equal("system:bootstrap:"+id), "the CSR was filed with the config's token")
	g.Expect(requester.Groups).To(ContainElement("system:bootstrappers"))
}

// expectRevokedBy waits for token id to be deleted and checks who did.
func expectRevokedBy(t *testing.T, id string, byCabpk0s, byTokenCleaner bool) {
	t.Helper()
	var deletion testenv.TokenDeletion
	NewWithT(t).Eventually(func(g Gomega) {
		d, deleted, err := workload.TokenDeletion(id)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(deleted).To(BeTrue(), "token %s is deleted", id)
		deletion = d
	}, 2*testTokenTTL, pollEvery).Should(Succeed())
	if deletion.ByCabpk0s() != byCabpk0s || deletion.ByTokenCleaner() != byTokenCleaner {
		t.Fatalf("token %s was deleted by %s (want cabpk0s: %v, tokencleaner: %v)", id, deletion.By, byCabpk0s, byTokenCleaner)
	}
}

// expectNoTokenOfAJoinedMachine: after a scenario, no Machine of the
// namespace that joined keeps a bootstrap token alive.
func expectNoTokenOfAJoinedMachine(t *testing.T, ns string) {
	t.Helper()
	g := NewWithT(t)
	machines := &clusterv1.MachineList{}
	g.Expect(env.Client.List(t.Context(), machines, client.InNamespace(ns))).To(Succeed())
	joined := 0
	for _, m := range machines.Items {
		if !m.Status.NodeRef.IsDefined() || m.Spec.Bootstrap.DataSecretName == nil {
			continue
		}
		joined++
		data := &corev1.Secret{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: *m.Spec.Bootstrap.DataSecretName}, data)).To(Succeed())
		id := data.Annotations[controllers.TokenIDAnnotation]
		g.Eventually(func() bool { return tokenExists(t, id) }, waitTimeout, pollEvery).Should(BeFalse(), "the token of joined Machine %s", m.Name)
	}
	g.Expect(joined).To(BeNumerically(">", 0), "sanity: some Machine joined")
}

func machinePhase(t *testing.T, ns, name string) func() string {
	return func() string {
		m := &clusterv1.Machine{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, m); err != nil {
			return err.Error()
		}
		return m.Status.Phase
	}
}

// provisionedWorker is a Machine bootstrapped by config "worker" whose
// infrastructure is provisioned (the instance exists, about to boot),
// named after its namespace so its node's name is unique in the shared
// workload cluster.
func provisionedWorker(t *testing.T, prefix string, spec bootstrapv1.K0sWorkerConfigSpec) (ns string, cluster *clusterv1.Cluster, machine *clusterv1.Machine, tokenID string) {
	t.Helper()
	g := NewWithT(t)
	ns = newNamespace(t, prefix)
	cluster = createCluster(t, ns, prefix, fixtures.ClusterOptions{})
	g.Expect(env.Client.Create(t.Context(), newConfig(ns, "worker", spec))).To(Succeed())
	createMachine(t, ns, cluster.Name, ns, "worker")
	tokenID = waitForDataSecret(t, ns, "worker").Annotations[controllers.TokenIDAnnotation]
	machine = &clusterv1.Machine{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: ns}, machine)).To(Succeed())
		g.Expect(machine.Status.Initialization.InfrastructureProvisioned).To(HaveValue(BeTrue()))
		g.Expect(machine.Spec.Bootstrap.DataSecretName).NotTo(BeNil())
	}, waitTimeout, pollEvery).Should(Succeed())
	return ns, cluster, machine, tokenID
}

// TestJoinedNodeIsWhatTheConfigAsks: labels and taints of the config are
// on the Node the kubelet registered, a kubeletExtraArgs entry is on the
// kubelet command line the worker derives from the script, and the token
// is revoked by cabpk0s once the node joined.
func TestJoinedNodeIsWhatTheConfigAsks(t *testing.T) {
	g := NewWithT(t)
	ns, _, machine, id := provisionedWorker(t, "node", bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Version: "v1.33.4+k0s.0",
		},
		Labels:           map[string]string{"example.com/pool": "blue", "topology.kubernetes.io/zone": "us-east-1a"},
		Taints:           []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}},
		KubeletExtraArgs: map[string]string{"max-pods": "42"},
	})
	booted := joinNode(t, ns, machine.Name)
	expectNodeCertificateFromCluster(t, booted, id)
	g.Expect(booted.KubeletFlags).To(ContainElement("--max-pods=42"))

	node := &corev1.Node{}
	g.Expect(workload.Client.Get(t.Context(), client.ObjectKey{Name: booted.NodeName}, node)).To(Succeed())
	g.Expect(node.Spec.ProviderID).To(Equal(machine.Spec.ProviderID))
	g.Expect(node.Labels).To(HaveKeyWithValue("example.com/pool", "blue"))
	g.Expect(node.Labels).To(HaveKeyWithValue("topology.kubernetes.io/zone", "us-east-1a"))
	g.Expect(node.Spec.Taints).To(ContainElement(And(HaveField("Key", "dedicated"), HaveField("Value", "gpu"), HaveField("Effect", corev1.TaintEffectNoSchedule))))

	g.Eventually(machinePhase(t, ns, machine.Name), waitTimeout, pollEvery).Should(Equal(string(clusterv1.MachinePhaseRunning)))
	expectRevokedBy(t, id, true, false)
	expectNoTokenOfAJoinedMachine(t, ns)
}

// TestProfileJoinsOnceThePlaneDefinesIt: a config with profile gpu cannot
// join while the control plane publishes no such profile, and the failure
// says so; once it is published, the same machine joins.
func TestProfileJoinsOnceThePlaneDefinesIt(t *testing.T) {
	g := NewWithT(t)
	ns, _, machine, id := provisionedWorker(t, "profile", bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}, Profile: "gpu"})
	_, err := bootMachine(t, machine)
	g.Expect(err).To(MatchError(ContainSubstring(`worker profile "gpu" does not exist for Kubernetes 1.33`)))
	g.Consistently(machinePhase(t, ns, machine.Name), 2*time.Second, pollEvery).ShouldNot(Equal(string(clusterv1.MachinePhaseRunning)))
	g.Expect(tokenExists(t, id)).To(BeTrue(), "the token waits for the join")

	g.Expect(workload.PublishWorkerProfiles(t.Context(), "1.33", map[string]string{"gpu": "maxPods: 16\n"})).To(Succeed())
	booted := joinNode(t, ns, machine.Name)
	g.Expect(booted.WorkerProfile).To(Equal("worker-config-gpu-1.33"))
	expectNodeCertificateFromCluster(t, booted, id)
	g.Eventually(machinePhase(t, ns, machine.Name), waitTimeout, pollEvery).Should(Equal(string(clusterv1.MachinePhaseRunning)))
	expectRevokedBy(t, id, true, false)
	expectNoTokenOfAJoinedMachine(t, ns)
}

// TestRevokedTokenFailsTheTLSBootstrap: a token revoked before the machine
// booted (an admin's `k0s token invalidate`) is refused by the API server
// in the TLS bootstrap; the Machine does not become Running and the config
// says what to do.
func TestRevokedTokenFailsTheTLSBootstrap(t *testing.T) {
	g := NewWithT(t)
	ns, _, machine, id := provisionedWorker(t, "revoked", bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}})
	deleteToken(t, id)
	_, err := bootMachine(t, machine)
	g.Expect(err).To(MatchError(And(ContainSubstring("TLS bootstrap failed"), ContainSubstring("Unauthorized"))))
	expectRevokedBy(t, id, false, false)

	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), 2*testTokenTTL, pollEvery).
		Should(HavePrefix(bootstrapv1.JoinTokenMissingReason + ":"))
	g.Expect(machinePhase(t, ns, machine.Name)()).NotTo(Equal(string(clusterv1.MachinePhaseRunning)))
	g.Expect(tokenExists(t, id)).To(BeFalse(), "not brought back for a machine that may be booting")
}

// TestExpiredTokenIsCollectedByTheTokenCleaner: while its Cluster is
// paused nothing extends a provisioned Machine's token; it expires, the
// controller manager's tokencleaner (not cabpk0s) deletes it, and the
// machine booting after that cannot join. Unpaused, the config says so.
func TestExpiredTokenIsCollectedByTheTokenCleaner(t *testing.T) {
	g := NewWithT(t)
	ns, cluster, machine, id := provisionedWorker(t, "expired", bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}})
	setClusterPaused(t, cluster, true)

	expectRevokedBy(t, id, false, true)
	_, err := bootMachine(t, machine)
	g.Expect(err).To(MatchError(And(ContainSubstring("TLS bootstrap failed"), ContainSubstring("Unauthorized"))))

	setClusterPaused(t, cluster, false)
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.ReadyCondition), 2*testTokenTTL, pollEvery).
		Should(HavePrefix(bootstrapv1.JoinTokenMissingReason + ":"))
	g.Expect(machinePhase(t, ns, machine.Name)()).NotTo(Equal(string(clusterv1.MachinePhaseRunning)))
	deletions, err := workload.TokenDeletions()
	g.Expect(err).NotTo(HaveOccurred())
	for _, d := range deletions {
		if d.ID == id {
			g.Expect(d.ByTokenCleaner()).To(BeTrue(), "every deletion of %s is the tokencleaner's, not %s", id, d.By)
		}
	}
}
