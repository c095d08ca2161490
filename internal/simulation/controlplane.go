package simulation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/k0sversion"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// ControlPlaneSimulator stands in for k0smotron's control plane provider:
// for each K0smotronControlPlane (testenv.K0smotronControlPlaneCRD) it
// publishes Cluster API's <cluster>-ca and <cluster>-kubeconfig Secrets for
// the workload API server, the control plane endpoint, and reports itself
// initialized, and publishes the worker profiles of its k0s config
// (spec.k0sConfig.spec.workerProfiles, and always default) for its
// Kubernetes minor, as k0s's worker-config reconciler does. No k0s runs:
// the workload cluster is a kube-apiserver and kube-controller-manager with
// k0s's worker RBAC (testenv.Workload).
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

	if err := s.publishWorkerProfiles(ctx, cp); err != nil {
		return ctrl.Result{}, err
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

// publishWorkerProfiles publishes the profiles the control plane's k0s
// config defines for the Kubernetes minor of its version.
func (s *ControlPlaneSimulator) publishWorkerProfiles(ctx context.Context, cp *unstructured.Unstructured) error {
	version, _, _ := unstructured.NestedString(cp.Object, "spec", "version")
	if version == "" {
		// k0smotron requires one; without it no worker profile is
		// published, and joins say so.
		return nil
	}
	minor, err := k0sversion.KubernetesMinor(version)
	if err != nil {
		return fmt.Errorf("control plane %s: %w", cp.GetName(), err)
	}
	profiles := map[string]string{}
	list, _, _ := unstructured.NestedSlice(cp.Object, "spec", "k0sConfig", "spec", "workerProfiles")
	for _, item := range list {
		p, ok := item.(map[string]any)
		name, _ := p["name"].(string)
		if !ok || name == "" {
			continue
		}
		values, err := yaml.Marshal(p["values"])
		if err != nil {
			return err
		}
		profiles[name] = string(values)
	}
	return s.Workload.PublishWorkerProfiles(ctx, minor, profiles)
}
