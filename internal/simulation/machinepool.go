package simulation

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// MachinePoolSimulator stands in for CAPA's AWSMachinePool controller and the
// Auto Scaling group behind it: once the MachinePool has bootstrap data, it
// "launches" the pool's replicas with made-up provider IDs, boots each like
// the BootSimulator boots a Machine (its join token must authenticate, then
// its Node is registered) and reports the pool provisioned. Paused Clusters
// are left alone. No instance exists.
type MachinePoolSimulator struct {
	Boot *BootSimulator
}

// SetupWithManager registers the simulator.
func (s *MachinePoolSimulator) SetupWithManager(mgr ctrl.Manager) error {
	return controllerFor(mgr, "simulated-awsmachinepool", testenv.AWSMachinePoolGVK).
		// The MachinePool getting its bootstrap data (or being resumed)
		// is what launches the instances.
		Watches(&clusterv1.MachinePool{}, enqueueReferenced(testenv.AWSMachinePoolGVK, func(mp *clusterv1.MachinePool) clusterv1.ContractVersionedObjectReference {
			return mp.Spec.Template.Spec.InfrastructureRef
		})).
		Complete(s)
}

// Reconcile launches and boots one pool's instances.
func (s *MachinePoolSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := s.Boot.Client
	pool, err := getLive(ctx, c, testenv.AWSMachinePoolGVK, req.NamespacedName)
	if err != nil || pool == nil {
		return ctrl.Result{}, err
	}
	mp, err := util.GetOwnerMachinePool(ctx, c, metav1.ObjectMeta{Namespace: pool.GetNamespace(), OwnerReferences: pool.GetOwnerReferences()})
	if err != nil || mp == nil {
		// Cluster API sets the owner reference; that update brings us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cluster, err := util.GetClusterByName(ctx, c, mp.Namespace, mp.Spec.ClusterName)
	if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	dataSecret := ptr.Deref(mp.Spec.Template.Spec.Bootstrap.DataSecretName, "")
	if leaveAlone(cluster, pool) || dataSecret == "" {
		// The MachinePool's update (data set, Cluster unpaused) brings us back.
		return ctrl.Result{}, nil
	}

	// The group's instances: those it has (they move with the spec, as the
	// group stays in AWS), and new ones up to the MachinePool's replicas.
	replicas := int(ptr.Deref(mp.Spec.Replicas, 1))
	existing, _, _ := unstructured.NestedStringSlice(pool.Object, "spec", "providerIDList")
	ids := make([]any, 0, replicas)
	for i := range replicas {
		id := poolInstanceID(pool, i)
		if i < len(existing) {
			id = existing[i]
		}
		ids = append(ids, id)
		if err := s.Boot.bootInstance(ctx, pool.GetNamespace(), dataSecret, id, poolNodeName(pool, id)); err != nil {
			s.Boot.Recorder.Eventf(mp, nil, corev1.EventTypeWarning, "SimulatedBootFailed", "Boot", "%s", err.Error())
			return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
		}
	}

	if err := patchFields(ctx, c, pool, "spec", map[string]any{"providerIDList": ids}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, patchFields(ctx, c, pool, "status", map[string]any{"ready": true, "replicas": int64(replicas)})
}

// poolInstanceID makes up the EC2-style provider ID of a pool's i-th instance.
func poolInstanceID(pool *unstructured.Unstructured, i int) string {
	id := strings.ReplaceAll(string(pool.GetUID()), "-", "")[:14]
	return fmt.Sprintf("aws:///us-east-1a/i-%s%03d", id, i)
}

// poolNodeName is the hostname a pool instance registers under: instances
// of a pool share one config, so they use their own hostnames.
func poolNodeName(pool *unstructured.Unstructured, providerID string) string {
	return pool.GetName() + "-" + providerID[len(providerID)-8:]
}
