package testenv

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// InfrastructureSimulator stands in for CAPA: it marks every AWSCluster
// provisioned, and every AWSMachine provisioned with a made-up provider ID,
// as if an EC2 instance had been launched with the Machine's bootstrap data.
// No instance exists.
type InfrastructureSimulator struct {
	Client client.Client
}

// providerID makes up an EC2-style provider ID, unique per AWSMachine (its
// UID), so Machines of different clusters never claim the same Node.
func providerID(m *unstructured.Unstructured) string {
	id := strings.ReplaceAll(string(m.GetUID()), "-", "")
	if len(id) > 17 {
		id = id[:17]
	}
	return "aws:///us-east-1a/i-" + id
}

// SetupWithManager registers the simulator.
func (s *InfrastructureSimulator) SetupWithManager(mgr ctrl.Manager) error {
	awsCluster := &unstructured.Unstructured{}
	awsCluster.SetGroupVersionKind(AWSClusterGVK)
	err := ctrl.NewControllerManagedBy(mgr).Named("simulated-awscluster").For(awsCluster).
		Complete(reconcile.Func(s.reconcileCluster))
	if err != nil {
		return err
	}
	awsMachine := &unstructured.Unstructured{}
	awsMachine.SetGroupVersionKind(AWSMachineGVK)
	return ctrl.NewControllerManagedBy(mgr).Named("simulated-awsmachine").For(awsMachine).Complete(s)
}

// reconcileCluster provisions one AWSCluster; the control plane endpoint
// comes from the control plane stand-in.
func (s *InfrastructureSimulator) reconcileCluster(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := &unstructured.Unstructured{}
	c.SetGroupVersionKind(AWSClusterGVK)
	if err := s.Client.Get(ctx, req.NamespacedName, c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ready, _, _ := unstructured.NestedBool(c.Object, "status", "ready"); ready || !c.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	base := c.DeepCopy()
	if err := unstructured.SetNestedField(c.Object, true, "status", "ready"); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, s.Client.Status().Patch(ctx, c, client.MergeFrom(base))
}

// Reconcile provisions one AWSMachine.
func (s *InfrastructureSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &unstructured.Unstructured{}
	m.SetGroupVersionKind(AWSMachineGVK)
	if err := s.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !m.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	if id, _, _ := unstructured.NestedString(m.Object, "spec", "providerID"); id == "" {
		base := m.DeepCopy()
		if err := unstructured.SetNestedField(m.Object, providerID(m), "spec", "providerID"); err != nil {
			return ctrl.Result{}, err
		}
		// CAPA's schema requires an instance type once spec exists; the
		// seed's AWSMachine leaves it out, so the stand-in picks one.
		if t, _, _ := unstructured.NestedString(m.Object, "spec", "instanceType"); t == "" {
			if err := unstructured.SetNestedField(m.Object, "t3.medium", "spec", "instanceType"); err != nil {
				return ctrl.Result{}, err
			}
		}
		if err := s.Client.Patch(ctx, m, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, err
		}
	}
	if ready, _, _ := unstructured.NestedBool(m.Object, "status", "ready"); !ready {
		base := m.DeepCopy()
		if err := unstructured.SetNestedField(m.Object, true, "status", "ready"); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, s.Client.Status().Patch(ctx, m, client.MergeFrom(base))
	}
	return ctrl.Result{}, nil
}
