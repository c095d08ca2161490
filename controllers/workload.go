package controllers

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
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
func (r *configReconciler) workloadClient(ctx context.Context, cluster *clusterv1.Cluster) (client.Client, error) {
	return r.ClusterCache.GetClient(ctx, client.ObjectKeyFromObject(cluster))
}

// workloadLive returns a live client for the cluster's workload API
// server, for what the ClusterCache's cache does not hold: a token's
// secret half. It fails as workloadClient does.
func (r *configReconciler) workloadLive(ctx context.Context, cluster *clusterv1.Cluster) (client.Client, error) {
	return r.ClusterCache.GetUncachedClient(ctx, client.ObjectKeyFromObject(cluster))
}

// lookupToken reads token id's ID and expiration from the cache
// (internal/manager has the ClusterCache cache bootstrap tokens). Before
// anything acts on a token's absence (recreating it, rotating a pool's),
// a live read confirms it: the cache may not have seen a token created a
// moment ago.
func (r *configReconciler) lookupToken(ctx context.Context, cluster *clusterv1.Cluster, cached client.Reader, id string) (jointoken.Token, error) {
	token, err := jointoken.Lookup(ctx, cached, id)
	if !apierrors.IsNotFound(err) {
		return token, err
	}
	live, err := r.workloadLive(ctx, cluster)
	if err != nil {
		return jointoken.Token{}, err
	}
	return jointoken.Lookup(ctx, live, id)
}

// workloadUnreachable tells whether err is the ClusterCache's "not
// connected", the one failure the policy above waits out quietly.
func workloadUnreachable(err error) bool {
	return errors.Is(err, clustercache.ErrClusterNotConnected)
}
