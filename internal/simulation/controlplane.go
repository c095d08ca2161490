package simulation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	cp, _, err := provisionControlPlane(ctx, s.Client, s.Workload, testenv.K0smotronControlPlaneGVK, req.NamespacedName)
	if err != nil || cp == nil {
		return ctrl.Result{}, err
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

// provisionControlPlane does what every control plane provider does first:
// once its Cluster owns the control plane of gvk at key, it publishes the
// Cluster's <cluster>-ca and <cluster>-kubeconfig Secrets for the workload
// API server. The control plane is nil when there is nothing to do yet (no
// owner: Cluster API sets it, and that update brings the reconcile back)
// or at all (gone, or paused: or the Secrets clusterctl move deletes would
// be published again).
func provisionControlPlane(ctx context.Context, c client.Client, w *testenv.Workload, gvk schema.GroupVersionKind, key client.ObjectKey) (*unstructured.Unstructured, *clusterv1.Cluster, error) {
	cp, err := getLive(ctx, c, gvk, key)
	if err != nil || cp == nil {
		return nil, nil, err
	}
	cluster, err := util.GetOwnerCluster(ctx, c, metav1.ObjectMeta{Namespace: cp.GetNamespace(), OwnerReferences: cp.GetOwnerReferences()})
	if err != nil || cluster == nil || leaveAlone(cluster, cp) {
		return nil, nil, client.IgnoreNotFound(err)
	}
	for _, obj := range w.ClusterSecrets(cluster) {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, nil, fmt.Errorf("publishing %s: %w", obj.Name, err)
		}
	}
	return cp, cluster, nil
}
