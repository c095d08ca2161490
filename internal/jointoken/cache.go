package jointoken

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What a workload cluster's cache holds of its bootstrap tokens: only the
// kube-system Secrets of the bootstrap-token type (a field selector, so
// the API server sends nothing else), and of each only its ID and
// expiration. A token's state (does it exist, when does it expire) is
// then a read from memory, and the secret half, a credential, never
// reaches the cache: the rare paths that need it read live.

// CacheByObject restricts a workload cache's Secrets to bootstrap tokens,
// stored as StripForCache leaves them.
func CacheByObject() ctrlcache.ByObject {
	return ctrlcache.ByObject{
		Namespaces: map[string]ctrlcache.Config{metav1.NamespaceSystem: {}},
		Field:      fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)),
		Transform:  StripForCache,
	}
}

// StripForCache drops all of a bootstrap-token Secret but its name, type,
// ID and expiration.
func StripForCache(in any) (any, error) {
	s, ok := in.(*corev1.Secret)
	if !ok {
		return in, nil
	}
	kept := map[string][]byte{}
	for _, key := range []string{bootstrapapi.BootstrapTokenIDKey, bootstrapapi.BootstrapTokenExpirationKey} {
		if v, ok := s.Data[key]; ok {
			kept[key] = v
		}
	}
	return &corev1.Secret{
		TypeMeta: s.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Namespace, Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion,
			CreationTimestamp: s.CreationTimestamp, DeletionTimestamp: s.DeletionTimestamp,
		},
		Type: s.Type,
		Data: kept,
	}, nil
}

// Lookup reads token id's state: its ID and expiration, without its
// secret half (a cache keeps none). A token without an expiration comes
// back with a zero one.
func Lookup(ctx context.Context, r client.Reader, id string) (Token, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: SecretName(id)}, s); err != nil {
		return Token{}, err
	}
	t := Token{ID: string(s.Data[bootstrapapi.BootstrapTokenIDKey])}
	if t.ID != id {
		return Token{}, fmt.Errorf("bootstrap token Secret %s/%s holds another token ID", s.Namespace, s.Name)
	}
	if exp := s.Data[bootstrapapi.BootstrapTokenExpirationKey]; len(exp) > 0 {
		parsed, err := time.Parse(time.RFC3339, string(exp))
		if err != nil {
			return Token{}, fmt.Errorf("bootstrap token Secret %s/%s has an unreadable expiration", s.Namespace, s.Name)
		}
		t.Expiration = parsed
	}
	return t, nil
}
