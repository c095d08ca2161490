package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cabpk0s/cabpk0s/internal/render"
)

// dataSecret builds the bootstrap data Secret: named after the config,
// controlled by it, labelled with the cluster, carrying the token ID.
func dataSecret(config bootstrapConfig, gvk schema.GroupVersionKind, clusterName string, data []byte, format render.Format, tokenID string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       config.GetNamespace(),
			Name:            config.GetName(),
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(config, gvk)},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{"value": data, "format": []byte(format)},
	}
	if md := config.GetInstallSpec().SecretMetadata; md != nil {
		for k, v := range md.Labels {
			s.Labels[k] = v
		}
		for k, v := range md.Annotations {
			s.Annotations[k] = v
		}
	}
	// Applied last: Cluster API finds the Secret by this label, and our
	// bookkeeping must not be overridden by user metadata.
	s.Labels[clusterv1.ClusterNameLabel] = clusterName
	s.Annotations[TokenIDAnnotation] = tokenID
	return s
}

// storeData creates the data Secret. If it already exists and is ours (a
// retry after the status write failed, or data re-rendered for a newer
// token), it is brought up to date instead.
//
// desired's resourceVersion is the stored Secret's afterwards.
func (r *configReconciler) storeData(ctx context.Context, s *scope, desired *corev1.Secret) error {
	// No event for the common case: the Ready condition says it, and an
	// event per machine would double the writes of a large scale-up.
	err := r.Client.Create(ctx, desired)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), existing); err != nil {
		return err
	}
	if owner := metav1.GetControllerOf(existing); owner != nil && owner.UID != s.config.GetUID() {
		return fmt.Errorf("secret %s/%s exists and is controlled by %s %s", existing.Namespace, existing.Name, owner.Kind, owner.Name)
	}
	if !metav1.IsControlledBy(existing, s.config) && !writtenByUs(existing, s.cluster.Name) {
		return fmt.Errorf("secret %s/%s exists and was not written by cabpk0s: delete or rename it, it is left as it is", existing.Namespace, existing.Name)
	}
	existing.Labels, existing.Annotations, existing.OwnerReferences = desired.Labels, desired.Annotations, desired.OwnerReferences
	existing.Type, existing.Data = desired.Type, desired.Data
	if err := r.Client.Update(ctx, existing); err != nil {
		return err
	}
	desired.ResourceVersion = existing.ResourceVersion
	r.Recorder.Eventf(s.config, nil, corev1.EventTypeNormal, "DataSecretUpdated", "Render", "Updated bootstrap data Secret %s", desired.Name)
	return nil
}

// writtenByUs tells a data Secret cabpk0s wrote (and lost the controller
// reference of, as after a restore) from one of the same name someone else
// wrote: ours has Cluster API's type, the cluster's label and a token ID
// annotation. Another Secret is never adopted, overwritten or owned, which
// would hand it to the garbage collector.
func writtenByUs(s *corev1.Secret, clusterName string) bool {
	_, hasTokenID := s.Annotations[TokenIDAnnotation]
	return s.Type == clusterv1.ClusterSecretType && s.Labels[clusterv1.ClusterNameLabel] == clusterName && hasTokenID
}

// dataTokenID is the join token ID the config's data Secret carries, ""
// when there is no data Secret (deleted, or not stored yet). Data Secrets
// carry the cluster-name label, so the Secret caching client serves them
// from its cache (metadata only) at no request. Until the cache shows the
// version this process stored, what was stored is the answer; a Secret the
// cache does not have at all is taken for lag once, then for deleted.
func (r *configReconciler) dataTokenID(ctx context.Context, config bootstrapConfig) (string, error) {
	secret := &corev1.Secret{}
	name := ptr.Deref(config.GetDataSecretName(), config.GetName())
	err := r.SecretCachingClient.Get(ctx, client.ObjectKey{Namespace: config.GetNamespace(), Name: name}, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	w, written := r.writes.get(config.GetUID())
	written = written && w.dataTokenID != ""
	switch {
	case err == nil && written && olderThan(secret.ResourceVersion, w.dataVersion):
		return w.dataTokenID, nil
	case err == nil:
		if written {
			// The cache caught up: from now on a Secret it lacks is gone.
			w.dataTokenID, w.dataVersion = "", ""
			r.writes.set(config.GetUID(), w)
		}
		return secret.Annotations[TokenIDAnnotation], nil
	case written:
		id := w.dataTokenID
		w.dataTokenID, w.dataVersion = "", ""
		r.writes.set(config.GetUID(), w)
		return id, nil
	}
	return "", nil
}

// restoreStatus rebuilds status from the owner and the data Secret after a
// move or restore, and repairs the Secret's controller reference.
func (r *configReconciler) restoreStatus(ctx context.Context, s *scope) error {
	config := s.config
	name := s.owner.dataSecretName()
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: config.GetNamespace(), Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		// The owner consumed data that no longer exists; nothing to repair.
		// An ID the config names is kept only while its token lives: one
		// reserved when this copy was created names no token at all.
		if id := config.GetAnnotations()[TokenIDAnnotation]; id != "" {
			keep, err := r.tokenToAdopt(ctx, s, id)
			if err != nil {
				return err
			}
			if !keep {
				dropTokenID(config, r.kind.finalizer())
			}
		}
	case err != nil:
		return err
	case !metav1.IsControlledBy(secret, config) && !writtenByUs(secret, s.cluster.Name):
		// The Machine names a Secret someone else wrote: its data is the
		// Machine's, not ours to own, repair or mint for.
		dropTokenID(config, r.kind.finalizer())
		config.SetDataSecret(name)
		setAvailable(config, fmt.Sprintf("Status rebuilt from %s %s, whose data Secret %s was not written by cabpk0s and is left as it is", s.owner.kind(), s.owner.object().GetName(), name))
		return nil
	default:
		if !metav1.IsControlledBy(secret, config) {
			patchBase := client.MergeFrom(secret.DeepCopy())
			secret.OwnerReferences = util.EnsureOwnerRef(secret.OwnerReferences, *metav1.NewControllerRef(config, r.gvk()))
			if err := r.Client.Patch(ctx, secret, patchBase); err != nil {
				return fmt.Errorf("repairing the owner of Secret %s: %w", name, err)
			}
		}
		// The token that matters is the one in the data the owner
		// consumed. Another ID on the config (reserved when this copy was
		// created, where the original's was dropped after its Machine
		// joined; a pool's rotation cut short) names no token of that data.
		if id := secret.Annotations[TokenIDAnnotation]; id != config.GetAnnotations()[TokenIDAnnotation] {
			adopt := false
			if id != "" && !s.owner.hasJoined() {
				if adopt, err = r.tokenToAdopt(ctx, s, id); err != nil {
					return err
				}
			}
			if adopt {
				setAnnotation(config, TokenIDAnnotation, id)
				controllerutil.AddFinalizer(config, r.kind.finalizer())
			} else {
				dropTokenID(config, r.kind.finalizer())
			}
		}
		// Read live just now: the cache may not show the Secret yet.
		r.writes.set(config.GetUID(), ownWrite{dataTokenID: secret.Annotations[TokenIDAnnotation], dataVersion: secret.ResourceVersion})
	}
	config.SetDataSecret(name)
	setAvailable(config, "Status rebuilt from "+s.owner.kind()+" "+s.owner.object().GetName())
	return nil
}

// tokenToAdopt tells whether restoreStatus takes back the join token the
// data Secret names. Only while the token exists: after `clusterctl move`
// the Machine's status is not moved, so a Machine that joined long ago looks
// unjoined until Cluster API finds its Node again, and its token was revoked
// on the source when it joined; taking that ID back would report the token
// missing and advise replacing a healthy Machine. A MachinePool's token is
// always taken back: when it is missing, it is rotated.
func (r *configReconciler) tokenToAdopt(ctx context.Context, s *scope, id string) (bool, error) {
	if s.owner.isPool() {
		return true, nil
	}
	workload, err := r.workloadClient(ctx, s.cluster)
	if err != nil {
		return false, err
	}
	_, err = r.lookupToken(ctx, s.cluster, workload, id)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// setAnnotation sets one annotation of o.
func setAnnotation(o metav1.Object, key, value string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	o.SetAnnotations(a)
}

// deleteAnnotation removes one annotation of o.
func deleteAnnotation(o metav1.Object, key string) {
	a := o.GetAnnotations()
	delete(a, key)
	o.SetAnnotations(a)
}
