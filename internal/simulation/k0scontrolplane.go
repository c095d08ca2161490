package simulation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

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

// K0sControlPlaneSimulator stands in for k0smotron's K0sControlPlane
// controller (testenv.K0sControlPlaneCRD) on the sandbox's one workload
// API server: it publishes the Cluster's <cluster>-ca and -kubeconfig
// Secrets, and keeps spec.replicas control-plane Machines of
// spec.version with K0sControlPlane's writes (K0sControlPlane.AddMachine),
// one step at a time as k0smotron does: a Machine is added or removed only
// once every other has its controller running (its ControlNode exists). A
// version change rolls the Machines: one of the new version is added, then
// the oldest outdated one removed. It reports the control plane initialized
// once a controller runs. The controllers are BootSimulator's.
type K0sControlPlaneSimulator struct {
	Client   client.Client
	Workload *testenv.Workload
}

// k0sControlPlaneStep is how soon a control plane waiting for a controller
// to come up looks again.
const k0sControlPlaneStep = 2 * time.Second

// SetupWithManager registers the simulator.
func (s *K0sControlPlaneSimulator) SetupWithManager(mgr ctrl.Manager) error {
	return controllerFor(mgr, "simulated-k0scontrolplane", testenv.K0sControlPlaneGVK).
		Watches(&clusterv1.Cluster{}, enqueueReferenced(testenv.K0sControlPlaneGVK, func(c *clusterv1.Cluster) clusterv1.ContractVersionedObjectReference {
			return c.Spec.ControlPlaneRef
		})).
		Watches(&clusterv1.Machine{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			name := o.GetLabels()[clusterv1.MachineControlPlaneNameLabel]
			if name == "" {
				return nil
			}
			return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
		})).
		Complete(s)
}

// Reconcile takes one control plane one step towards its spec.
func (s *K0sControlPlaneSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cp, cluster, err := provisionControlPlane(ctx, s.Client, s.Workload, testenv.K0sControlPlaneGVK, req.NamespacedName)
	if err != nil || cp == nil {
		return ctrl.Result{}, err
	}
	if !cluster.Spec.ControlPlaneEndpoint.IsValid() {
		// The infrastructure's (its load balancer); K0sControlPlane merges
		// it into every Machine's k0s config.
		return ctrl.Result{RequeueAfter: k0sControlPlaneStep}, nil
	}

	plane, replicas, err := s.plane(cp, cluster)
	if err != nil {
		return ctrl.Result{}, err
	}
	machines := &clusterv1.MachineList{}
	if err := s.Client.List(ctx, machines, client.InNamespace(cp.GetNamespace()), client.MatchingLabels{clusterv1.MachineControlPlaneNameLabel: cp.GetName()}); err != nil {
		return ctrl.Result{}, err
	}
	slices.SortFunc(machines.Items, func(a, b clusterv1.Machine) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	running, outdated, busy := 0, []string{}, false
	for i := range machines.Items {
		m := &machines.Items[i]
		up, err := s.controllerRunning(ctx, m.Name)
		if err != nil {
			return ctrl.Result{}, err
		}
		switch {
		case !m.DeletionTimestamp.IsZero() || !up:
			busy = true
		default:
			running++
		}
		if m.Spec.Version != plane.Version {
			outdated = append(outdated, m.Name)
		}
	}
	status := map[string]any{"replicas": int64(len(machines.Items)), "readyReplicas": int64(running)}
	if running > 0 {
		status["initialization"] = map[string]any{"controlPlaneInitialized": true}
	}
	if len(outdated) == 0 {
		status["version"] = plane.Version
	}
	if err := patchFields(ctx, s.Client, cp, "status", status); err != nil {
		return ctrl.Result{}, err
	}
	if busy {
		return ctrl.Result{RequeueAfter: k0sControlPlaneStep}, nil
	}
	switch n := len(machines.Items); {
	case n < replicas || n == replicas && len(outdated) > 0:
		_, err = plane.AddMachine(ctx)
	case n > replicas:
		victim := machines.Items[0].Name
		if len(outdated) > 0 {
			victim = outdated[0]
		}
		err = s.removeController(ctx, plane, victim)
	}
	return ctrl.Result{}, err
}

// plane reads the K0sControlPlane's spec.
func (s *K0sControlPlaneSimulator) plane(cp *unstructured.Unstructured, cluster *clusterv1.Cluster) (*K0sControlPlane, int, error) {
	replicas, found, err := unstructured.NestedInt64(cp.Object, "spec", "replicas")
	if err != nil {
		return nil, 0, fmt.Errorf("K0sControlPlane %s spec.replicas: %w", cp.GetName(), err)
	}
	if !found {
		replicas = 1
	}
	version, _, _ := unstructured.NestedString(cp.Object, "spec", "version")
	plane := &K0sControlPlane{Client: s.Client, Namespace: cp.GetNamespace(), Name: cp.GetName(), Cluster: cluster, Version: version}
	if spec, ok, _ := unstructured.NestedMap(cp.Object, "spec", "k0sConfigSpec"); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &plane.Spec); err != nil {
			return nil, 0, fmt.Errorf("K0sControlPlane %s spec.k0sConfigSpec: %w", cp.GetName(), err)
		}
	}
	return plane, int(replicas), nil
}

// controllerRunning: the controller of Machine name registered its
// ControlNode in the workload cluster.
func (s *K0sControlPlaneSimulator) controllerRunning(ctx context.Context, name string) (bool, error) {
	node := newObject(testenv.ControlNodeGVK)
	err := s.Workload.Client.Get(ctx, client.ObjectKey{Name: name}, node)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// removeController takes a controller out as K0sControlPlane does: the
// Machine is deleted, and its ControlNode with it (the Machine first: a
// Machine without its ControlNode would look unbooted).
func (s *K0sControlPlaneSimulator) removeController(ctx context.Context, plane *K0sControlPlane, name string) error {
	if err := plane.RemoveMachine(ctx, name); err != nil {
		return err
	}
	node := newObject(testenv.ControlNodeGVK)
	node.SetName(name)
	if err := s.Workload.Client.Delete(ctx, node); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing ControlNode %s: %w", name, err)
	}
	return nil
}
