package testenv

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/annotations"
	"sigs.k8s.io/cluster-api/util/contract"
	"sigs.k8s.io/cluster-api/util/kubeconfig"
	"sigs.k8s.io/cluster-api/util/secret"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
)

// K0smotronControlPlaneGVK is the kind of k0smotron's hosted control plane,
// which the sandbox and the template checks stand in for.
var K0smotronControlPlaneGVK = schema.GroupVersionKind{Group: "controlplane.cluster.x-k8s.io", Version: "v1beta2", Kind: "K0smotronControlPlane"}

// K0smotronControlPlaneCRD is a stand-in CRD for k0smotron's
// K0smotronControlPlane: the same group, kind and contract label, any spec.
// Only the Cluster API contract fields matter to what is simulated here.
func K0smotronControlPlaneCRD() *apiextensionsv1.CustomResourceDefinition {
	gvk := K0smotronControlPlaneGVK
	open := apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name:   contract.CalculateCRDName(gvk.Group, gvk.Kind),
			Labels: map[string]string{clusterv1.GroupVersion.String(): gvk.Version},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: gvk.Group,
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: gvk.Kind, ListKind: gvk.Kind + "List", Plural: "k0smotroncontrolplanes", Singular: "k0smotroncontrolplane",
				Categories: []string{"cluster-api"},
			},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: gvk.Version, Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": open, "status": open},
				}},
			}},
		},
	}
}

// ControlPlaneSimulator stands in for k0smotron's control plane provider:
// for each K0smotronControlPlane it publishes Cluster API's <cluster>-ca and
// <cluster>-kubeconfig Secrets for the workload API server, the control
// plane endpoint, and reports itself initialized. No k0s runs: the workload
// cluster is a bare kube-apiserver with k0s's bootstrapper RBAC.
type ControlPlaneSimulator struct {
	Client   client.Client
	Workload *Workload
}

// SetupWithManager registers the simulator.
func (s *ControlPlaneSimulator) SetupWithManager(mgr ctrl.Manager) error {
	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(K0smotronControlPlaneGVK)
	return ctrl.NewControllerManagedBy(mgr).Named("simulated-k0smotroncontrolplane").For(cp).
		// Unpausing a Cluster resumes its control plane.
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToControlPlane)).
		Complete(s)
}

func clusterToControlPlane(_ context.Context, o client.Object) []ctrl.Request {
	c, ok := o.(*clusterv1.Cluster)
	if !ok || c.Spec.ControlPlaneRef.Kind != K0smotronControlPlaneGVK.Kind || c.Spec.ControlPlaneRef.APIGroup != K0smotronControlPlaneGVK.Group {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.ControlPlaneRef.Name}}}
}

// Reconcile provisions one control plane once its Cluster owns it.
func (s *ControlPlaneSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(K0smotronControlPlaneGVK)
	if err := s.Client.Get(ctx, req.NamespacedName, cp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cp.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	cluster, err := util.GetOwnerCluster(ctx, s.Client, metav1.ObjectMeta{Namespace: cp.GetNamespace(), OwnerReferences: cp.GetOwnerReferences()})
	if err != nil || cluster == nil {
		// Cluster API sets the owner reference; that update brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if annotations.IsPaused(cluster, cp) {
		// As every provider: a paused Cluster (clusterctl move pauses the
		// source) is left alone, or the Secrets move deletes would be
		// published again.
		return ctrl.Result{}, nil
	}
	if err := s.publishSecrets(ctx, cluster); err != nil {
		return ctrl.Result{}, err
	}

	host, port, err := s.Workload.Endpoint()
	if err != nil {
		return ctrl.Result{}, err
	}
	base := cp.DeepCopy()
	if err := unstructured.SetNestedMap(cp.Object, map[string]any{"host": host, "port": int64(port)}, "spec", "controlPlaneEndpoint"); err != nil {
		return ctrl.Result{}, err
	}
	if err := s.Client.Patch(ctx, cp, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, err
	}
	base = cp.DeepCopy()
	status := map[string]any{
		"initialization": map[string]any{"controlPlaneInitialized": true},
		"ready":          true,
		"initialized":    true,
	}
	if err := unstructured.SetNestedMap(cp.Object, status, "status"); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, s.Client.Status().Patch(ctx, cp, client.MergeFrom(base))
}

// publishSecrets writes the CA and kubeconfig Secrets a k0s control plane
// provider publishes, owned by the Cluster so they move and go with it.
func (s *ControlPlaneSimulator) publishSecrets(ctx context.Context, cluster *clusterv1.Cluster) error {
	owner := *metav1.NewControllerRef(cluster, clusterv1.GroupVersion.WithKind("Cluster"))
	ca := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cluster.Namespace, Name: secret.Name(cluster.Name, secret.ClusterCA),
			Labels:          map[string]string{clusterv1.ClusterNameLabel: cluster.Name},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{secret.TLSCrtDataName: s.Workload.CACert},
	}
	kc := kubeconfig.GenerateSecretWithOwner(client.ObjectKeyFromObject(cluster), kubeconfig.FromEnvTestConfig(s.Workload.Config, cluster), owner)
	for _, obj := range []*corev1.Secret{ca, kc} {
		if err := s.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("publishing %s: %w", obj.Name, err)
		}
	}
	return nil
}
