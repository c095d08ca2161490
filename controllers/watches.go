package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/predicates"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// SetupWithManager watches configs, their owners, their Clusters and the
// connectivity of their workload clusters.
func (r *K0sWorkerConfigReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, options controller.Options) error {
	if r.TokenTTL <= 0 {
		return errors.New("TokenTTL must be positive")
	}
	if r.SecretCachingClient == nil {
		return errors.New("SecretCachingClient is required")
	}
	if r.SourceCache == nil {
		return errors.New("SourceCache is required")
	}
	log := ctrl.LoggerFrom(ctx)
	if err := mgr.GetFieldIndexer().IndexField(ctx, &clusterv1.Machine{}, machineByConfigIndex, indexMachineByConfig); err != nil {
		return fmt.Errorf("indexing Machines by bootstrap config: %w", err)
	}
	labelled, err := util.ClusterToTypedObjectsMapper(mgr.GetClient(), &bootstrapv1.K0sWorkerConfigList{}, mgr.GetScheme())
	if err != nil {
		return err
	}
	clusterToConfigs := clusterToConfigsMapper(mgr.GetClient(), labelled)
	if err := mgr.GetFieldIndexer().IndexField(ctx, &bootstrapv1.K0sWorkerConfig{}, configBySourceIndex, indexConfigBySource); err != nil {
		return fmt.Errorf("indexing K0sWorkerConfigs by content source: %w", err)
	}
	sources := r.sourceWatches(mgr.GetClient(), mgr.GetCache(), r.SourceCache)
	registerMetrics(mgr.GetClient())
	return ctrl.NewControllerManagedBy(mgr).
		For(&bootstrapv1.K0sWorkerConfig{}, builder.WithPredicates(configChanged)).
		WithOptions(options).
		Watches(&clusterv1.Machine{}, handler.EnqueueRequestsFromMapFunc(machineToConfig), builder.WithPredicates(machineChanged)).
		Watches(&clusterv1.MachinePool{}, handler.EnqueueRequestsFromMapFunc(machinePoolToConfig)).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToConfigs),
			builder.WithPredicates(predicates.All(mgr.GetScheme(), log,
				predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.WatchFilterValue),
				predicates.Any(mgr.GetScheme(), log,
					predicates.ClusterPausedTransitionsOrInfrastructureProvisioned(mgr.GetScheme(), log),
					predicates.ClusterControlPlaneInitialized(mgr.GetScheme(), log),
					clusterEndpointBecameValid,
				),
			))).
		WatchesRawSource(r.ClusterCache.GetClusterSource("k0sworkerconfig", clusterToConfigs)).
		WatchesRawSource(sources[0]).
		WatchesRawSource(sources[1]).
		WatchesRawSource(sources[2]).
		WithEventFilter(predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.WatchFilterValue)).
		Complete(r)
}

// clusterEndpointBecameValid lets a Cluster whose control plane endpoint is
// set after the control plane reported initialized still wake its configs.
var clusterEndpointBecameValid = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldCluster, okOld := e.ObjectOld.(*clusterv1.Cluster)
		newCluster, okNew := e.ObjectNew.(*clusterv1.Cluster)
		return okOld && okNew && !oldCluster.Spec.ControlPlaneEndpoint.IsValid() && newCluster.Spec.ControlPlaneEndpoint.IsValid()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func isK0sWorkerConfigRef(ref clusterv1.ContractVersionedObjectReference) bool {
	return ref.APIGroup == bootstrapv1.GroupVersion.Group && ref.Kind == configKind && ref.Name != ""
}

// clusterToConfigsMapper wakes a Cluster's configs: those labelled with
// it (Cluster API's mapper) and those its Machines and MachinePools name in
// their configRef. A config created while the Cluster was paused has no
// label yet: Cluster API's Machine controller sets it, and after an unpause
// that controller wakes only at its next resync. The configRefs let
// cabpk0s act on the unpause itself.
func clusterToConfigsMapper(c client.Client, labelled handler.MapFunc) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []ctrl.Request {
		requests := labelled(ctx, o)
		cluster, ok := o.(*clusterv1.Cluster)
		if !ok {
			return requests
		}
		ofCluster := []client.ListOption{client.InNamespace(cluster.Namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: cluster.Name}}
		machines := &clusterv1.MachineList{}
		if err := c.List(ctx, machines, ofCluster...); err == nil {
			for i := range machines.Items {
				requests = append(requests, machineToConfig(ctx, &machines.Items[i])...)
			}
		}
		pools := &clusterv1.MachinePoolList{}
		if err := c.List(ctx, pools, ofCluster...); err == nil {
			for i := range pools.Items {
				requests = append(requests, machinePoolToConfig(ctx, &pools.Items[i])...)
			}
		}
		slices.SortFunc(requests, func(a, b ctrl.Request) int { return strings.Compare(a.String(), b.String()) })
		return slices.Compact(requests)
	}
}

func machineToConfig(_ context.Context, o client.Object) []ctrl.Request {
	m, ok := o.(*clusterv1.Machine)
	if !ok || !isK0sWorkerConfigRef(m.Spec.Bootstrap.ConfigRef) {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.Bootstrap.ConfigRef.Name}}}
}

func machinePoolToConfig(_ context.Context, o client.Object) []ctrl.Request {
	p, ok := o.(*clusterv1.MachinePool)
	if !ok || !isK0sWorkerConfigRef(p.Spec.Template.Spec.Bootstrap.ConfigRef) {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Template.Spec.Bootstrap.ConfigRef.Name}}}
}
