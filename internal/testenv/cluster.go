package testenv

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/kubeconfig"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/cluster-api/util/test/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Kinds the fixtures create.
var (
	AWSClusterGVK          = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSCluster"}
	AWSMachineGVK          = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachine"}
	AWSMachineTemplateGVK  = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachineTemplate"}
	GenericControlPlaneGVK = builder.ControlPlaneGroupVersion.WithKind(builder.GenericControlPlaneKind)
)

// ClusterOptions shape CreateCluster.
type ClusterOptions struct {
	// ControlPlaneUninitialized leaves the stand-in control plane
	// uninitialized; SetControlPlaneInitialized flips it later.
	ControlPlaneUninitialized bool
	// Paused creates the Cluster with spec.paused.
	Paused bool
}

// CreateCluster creates a Cluster whose workload cluster is w, the way a k0s
// control plane provider would leave it: an AWSCluster (provisioned), a
// stand-in control plane (initialized), the control plane endpoint, and
// Cluster API's <name>-ca and <name>-kubeconfig Secrets.
func CreateCluster(ctx context.Context, c client.Client, w *Workload, namespace, name string, opts ClusterOptions) (*clusterv1.Cluster, error) {
	host, port, err := w.Endpoint()
	if err != nil {
		return nil, err
	}
	endpoint := map[string]any{"host": host, "port": int64(port)}

	awsCluster := &unstructured.Unstructured{}
	awsCluster.SetGroupVersionKind(AWSClusterGVK)
	awsCluster.SetNamespace(namespace)
	awsCluster.SetName(name)
	awsCluster.Object["spec"] = map[string]any{"region": "us-east-1", "controlPlaneEndpoint": endpoint}
	if err := c.Create(ctx, awsCluster); err != nil {
		return nil, fmt.Errorf("creating AWSCluster: %w", err)
	}
	base := awsCluster.DeepCopy()
	awsCluster.Object["status"] = map[string]any{"ready": true}
	if err := c.Status().Patch(ctx, awsCluster, client.MergeFrom(base)); err != nil {
		return nil, fmt.Errorf("marking AWSCluster ready: %w", err)
	}

	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(GenericControlPlaneGVK)
	cp.SetNamespace(namespace)
	cp.SetName(name)
	cp.Object["spec"] = map[string]any{}
	if err := c.Create(ctx, cp); err != nil {
		return nil, fmt.Errorf("creating the stand-in control plane: %w", err)
	}

	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: clusterv1.ClusterSpec{
			Paused:               &opts.Paused,
			ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: host, Port: port},
			InfrastructureRef:    clusterv1.ContractVersionedObjectReference{APIGroup: AWSClusterGVK.Group, Kind: AWSClusterGVK.Kind, Name: name},
			ControlPlaneRef:      clusterv1.ContractVersionedObjectReference{APIGroup: GenericControlPlaneGVK.Group, Kind: GenericControlPlaneGVK.Kind, Name: name},
		},
	}
	if err := c.Create(ctx, cluster); err != nil {
		return nil, fmt.Errorf("creating Cluster: %w", err)
	}

	ca := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: secret.Name(name, secret.ClusterCA), Labels: map[string]string{clusterv1.ClusterNameLabel: name}},
		Type:       clusterv1.ClusterSecretType,
		Data:       map[string][]byte{secret.TLSCrtDataName: w.CACert},
	}
	if err := c.Create(ctx, ca); err != nil {
		return nil, fmt.Errorf("creating the cluster CA Secret: %w", err)
	}
	if err := c.Create(ctx, kubeconfig.GenerateSecret(cluster, kubeconfig.FromEnvTestConfig(w.Config, cluster))); err != nil {
		return nil, fmt.Errorf("creating the kubeconfig Secret: %w", err)
	}

	if !opts.ControlPlaneUninitialized {
		if err := SetControlPlaneInitialized(ctx, c, namespace, name); err != nil {
			return nil, err
		}
	}
	return cluster, nil
}

// SetControlPlaneInitialized reports the stand-in control plane initialized,
// as k0smotron's control plane does once its first controller is up.
func SetControlPlaneInitialized(ctx context.Context, c client.Client, namespace, name string) error {
	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(GenericControlPlaneGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cp); err != nil {
		return err
	}
	base := cp.DeepCopy()
	cp.Object["status"] = map[string]any{"initialization": map[string]any{"controlPlaneInitialized": true}}
	if err := c.Status().Patch(ctx, cp, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("marking the control plane initialized: %w", err)
	}
	return nil
}
