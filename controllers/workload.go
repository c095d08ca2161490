package controllers

import (
	"context"
	"errors"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// workloadClient returns the ClusterCache's client for the cluster's
// workload API server.
//
// There is one policy for a workload cluster that is not reachable (the
// ClusterCache is not connected): the step that needs it waits. Nothing that
// depends on the workload cluster is written; the error goes back to
// Reconcile, which requeues after workloadRetryInterval (the ClusterCache's
// connect event usually comes sooner) and, while the config has no data
// yet, reports WorkloadClusterNotReachable. Data already written stays
// available, and its token is looked after again on reconnect. Deletion
// waits the same way, for at most revocationGracePeriod.
func (r *K0sWorkerConfigReconciler) workloadClient(ctx context.Context, cluster *clusterv1.Cluster) (client.Client, error) {
	return r.ClusterCache.GetClient(ctx, client.ObjectKeyFromObject(cluster))
}

// workloadUnreachable tells whether err is the ClusterCache's "not
// connected", the one failure the policy above waits out quietly.
func workloadUnreachable(err error) bool {
	return errors.Is(err, clustercache.ErrClusterNotConnected)
}
