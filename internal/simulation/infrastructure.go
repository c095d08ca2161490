package simulation

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
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
	if err := controllerFor(mgr, "simulated-awscluster", testenv.AWSClusterGVK).Complete(reconcile.Func(s.reconcileCluster)); err != nil {
		return err
	}
	return controllerFor(mgr, "simulated-awsmachine", testenv.AWSMachineGVK).Complete(s)
}

// reconcileCluster provisions one AWSCluster; the control plane endpoint
// comes from the control plane stand-in.
func (s *InfrastructureSimulator) reconcileCluster(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c, err := getLive(ctx, s.Client, testenv.AWSClusterGVK, req.NamespacedName)
	if err != nil || c == nil {
		return ctrl.Result{}, err
	}
	if ready, _, _ := unstructured.NestedBool(c.Object, "status", "ready"); ready {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, patchFields(ctx, s.Client, c, "status", map[string]any{"ready": true})
}

// Reconcile provisions one AWSMachine.
func (s *InfrastructureSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m, err := getLive(ctx, s.Client, testenv.AWSMachineGVK, req.NamespacedName)
	if err != nil || m == nil {
		return ctrl.Result{}, err
	}
	if id, _, _ := unstructured.NestedString(m.Object, "spec", "providerID"); id == "" {
		spec := map[string]any{"providerID": providerID(m)}
		// CAPA's schema requires an instance type once spec exists; the
		// seed's AWSMachine leaves it out, so the stand-in picks one.
		if t, _, _ := unstructured.NestedString(m.Object, "spec", "instanceType"); t == "" {
			spec["instanceType"] = "t3.medium"
		}
		if err := patchFields(ctx, s.Client, m, "spec", spec); err != nil {
			return ctrl.Result{}, err
		}
	}
	if ready, _, _ := unstructured.NestedBool(m.Object, "status", "ready"); !ready {
		return ctrl.Result{}, patchFields(ctx, s.Client, m, "status", map[string]any{"ready": true})
	}
	return ctrl.Result{}, nil
}
