package bootstrapinput

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// ClientSources reads contentFrom and customUserDataRef sources from a
// namespace through a client: the reconciler's (live, as Secrets and
// ConfigMaps are not cached) or `cabpk0s render --kubeconfig`'s.
type ClientSources struct {
	Client    client.Client
	Namespace string
}

// Read reads one Secret or ConfigMap key.
func (s ClientSources) Read(ctx context.Context, src *bootstrapv1.ContentSource) (string, error) {
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

func (s ClientSources) get(ctx context.Context, kind, name string, obj client.Object) error {
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return &MissingSourceError{What: fmt.Sprintf("%s %s/%s", kind, s.Namespace, name)}
	}
	return err
}

func (s ClientSources) missingKey(kind string, ref *bootstrapv1.ContentSourceRef) error {
	return &MissingSourceError{What: fmt.Sprintf("key %q of %s %s/%s", ref.Key, kind, s.Namespace, ref.Name)}
}
