package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The first controller of a cluster is the config that holds the
// cluster's init lock: a ConfigMap in the management cluster, created by
// whichever config gets there first. Creating an object is atomic, so two
// configs reconciled at once (concurrency > 1, or two replicas during a
// leader handover) cannot both be first. The lock is consulted only while
// the control plane is not initialized; once it is, every controller joins.
// It belongs to the Cluster, and goes with it. A holder that goes away
// before the control plane is initialized (its Machine was replaced)
// releases it: the next config to look takes it, with the same cluster
// certificates.

// Keys of the lock's data.
const (
	initLockConfigKey = "config"
	initLockUIDKey    = "configUID"
)

func initLockName(cluster *clusterv1.Cluster) string { return cluster.Name + "-k0s-init-lock" }

// acquireInitLock returns the name of the config that holds the cluster's
// init lock, taking it for s's config when nobody holds it.
func (r *configReconciler) acquireInitLock(ctx context.Context, s *scope) (string, error) {
	lock := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.cluster.Namespace,
			Name:      initLockName(s.cluster),
			Labels:    map[string]string{clusterv1.ClusterNameLabel: s.cluster.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Name: s.cluster.Name, UID: s.cluster.UID,
			}},
		},
		Data: map[string]string{initLockConfigKey: s.config.GetName(), initLockUIDKey: string(s.config.GetUID())},
	}
	err := r.Client.Create(ctx, lock)
	if err == nil {
		r.Recorder.Eventf(s.config, nil, corev1.EventTypeNormal, "InitializingControlPlane", "Render",
			"First controller of Cluster %s: its data initializes the control plane", s.cluster.Name)
		return s.config.GetName(), nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating the init lock %s: %w", lock.Name, err)
	}
	held := &corev1.ConfigMap{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(lock), held); err != nil {
		// Released a moment ago: the next look takes it.
		return "", fmt.Errorf("reading the init lock %s: %w", lock.Name, err)
	}
	holder, holderUID := held.Data[initLockConfigKey], types.UID(held.Data[initLockUIDKey])
	if holderUID == s.config.GetUID() {
		return holder, nil
	}
	gone, err := r.configGone(ctx, s.cluster.Namespace, holder, holderUID)
	if err != nil || !gone {
		return holder, err
	}
	// Released under a precondition: two configs that both saw the holder
	// gone delete the lock once, and only the lock they saw.
	err = r.Client.Delete(ctx, held, client.Preconditions{UID: &held.UID, ResourceVersion: &held.ResourceVersion})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return "", fmt.Errorf("releasing the init lock %s of deleted config %s: %w", lock.Name, holder, err)
	}
	ctrl.LoggerFrom(ctx).Info("Released the init lock of a first controller that is gone", "config", holder)
	return r.acquireInitLock(ctx, s)
}

// configGone tells whether the config that took a lock no longer exists
// (or is being deleted, or is another object of the same name now).
func (r *configReconciler) configGone(ctx context.Context, namespace, name string, uid types.UID) (bool, error) {
	config := r.kind.newConfig()
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, config)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return config.GetUID() != uid || !config.GetDeletionTimestamp().IsZero(), nil
}
