package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// TestOwnerFoundThroughConfigRef: before the Machine controller sets the
// owner reference, the Machine naming the config in its configRef is the
// owner; a config some other controller controls waits.
func TestOwnerFoundThroughConfigRef(t *testing.T) {
	scheme := runtime.NewScheme()
	NewWithT(t).Expect(clusterv1.AddToScheme(scheme)).To(Succeed())
	NewWithT(t).Expect(bootstrapv1.AddToScheme(scheme)).To(Succeed())

	machine := func(name, configName string) *clusterv1.Machine {
		return &clusterv1.Machine{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: clusterv1.MachineSpec{ClusterName: "c", Bootstrap: clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: configName,
			}}},
		}
	}
	controlledBy := func(apiVersion, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "owner", UID: "u", Controller: ptr.To(true)}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(machine("m1", "from-machineset"), machine("m2", "other-controller"), machine("m3", "unowned")).
		WithIndex(&clusterv1.Machine{}, machineByConfigIndex(workerConfigKind), indexMachineByConfig(workerConfigKind)).
		Build()

	for _, tc := range []struct {
		name      string
		owners    []metav1.OwnerReference
		wantOwner string
	}{
		{"from-machineset", controlledBy(clusterv1.GroupVersion.String(), "MachineSet"), "m1"},
		{"unowned", nil, "m3"},
		{"other-controller", controlledBy("example.com/v1", "Pool"), ""},
		{"no-machine-yet", controlledBy(clusterv1.GroupVersion.String(), "MachineSet"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: tc.name, OwnerReferences: tc.owners}}
			owner, err := NewK0sWorkerConfigReconciler(ReconcilerOptions{Client: c}).getConfigOwner(t.Context(), config)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.wantOwner == "" {
				g.Expect(owner).To(BeNil())
				return
			}
			g.Expect(owner).NotTo(BeNil())
			g.Expect(client.ObjectKeyFromObject(owner.object()).Name).To(Equal(tc.wantOwner))
		})
	}
}

// TestClusterWakesTheConfigsItsMachinesName: a Cluster event reaches the
// configs labelled with it and those its Machines and MachinePools name,
// labelled or not (a config created while the Cluster was paused has no
// label), once each.
func TestClusterWakesTheConfigsItsMachinesName(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(clusterv1.AddToScheme(scheme)).To(Succeed())
	g.Expect(bootstrapv1.AddToScheme(scheme)).To(Succeed())
	ref := func(name string) clusterv1.Bootstrap {
		return clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: name}}
	}
	ofCluster := map[string]string{clusterv1.ClusterNameLabel: "c"}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m1", Labels: ofCluster}, Spec: clusterv1.MachineSpec{Bootstrap: ref("unlabelled")}},
		&clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m2", Labels: ofCluster}, Spec: clusterv1.MachineSpec{Bootstrap: ref("labelled")}},
		&clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other", Labels: map[string]string{clusterv1.ClusterNameLabel: "d"}}, Spec: clusterv1.MachineSpec{Bootstrap: ref("of-d")}},
		&clusterv1.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Labels: ofCluster},
			Spec: clusterv1.MachinePoolSpec{Template: clusterv1.MachineTemplateSpec{Spec: clusterv1.MachineSpec{Bootstrap: ref("pool")}}}},
	).Build()
	labelled := func(context.Context, client.Object) []ctrl.Request {
		return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "labelled"}}}
	}
	requests := clusterToConfigsMapper(c, workerConfigKind, labelled)(t.Context(), &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}})
	g.Expect(requests).To(ConsistOf(
		ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "labelled"}},
		ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "unlabelled"}},
		ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "pool"}},
	))
}
