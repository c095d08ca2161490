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

// setup watches configs of the reconciler's kind, their owners, their
// Clusters and the connectivity of their workload clusters.
func (r *configReconciler) setup(ctx context.Context, mgr ctrl.Manager, options controller.Options) error {
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
	kind := r.kind.name()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &clusterv1.Machine{}, machineByConfigIndex(kind), indexMachineByConfig(kind)); err != nil {
		return fmt.Errorf("indexing Machines by bootstrap config: %w", err)
	}
	labelled, err := util.ClusterToTypedObjectsMapper(mgr.GetClient(), r.kind.newList(), mgr.GetScheme())
	if err != nil {
		return err
	}
	clusterToConfigs := clusterToConfigsMapper(mgr.GetClient(), kind, labelled)
	r.configsOfCluster = clusterToConfigs
	if err := mgr.GetFieldIndexer().IndexField(ctx, r.kind.newConfig(), configBySourceIndex, indexConfigBySource); err != nil {
		return fmt.Errorf("indexing %ss by content source: %w", kind, err)
	}
	sources := r.sourceWatches(mgr.GetClient(), mgr.GetCache(), r.SourceCache)
	registerMetrics(mgr.GetClient())
	return ctrl.NewControllerManagedBy(mgr).
		For(r.kind.newConfig(), builder.WithPredicates(configChanged)).
		WithOptions(options).
		Watches(&clusterv1.Machine{}, handler.EnqueueRequestsFromMapFunc(machineToConfig(kind)), builder.WithPredicates(machineChanged)).
		Watches(&clusterv1.MachinePool{}, handler.EnqueueRequestsFromMapFunc(machinePoolToConfig(kind))).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToConfigs),
			builder.WithPredicates(predicates.All(mgr.GetScheme(), log,
				predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.WatchFilterValue),
				predicates.Any(mgr.GetScheme(), log,
					predicates.ClusterPausedTransitionsOrInfrastructureProvisioned(mgr.GetScheme(), log),
					predicates.ClusterControlPlaneInitialized(mgr.GetScheme(), log),
					clusterEndpointBecameValid,
				),
			))).
		WatchesRawSource(r.ClusterCache.GetClusterSource(strings.ToLower(kind), clusterToConfigs)).
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

// isConfigRef tells whether ref names a config of the kind.
func isConfigRef(ref clusterv1.ContractVersionedObjectReference, kind string) bool {
	return ref.APIGroup == bootstrapv1.GroupVersion.Group && ref.Kind == kind && ref.Name != ""
}

// clusterToConfigsMapper wakes a Cluster's configs: those labelled with
// it (Cluster API's mapper) and those its Machines and MachinePools name in
// their configRef. A config created while the Cluster was paused has no
// label yet: Cluster API's Machine controller sets it, and after an unpause
// that controller wakes only at its next resync. The configRefs let
// cabpk0s act on the unpause itself.
func clusterToConfigsMapper(c client.Client, kind string, labelled handler.MapFunc) handler.MapFunc {
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
				requests = append(requests, machineToConfig(kind)(ctx, &machines.Items[i])...)
			}
		}
		pools := &clusterv1.MachinePoolList{}
		if err := c.List(ctx, pools, ofCluster...); err == nil {
			for i := range pools.Items {
				requests = append(requests, machinePoolToConfig(kind)(ctx, &pools.Items[i])...)
			}
		}
		slices.SortFunc(requests, func(a, b ctrl.Request) int { return strings.Compare(a.String(), b.String()) })
		return slices.Compact(requests)
	}
}

// machineToConfig maps a Machine to the config of the kind it names.
func machineToConfig(kind string) handler.MapFunc {
	return func(_ context.Context, o client.Object) []ctrl.Request {
		m, ok := o.(*clusterv1.Machine)
		if !ok || !isConfigRef(m.Spec.Bootstrap.ConfigRef, kind) {
			return nil
		}
		return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.Bootstrap.ConfigRef.Name}}}
	}
}

// machinePoolToConfig maps a MachinePool to the config of the kind it names.
func machinePoolToConfig(kind string) handler.MapFunc {
	return func(_ context.Context, o client.Object) []ctrl.Request {
		p, ok := o.(*clusterv1.MachinePool)
		if !ok || !isConfigRef(p.Spec.Template.Spec.Bootstrap.ConfigRef, kind) {
			return nil
		}
		return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Template.Spec.Bootstrap.ConfigRef.Name}}}
	}
}
