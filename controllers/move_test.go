package controllers_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// TestMovedJoinedMachineTakesNoRevokedTokenBack: what `clusterctl move`
// leaves on the target for a Machine that joined on the source. The source
// revoked the token when the node joined (and dropped the config's token
// annotation and finalizer), the data Secret still names the token, and
// the Machine's status — its nodeRef — is not moved, so until Cluster API
// finds the Node again the Machine looks unjoined. The status is rebuilt
// without taking the revoked token back, so no "token missing, replace the
// Machine" warning is raised for a healthy machine and no token is minted.
func TestMovedJoinedMachineTakesNoRevokedTokenBack(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, _, id := bootstrappedWorker(t, "moved-joined")
	waitForConsumedData(t, ns, ns)

	// The source's revocation after the join, as the source controller did it.
	g.Expect(jointoken.Delete(ctx, workload.Client, id)).To(Succeed())
	arriveAsMoved(t, ns, "worker")

	g.Eventually(func(g Gomega) {
		config := getConfig(t, ns, "worker")
		g.Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()))
		g.Expect(config.Status.DataSecretName).To(HaveValue(Equal("worker")))
	}, waitTimeout, pollEvery).Should(Succeed())
	config := getConfig(t, ns, "worker")
	g.Expect(config.Annotations).NotTo(HaveKey(controllers.TokenIDAnnotation), "the revoked token is not taken back")
	g.Expect(config.Finalizers).NotTo(ContainElement(controllers.TokenFinalizer))
	g.Expect(tokenSecrets(t, ns, "worker")).To(BeEmpty(), "no token is minted")
	g.Consistently(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(env.Client.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		for _, e := range events.Items {
			g.Expect(e.Reason).NotTo(Equal("JoinTokenMissing"), e.Note)
		}
	}, 2*time.Second, pollEvery).Should(Succeed())
}

// TestMovedPendingMachineKeepsItsToken: the data Secret names a token that
// still exists and the config lost its record of it (restored without its
// annotations): the token is taken back, kept alive, and revoked once the
// node joins; nothing new is minted.
func TestMovedPendingMachineKeepsItsToken(t *testing.T) {
	g := NewWithT(t)
	ns, _, id := bootstrappedWorker(t, "moved-pending")
	waitForConsumedData(t, ns, ns)
	arriveAsMoved(t, ns, "worker")

	g.Eventually(func(g Gomega) {
		config := getConfig(t, ns, "worker")
		g.Expect(config.Status.Initialization.DataSecretCreated).To(HaveValue(BeTrue()))
		g.Expect(config.Annotations).To(HaveKeyWithValue(controllers.TokenIDAnnotation, id))
		g.Expect(config.Finalizers).To(ContainElement(controllers.TokenFinalizer))
	}, waitTimeout, pollEvery).Should(Succeed())
	tokens := tokenSecrets(t, ns, "worker")
	g.Expect(tokens).To(HaveLen(1))
	g.Expect(tokens[0].Name).To(Equal(jointoken.SecretName(id)))

	joinNode(t, ns, ns)
	g.Eventually(func() bool { return tokenExists(t, id) }, waitTimeout, pollEvery).Should(BeFalse())
}

// waitForConsumedData waits until the Machine took the bootstrap data:
// status is only ever rebuilt for data an owner consumed.
func waitForConsumedData(t *testing.T, ns, machineName string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		machine := &clusterv1.Machine{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: machineName}, machine)).To(Succeed())
		g.Expect(machine.Spec.Bootstrap.DataSecretName).NotTo(BeNil())
	}, waitTimeout, pollEvery).Should(Succeed())
}

// TestDeletionWaitsWhileClusterPaused: a paused Cluster is hands off for
// deletion too. The token is kept and the config with it until the Cluster
// is unpaused; then the token is revoked and the config goes.
func TestDeletionWaitsWhileClusterPaused(t *testing.T) {
	g := NewWithT(t)
	ns, cluster, id := bootstrappedWorker(t, "paused-delete")

	setClusterPaused(t, cluster, true)
	// clusterctl deletes the moved objects long after it paused the
	// Cluster; the deletion here waits until the manager has seen the
	// pause (its cache, which the deletion reads, may lag the API server).
	g.Eventually(conditionReason(t, ns, "worker", bootstrapv1.PausedCondition), waitTimeout, pollEvery).Should(HavePrefix(clusterv1.PausedReason))
	g.Expect(env.Client.Delete(t.Context(), getConfig(t, ns, "worker"))).To(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(tokenExists(t, id)).To(BeTrue(), "a paused Cluster's token is not revoked")
		g.Expect(getConfig(t, ns, "worker").Finalizers).To(ContainElement(controllers.TokenFinalizer))
	}, 3*time.Second, pollEvery).Should(Succeed())
	// What the deletion waits for is a condition, not only the absence of
	// an event.
	g.Expect(getConfig(t, ns, "worker").Status.Conditions).To(ContainElement(And(
		HaveField("Type", clusterv1.DeletingCondition),
		HaveField("Status", metav1.ConditionTrue),
		HaveField("Reason", clusterv1.DeletingReason),
		HaveField("Message", "Waiting for Cluster "+cluster.Name+" to be unpaused to revoke join token "+id),
	)))

	setClusterPaused(t, cluster, false)
	g.Eventually(func() bool { return tokenExists(t, id) }, waitTimeout, pollEvery).Should(BeFalse())
	waitForConfigGone(t, ns, "worker")
}

// TestDeleteForMoveKeepsToken: the source's copy of a moved config is
// deleted by clusterctl with its delete-for-move annotation; the token moved
// with the config and stays, even if the token annotation is still there
// and the Cluster is not paused.
func TestDeleteForMoveKeepsToken(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns, _, id := bootstrappedWorker(t, "delete-for-move")

	config := getConfig(t, ns, "worker")
	base := config.DeepCopy()
	config.Annotations[clusterctlv1.DeleteForMoveAnnotation] = ""
	g.Expect(env.Client.Patch(ctx, config, client.MergeFrom(base))).To(Succeed())
	g.Expect(env.Client.Delete(ctx, config)).To(Succeed())
	waitForConfigGone(t, ns, "worker")
	g.Expect(tokenExists(t, id)).To(BeTrue())
}

// bootstrappedWorker creates a Cluster, a config "worker" and its Machine
// in a new namespace, waits for the data, and returns the join token ID.
// The Machine is named after the namespace: its node registers under the
// Machine's name, and every test cluster's nodes share one workload API
// server.
func bootstrappedWorker(t *testing.T, prefix string) (ns string, cluster *clusterv1.Cluster, tokenID string) {
	t.Helper()
	g := NewWithT(t)
	ns, cluster = clusterWithConfig(t, prefix, "worker")
	createMachine(t, ns, cluster.Name, ns, "worker")
	tokenID = waitForDataSecret(t, ns, "worker").Annotations[controllers.TokenIDAnnotation]
	g.Expect(tokenID).NotTo(BeEmpty())
	return ns, cluster, tokenID
}

// arriveAsMoved leaves a config as `clusterctl move` (or a restore without
// annotations) creates it on the target: no record of its token, no status.
func arriveAsMoved(t *testing.T, ns, name string) {
	t.Helper()
	g := NewWithT(t)
	config := getConfig(t, ns, name)
	base := config.DeepCopy()
	delete(config.Annotations, controllers.TokenIDAnnotation)
	controllerutil.RemoveFinalizer(config, controllers.TokenFinalizer)
	g.Expect(env.Client.Patch(t.Context(), config, client.MergeFrom(base))).To(Succeed())
	config = getConfig(t, ns, name)
	config.Status = bootstrapv1.K0sWorkerConfigStatus{}
	g.Expect(env.Client.Status().Update(t.Context(), config)).To(Succeed())
}

func waitForConfigGone(t *testing.T, ns, name string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &bootstrapv1.K0sWorkerConfig{})
	}, waitTimeout, pollEvery).ShouldNot(Succeed())
}

func setClusterPaused(t *testing.T, cluster *clusterv1.Cluster, paused bool) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
	base := cluster.DeepCopy()
	cluster.Spec.Paused = &paused
	g.Expect(env.Client.Patch(t.Context(), cluster, client.MergeFrom(base))).To(Succeed())
}
