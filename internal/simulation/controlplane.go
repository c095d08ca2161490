package simulation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// ControlPlaneSimulator stands in for k0smotron's control plane provider:
// for each K0smotronControlPlane (testenv.K0smotronControlPlaneCRD) it
// publishes Cluster API's <cluster>-ca and <cluster>-kubeconfig Secrets for
// the workload API server, the control plane endpoint, and reports itself
// initialized. No k0s runs: the workload cluster is a bare kube-apiserver
// with k0s's bootstrapper RBAC.
type ControlPlaneSimulator struct {
	Client   client.Client
	Workload *testenv.Workload
}

// SetupWithManager registers the simulator.
func (s *ControlPlaneSimulator) SetupWithManager(mgr ctrl.Manager) error {
	return controllerFor(mgr, "simulated-k0smotroncontrolplane", testenv.K0smotronControlPlaneGVK).
		// Unpausing a Cluster resumes its control plane.
		Watches(&clusterv1.Cluster{}, enqueueReferenced(testenv.K0smotronControlPlaneGVK, func(c *clusterv1.Cluster) clusterv1.ContractVersionedObjectReference {
			return c.Spec.ControlPlaneRef
		})).
		Complete(s)
}

// Reconcile provisions one control plane once its Cluster owns it.
func (s *ControlPlaneSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cp, err := getLive(ctx, s.Client, testenv.K0smotronControlPlaneGVK, req.NamespacedName)
	if err != nil || cp == nil {
		return ctrl.Result{}, err
	}
	cluster, err := util.GetOwnerCluster(ctx, s.Client, metav1.ObjectMeta{Namespace: cp.GetNamespace(), OwnerReferences: cp.GetOwnerReferences()})
	if err != nil || cluster == nil {
		// Cluster API sets the owner reference; that update brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if leaveAlone(cluster, cp) {
		// Or the Secrets clusterctl move deletes would be published again.
		return ctrl.Result{}, nil
	}
	for _, obj := range s.Workload.ClusterSecrets(cluster) {
		if err := s.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("publishing %s: %w", obj.Name, err)
		}
	}

	host, port, err := s.Workload.Endpoint()
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := patchFields(ctx, s.Client, cp, "spec", map[string]any{"controlPlaneEndpoint": map[string]any{"host": host, "port": int64(port)}}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, patchFields(ctx, s.Client, cp, "status", map[string]any{
		"initialization": map[string]any{"controlPlaneInitialized": true},
		"ready":          true,
		"initialized":    true,
	})
}
