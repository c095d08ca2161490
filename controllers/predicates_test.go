package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/event"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

func TestConfigChangedIgnoresOwnWrites(t *testing.T) {
	base := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Name: "w", Generation: 1}}
	for _, tc := range []struct {
		name   string
		change func(*bootstrapv1.K0sWorkerConfig)
		want   bool
	}{
		{"status written", func(c *bootstrapv1.K0sWorkerConfig) {
			c.Status.DataSecretName = ptr.To("w")
			c.Status.Initialization.DataSecretCreated = ptr.To(true)
		}, false},
		{"token ID and finalizer recorded", func(c *bootstrapv1.K0sWorkerConfig) {
			c.Annotations = map[string]string{TokenIDAnnotation: "abcdef"}
			c.Finalizers = []string{TokenFinalizer}
		}, false},
		{"resourceVersion only", func(c *bootstrapv1.K0sWorkerConfig) { c.ResourceVersion = "7" }, false},
		{"spec changed", func(c *bootstrapv1.K0sWorkerConfig) { c.Generation = 2 }, true},
		{"owner set", func(c *bootstrapv1.K0sWorkerConfig) {
			c.OwnerReferences = []metav1.OwnerReference{{Kind: "Machine", Name: "w"}}
		}, true},
		{"paused annotation", func(c *bootstrapv1.K0sWorkerConfig) {
			c.Annotations = map[string]string{clusterv1.PausedAnnotation: ""}
		}, true},
		{"another finalizer", func(c *bootstrapv1.K0sWorkerConfig) { c.Finalizers = []string{"example.com/other"} }, true},
		{"deleted", func(c *bootstrapv1.K0sWorkerConfig) { c.DeletionTimestamp = &metav1.Time{} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.change(n)
			NewWithT(t).Expect(configChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n})).To(Equal(tc.want))
		})
	}

	// A K0sControllerConfig's own writes are dropped the same way.
	t.Run("controller token ID and finalizer recorded", func(t *testing.T) {
		old := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Name: "c", Generation: 1}}
		n := old.DeepCopy()
		n.Annotations = map[string]string{TokenIDAnnotation: "abcdef"}
		n.Finalizers = []string{ControllerTokenFinalizer}
		n.Status.Initialization.DataSecretCreated = ptr.To(true)
		NewWithT(t).Expect(configChanged.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: n})).To(BeFalse())
		NewWithT(t).Expect(configChanged.Update(event.UpdateEvent{ObjectOld: n, ObjectNew: old})).To(BeTrue(), "status lost its data secret")
	})

	t.Run("status lost its data secret", func(t *testing.T) {
		old := base.DeepCopy()
		old.Status.Initialization.DataSecretCreated = ptr.To(true)
		NewWithT(t).Expect(configChanged.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: base})).To(BeTrue())
	})
}

func TestMachineChangedOnlyOnWhatConfigsUse(t *testing.T) {
	base := &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Spec: clusterv1.MachineSpec{Version: "v1.33.4"}}
	for _, tc := range []struct {
		name   string
		change func(*clusterv1.Machine)
		want   bool
	}{
		{"provisioning progress", func(m *clusterv1.Machine) {
			m.Status.Phase = "Provisioned"
			m.Status.Addresses = clusterv1.MachineAddresses{{Type: clusterv1.MachineInternalIP, Address: "10.0.0.1"}}
		}, false},
		{"node joined", func(m *clusterv1.Machine) { m.Status.NodeRef = clusterv1.MachineNodeReference{Name: "m"} }, true},
		{"version", func(m *clusterv1.Machine) { m.Spec.Version = "v1.34.0" }, true},
		{"data consumed", func(m *clusterv1.Machine) { m.Spec.Bootstrap.DataSecretName = ptr.To("m") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.change(n)
			NewWithT(t).Expect(machineChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n})).To(Equal(tc.want))
		})
	}
}
