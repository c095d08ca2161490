package simulation

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// K0smotronFieldManager is the field manager k0smotron's controllers apply with.
const K0smotronFieldManager = "k0smotron"

// K0sControlPlane writes what k0smotron's K0sControlPlane controller writes
// for its control-plane Machines (k0smotron's module cannot be fetched
// here, so its writes are reproduced, by server-side apply with its field
// manager): per Machine an infrastructure machine, the Machine (named
// <control plane>-<5 random characters>, controlled by the control plane)
// and a K0sControllerConfig of the same name, owned by the control plane
// without being its controller, whose k0s config is the control plane's
// merged with the Cluster's network and endpoint. Cluster API's Machine
// controller then takes the config over, as it does for K0sControlPlane.
type K0sControlPlane struct {
	Client client.Client
	// Namespace and Name are the K0sControlPlane's (testenv.K0sControlPlaneCRD).
	Namespace, Name string
	// Cluster is the Cluster it is the control plane of.
	Cluster *clusterv1.Cluster
	// Version is spec.version, the k0s version of every Machine.
	Version string
	// Spec is spec.k0sConfigSpec, the base of every Machine's config.
	Spec bootstrapv1.K0sControllerConfigSpec
}

// AddMachine creates one control-plane Machine and its config, as a
// K0sControlPlane scale-up step does, and returns its name.
func (k *K0sControlPlane) AddMachine(ctx context.Context) (string, error) {
	cp := &unstructured.Unstructured{}
	cp.SetGroupVersionKind(testenv.K0sControlPlaneGVK)
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, cp); err != nil {
		return "", fmt.Errorf("reading K0sControlPlane %s: %w", k.Name, err)
	}
	name := k.Name + "-" + rand.String(5)
	owner := func(controller bool) map[string]any {
		return map[string]any{
			"apiVersion": testenv.K0sControlPlaneGVK.GroupVersion().String(), "kind": testenv.K0sControlPlaneGVK.Kind,
			"name": cp.GetName(), "uid": string(cp.GetUID()), "controller": controller, "blockOwnerDeletion": true,
		}
	}
	labels := map[string]any{
		clusterv1.ClusterNameLabel:             k.Cluster.Name,
		clusterv1.MachineControlPlaneLabel:     "",
		clusterv1.MachineControlPlaneNameLabel: k.Name,
	}

	infra := object(testenv.AWSMachineGVK.GroupVersion().String(), testenv.AWSMachineGVK.Kind, k.Namespace, name)
	infra.Object["metadata"].(map[string]any)["labels"] = labels
	infra.Object["spec"] = map[string]any{"instanceType": "t3.large"}

	spec, err := k.configSpec(name)
	if err != nil {
		return "", err
	}
	config := object(bootstrapv1.GroupVersion.String(), "K0sControllerConfig", k.Namespace, name)
	config.Object["metadata"].(map[string]any)["labels"] = labels
	config.Object["metadata"].(map[string]any)["ownerReferences"] = []any{owner(false)}
	config.Object["spec"] = spec

	machine := object(clusterv1.GroupVersion.String(), "Machine", k.Namespace, name)
	machine.Object["metadata"].(map[string]any)["labels"] = labels
	machine.Object["metadata"].(map[string]any)["ownerReferences"] = []any{owner(true)}
	machine.Object["spec"] = map[string]any{
		"clusterName": k.Cluster.Name,
		"version":     k.Version,
		"bootstrap": map[string]any{"configRef": map[string]any{
			"apiGroup": bootstrapv1.GroupVersion.Group, "kind": "K0sControllerConfig", "name": name,
		}},
		"infrastructureRef": map[string]any{"apiGroup": testenv.AWSMachineGVK.Group, "kind": testenv.AWSMachineGVK.Kind, "name": name},
	}
	for _, obj := range []*unstructured.Unstructured{infra, config, machine} {
		if err := k.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(K0smotronFieldManager), client.ForceOwnership); err != nil {
			return "", fmt.Errorf("applying %s %s: %w", obj.GetKind(), name, err)
		}
	}
	return name, nil
}

// RemoveMachine deletes a control-plane Machine, as a scale-down does;
// Cluster API deletes its config and infrastructure machine with it.
func (k *K0sControlPlane) RemoveMachine(ctx context.Context, name string) error {
	machine := &clusterv1.Machine{}
	machine.Namespace, machine.Name = k.Namespace, name
	return client.IgnoreNotFound(k.Client.Delete(ctx, machine))
}

// configSpec is a Machine's K0sControllerConfig spec: the control plane's,
// its version, and its k0s config with what K0sControlPlane merges in: the
// Cluster's pod and service networks and service domain where the user
// set none, the endpoint as api.externalAddress, and the etcd member name.
func (k *K0sControlPlane) configSpec(machineName string) (map[string]any, error) {
	raw, err := json.Marshal(k.Spec)
	if err != nil {
		return nil, err
	}
	spec := map[string]any{}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, err
	}
	spec["version"] = k.Version
	k0s := map[string]any{}
	if k.Spec.K0s != nil && len(k.Spec.K0s.Raw) > 0 {
		if err := json.Unmarshal(k.Spec.K0s.Raw, &k0s); err != nil {
			return nil, fmt.Errorf("spec.k0sConfigSpec.k0s: %w", err)
		}
	}
	k0s["apiVersion"], k0s["kind"] = "k0s.k0sproject.io/v1beta1", "ClusterConfig"
	k0sSpec := mapAt(k0s, "spec")
	network := mapAt(k0sSpec, "network")
	n := k.Cluster.Spec.ClusterNetwork
	setDefault(network, "podCIDR", first(n.Pods.CIDRBlocks))
	setDefault(network, "serviceCIDR", first(n.Services.CIDRBlocks))
	setDefault(network, "clusterDomain", n.ServiceDomain)
	setDefault(mapAt(k0sSpec, "api"), "externalAddress", k.Cluster.Spec.ControlPlaneEndpoint.Host)
	mapAt(mapAt(mapAt(k0sSpec, "storage"), "etcd"), "extraArgs")["name"] = machineName
	spec["k0s"] = k0s
	return spec, nil
}

func object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"namespace": namespace, "name": name},
	}}
}

func mapAt(m map[string]any, key string) map[string]any {
	if v, ok := m[key].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[key] = v
	return v
}

func setDefault(m map[string]any, key, value string) {
	if _, set := m[key]; !set && value != "" {
		m[key] = value
	}
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}
