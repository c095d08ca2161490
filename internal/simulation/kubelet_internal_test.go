package simulation

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// A provider's process runs as long as its Deployment: deleting the
// Deployment (clusterctl delete) stops it, and a Deployment created again
// under the same name (clusterctl delete, then init) gets a new one.
func TestKubeletStopsTheProcessOfAGoneDeployment(t *testing.T) {
	key := client.ObjectKey{Namespace: "system", Name: "controller-manager"}
	deployment := func(uid types.UID, deleting bool) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name, UID: uid,
			Labels: map[string]string{clusterv1.ProviderNameLabel: "bootstrap-test"},
		}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager"}}}}}}
		if deleting {
			d.Finalizers = []string{"test/hold"}
			d.DeletionTimestamp = &metav1.Time{Time: metav1.Now().Time}
		}
		return d
	}
	// running gives the kubelet a process for the Deployment with uid and
	// reports whether it has been stopped.
	running := func(k *SimulatedKubelet, uid types.UID) func() bool {
		stopped := false
		k.running = map[client.ObjectKey]*simulatedPod{key: {cancel: func() { stopped = true }, deployment: uid}}
		return func() bool { return stopped }
	}
	kubelet := func(objs ...client.Object) *SimulatedKubelet {
		scheme := runtime.NewScheme()
		NewWithT(t).Expect(appsv1.AddToScheme(scheme)).To(Succeed())
		return &SimulatedKubelet{
			Client:    fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(),
			Providers: map[string]Provider{"bootstrap-test": {}},
			Logger:    log.Log,
		}
	}

	t.Run("deleted", func(t *testing.T) {
		g := NewWithT(t)
		k := kubelet()
		stopped := running(k, "one")
		_, err := k.Reconcile(t.Context(), ctrl.Request{NamespacedName: key})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(stopped()).To(BeTrue())
		g.Expect(k.running).NotTo(HaveKey(key))
	})
	t.Run("being deleted", func(t *testing.T) {
		g := NewWithT(t)
		k := kubelet(deployment("one", true))
		stopped := running(k, "one")
		_, err := k.Reconcile(t.Context(), ctrl.Request{NamespacedName: key})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(stopped()).To(BeTrue())
		g.Expect(k.running).NotTo(HaveKey(key))
	})
	t.Run("the same Deployment keeps its process", func(t *testing.T) {
		g := NewWithT(t)
		k := kubelet()
		stopped := running(k, "one")
		g.Expect(k.stopPod(key, "one")).NotTo(BeNil())
		g.Expect(stopped()).To(BeFalse())
	})
	t.Run("replaced", func(t *testing.T) {
		g := NewWithT(t)
		k := kubelet()
		stopped := running(k, "one")
		g.Expect(k.stopPod(key, "two")).To(BeNil())
		g.Expect(stopped()).To(BeTrue())
		g.Expect(k.running).NotTo(HaveKey(key))
	})
}
