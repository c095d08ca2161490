package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// configBySourceIndex indexes configs by the Secrets and ConfigMaps their
// files and custom user data read: "Secret/<name>", "ConfigMap/<name>".
const configBySourceIndex = "spec.contentSources"

func indexConfigBySource(o client.Object) []string {
	config, ok := o.(bootstrapConfig)
	if !ok {
		return nil
	}
	spec := config.GetInstallSpec()
	var keys []string
	add := func(src *bootstrapv1.ContentSource) {
		switch {
		case src == nil:
		case src.SecretRef != nil:
			keys = append(keys, sourceKey("Secret", src.SecretRef.Name))
		case src.ConfigMapRef != nil:
			keys = append(keys, sourceKey("ConfigMap", src.ConfigMapRef.Name))
		}
	}
	for i := range spec.Files {
		add(spec.Files[i].ContentFrom)
	}
	add(spec.Provisioner.CustomUserDataRef)
	return keys
}

func sourceKey(kind, name string) string { return kind + "/" + name }

// sourceWatches wake the configs that read a Secret or ConfigMap when it
// is created or changes, so a missing source is picked up the moment it
// appears rather than at a poll. Sources without a cluster label are
// watched by their metadata only, in a cache of their own (sourceCache);
// Secrets with a cluster label (data Secrets among them) are already in
// the manager's cache, for the Secret caching client, and are watched
// there: kept once, not twice.
func (r *configReconciler) sourceWatches(c client.Client, managerCache, sourceCache cache.Cache) []source.Source {
	configsReading := func(ctx context.Context, kind string, o client.Object) []ctrl.Request {
		configs := r.kind.newList()
		if err := c.List(ctx, configs, client.InNamespace(o.GetNamespace()), client.MatchingFields{configBySourceIndex: sourceKey(kind, o.GetName())}); err != nil {
			return nil
		}
		var requests []ctrl.Request
		_ = meta.EachListItem(configs, func(o runtime.Object) error {
			requests = append(requests, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))})
			return nil
		})
		return requests
	}
	metadataWatch := func(kind string) source.Source {
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
		return source.Kind(sourceCache, obj, handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
			return configsReading(ctx, kind, o)
		}))
	}
	labelledSecrets := source.Kind(managerCache, &corev1.Secret{}, handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *corev1.Secret) []ctrl.Request {
		return configsReading(ctx, "Secret", o)
	}))
	return []source.Source{metadataWatch("Secret"), metadataWatch("ConfigMap"), labelledSecrets}
}
