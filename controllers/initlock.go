package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// It belongs to the Cluster, and goes with it (and with `clusterctl move`:
// the holder is known by name, which moves, not by UID).
//
// A first controller's machine may run, and serve etcd, for as long as its
// Machine exists, config or not: the lock is released only once both the
// holder's config and its Machine are gone, and no config takes it while
// another control-plane Machine of the cluster already has bootstrap data
// (one bootstrapped before the lock existed, by another provider before a
// migration). The next to look takes it, with the same cluster
// certificates.

// Keys of the lock's data.
const (
	initLockConfigKey  = "config"
	initLockMachineKey = "machine"
)

func initLockName(cluster *clusterv1.Cluster) string { return cluster.Name + "-k0s-init-lock" }

// acquireInitLock returns the name of the config that initializes the
// cluster, taking the cluster's init lock for s's config when nobody holds
// it and no other controller has data.
func (r *configReconciler) acquireInitLock(ctx context.Context, s *scope) (string, error) {
	key := client.ObjectKey{Namespace: s.cluster.Namespace, Name: initLockName(s.cluster)}
	for range 3 {
		held := &corev1.ConfigMap{}
		err := r.Client.Get(ctx, key, held)
		switch {
		case apierrors.IsNotFound(err):
			if other, err := r.controllerWithData(ctx, s); err != nil || other != "" {
				return other, err
			}
			if err := r.Client.Create(ctx, r.initLock(key, s)); apierrors.IsAlreadyExists(err) {
				continue
			} else if err != nil {
				return "", fmt.Errorf("creating the init lock %s: %w", key.Name, err)
			}
			r.Recorder.Eventf(s.config, nil, corev1.EventTypeNormal, "InitializingControlPlane", "Render",
				"First controller of Cluster %s: its data initializes the control plane", s.cluster.Name)
			return s.config.GetName(), nil
		case err != nil:
			return "", fmt.Errorf("reading the init lock %s: %w", key.Name, err)
		}
		holder, holderMachine := held.Data[initLockConfigKey], held.Data[initLockMachineKey]
		if holder == s.config.GetName() {
			return holder, nil
		}
		gone, err := r.holderGone(ctx, s.cluster.Namespace, holder, holderMachine)
		if err != nil || !gone {
			return holder, err
		}
		// Released under a precondition: two configs that both saw the
		// holder gone delete the lock once, and only the lock they saw.
		err = r.Client.Delete(ctx, held, client.Preconditions{UID: &held.UID, ResourceVersion: &held.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return "", fmt.Errorf("releasing the init lock %s of %s, which is gone: %w", key.Name, holder, err)
		}
		ctrl.LoggerFrom(ctx).Info("Released the init lock of a first controller that is gone", "config", holder, "machine", holderMachine)
	}
	return "", fmt.Errorf("the init lock %s keeps changing: another config is taking it", key.Name)
}

func (r *configReconciler) initLock(key client.ObjectKey, s *scope) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace,
			Name:      key.Name,
			Labels:    map[string]string{clusterv1.ClusterNameLabel: s.cluster.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Name: s.cluster.Name, UID: s.cluster.UID,
			}},
		},
		Data: map[string]string{initLockConfigKey: s.config.GetName(), initLockMachineKey: s.owner.machine.Name},
	}
}

// holderGone: neither the config that took the lock nor its Machine exists.
func (r *configReconciler) holderGone(ctx context.Context, namespace, config, machine string) (bool, error) {
	for _, held := range []struct {
		obj  client.Object
		name string
	}{{r.kind.newConfig(), config}, {&clusterv1.Machine{}, machine}} {
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: held.name}, held.obj)
		if err == nil || !apierrors.IsNotFound(err) {
			return false, client.IgnoreNotFound(err)
		}
	}
	return true, nil
}

// controllerWithData is the config name of another control-plane Machine
// of s's cluster that already has bootstrap data, "" if none: its machine
// may be initializing the cluster.
func (r *configReconciler) controllerWithData(ctx context.Context, s *scope) (string, error) {
	machines := &clusterv1.MachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(s.cluster.Namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: s.cluster.Name}); err != nil {
		return "", err
	}
	for i := range machines.Items {
		m := &machines.Items[i]
		if ref := m.Spec.Bootstrap.ConfigRef; isConfigRef(ref, r.kind.name()) && ref.Name != s.config.GetName() && m.Spec.Bootstrap.DataSecretName != nil {
			return ref.Name, nil
		}
	}
	return "", nil
}
