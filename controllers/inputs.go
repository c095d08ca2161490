package controllers

import (
	"context"
	"fmt"
	"net"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
)

// clusterCA reads the workload cluster's CA certificate from Cluster API's
// <cluster>-ca Secret. Only the certificate is read: workers never need the
// key. The cached copy (see manager.CacheOptions, which keeps only the
// certificate) serves nearly every call; the API server is asked only when
// the cache has nothing, for example a Secret without the cluster label.
func clusterCA(ctx context.Context, cached, live client.Client, cluster *clusterv1.Cluster) ([]byte, error) {
	key := client.ObjectKeyFromObject(cluster)
	s, err := secret.GetFromNamespacedName(ctx, cached, key, secret.ClusterCA)
	if err == nil && len(s.Data[secret.TLSCrtDataName]) > 0 {
		return s.Data[secret.TLSCrtDataName], nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	if s, err = secret.GetFromNamespacedName(ctx, live, key, secret.ClusterCA); apierrors.IsNotFound(err) {
		return nil, &bootstrapinput.MissingSourceError{What: fmt.Sprintf("cluster CA Secret %s/%s", cluster.Namespace, secret.Name(cluster.Name, secret.ClusterCA))}
	}
	if err != nil {
		return nil, err
	}
	crt := s.Data[secret.TLSCrtDataName]
	if len(crt) == 0 {
		return nil, &bootstrapinput.MissingSourceError{What: fmt.Sprintf("key %s of cluster CA Secret %s/%s", secret.TLSCrtDataName, s.Namespace, s.Name)}
	}
	return crt, nil
}

// joinServer is the control plane URL workers join through.
func joinServer(cluster *clusterv1.Cluster) string {
	ep := cluster.Spec.ControlPlaneEndpoint
	return "https://" + net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
}
