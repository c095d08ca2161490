package controllers

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
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

// clusterSources reads contentFrom and customUserDataRef sources from the
// config's namespace, live: Secrets and ConfigMaps are not cached.
type clusterSources struct {
	client    client.Client
	namespace string
}

// Read reads one Secret or ConfigMap key.
func (s clusterSources) Read(ctx context.Context, src *bootstrapv1.ContentSource) (string, error) {
	switch {
	case src.SecretRef != nil:
		obj := &corev1.Secret{}
		if err := s.get(ctx, "Secret", src.SecretRef.Name, obj); err != nil {
			return "", err
		}
		if value, ok := obj.Data[src.SecretRef.Key]; ok {
			return string(value), nil
		}
		return "", s.missingKey("Secret", src.SecretRef)
	case src.ConfigMapRef != nil:
		obj := &corev1.ConfigMap{}
		if err := s.get(ctx, "ConfigMap", src.ConfigMapRef.Name, obj); err != nil {
			return "", err
		}
		if value, ok := obj.Data[src.ConfigMapRef.Key]; ok {
			return value, nil
		}
		if value, ok := obj.BinaryData[src.ConfigMapRef.Key]; ok {
			return string(value), nil
		}
		return "", s.missingKey("ConfigMap", src.ConfigMapRef)
	}
	return "", fmt.Errorf("content source names neither a Secret nor a ConfigMap")
}

func (s clusterSources) get(ctx context.Context, kind, name string, obj client.Object) error {
	err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return &bootstrapinput.MissingSourceError{What: fmt.Sprintf("%s %s/%s", kind, s.namespace, name)}
	}
	return err
}

func (s clusterSources) missingKey(kind string, ref *bootstrapv1.ContentSourceRef) error {
	return &bootstrapinput.MissingSourceError{What: fmt.Sprintf("key %q of %s %s/%s", ref.Key, kind, s.namespace, ref.Name)}
}

// joinServer is the control plane URL workers join through.
func joinServer(cluster *clusterv1.Cluster) string {
	ep := cluster.Spec.ControlPlaneEndpoint
	return "https://" + net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
}
