package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/util/annotations"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// reconcileDelete revokes the join token, then lets the config go.
func (r *configReconciler) reconcileDelete(ctx context.Context, config bootstrapConfig) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(config, r.kind.finalizer()) {
		return ctrl.Result{}, nil
	}
	// clusterctl move deletes the source's copy once the target has its
	// own: the token moved with the config and must outlive this copy.
	// An adopted config's k0smotron token goes with it too.
	_, moving := config.GetAnnotations()[clusterctlv1.DeleteForMoveAnnotation]
	for _, key := range []string{TokenIDAnnotation, K0smotronTokenIDAnnotation} {
		id := config.GetAnnotations()[key]
		if id == "" || moving {
			continue
		}
		done, waiting, result, err := r.revokeOnDelete(ctx, config, id)
		if waiting != "" {
			if reportErr := r.reportDeletionWait(ctx, config, waiting); reportErr != nil {
				return result, kerrors.NewAggregate([]error{err, reportErr})
			}
		}
		if err != nil || !done {
			return result, err
		}
	}
	base := config.DeepCopyObject().(bootstrapConfig)
	controllerutil.RemoveFinalizer(config, r.kind.finalizer())
	if err := r.Client.Patch(ctx, config, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, err
	}
	r.forget(config)
	return ctrl.Result{}, nil
}

// reportDeletionWait says in the Deleting condition what the deletion
// waits for, so `kubectl describe` shows why the config (and with it the
// Machine) is still there; an unchanged message is not written again.
func (r *configReconciler) reportDeletionWait(ctx context.Context, config bootstrapConfig, message string) error {
	if c := conditions.Get(config, clusterv1.DeletingCondition); c != nil && c.Status == metav1.ConditionTrue && c.Message == message {
		return nil
	}
	base := config.DeepCopyObject().(bootstrapConfig)
	conditions.Set(config, metav1.Condition{Type: clusterv1.DeletingCondition, Status: metav1.ConditionTrue, Reason: clusterv1.DeletingReason, Message: message})
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, config, client.MergeFrom(base)))
}

// revokeOnDelete deletes the config's join token. done is false while the
// finalizer must stay: the Cluster is paused (hands off, as everywhere in
// Cluster API; unpausing wakes the config), its workload cluster is
// unreachable or refuses the revocation, within the grace period; waiting
// then says why, for the Deleting condition.
func (r *configReconciler) revokeOnDelete(ctx context.Context, config bootstrapConfig, id string) (done bool, waiting string, _ ctrl.Result, _ error) {
	clusterName, err := r.clusterNameOf(ctx, config)
	if err != nil {
		return false, "", ctrl.Result{}, err
	}
	if clusterName == "" {
		ctrl.LoggerFrom(ctx).Info("Cannot revoke the join token: no Cluster is known for the config", "tokenID", id)
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "JoinTokenNotRevoked", "Revoke",
			"Neither the config nor its data Secret has the %s label: cannot tell which workload cluster holds join token %s; it expires on its own within %s",
			clusterv1.ClusterNameLabel, id, r.TokenTTL)
		return true, "", ctrl.Result{}, nil
	}
	cluster := &clusterv1.Cluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: config.GetNamespace(), Name: clusterName}, cluster); err != nil {
		// Without a Cluster there is no workload cluster left to clean up.
		return apierrors.IsNotFound(err), "", ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// A config without data handed its token (if an earlier try created
	// one at all: the ID may only be reserved) to no machine: it is revoked
	// when that can be done at once, else left to expire; the deletion
	// waits for nothing.
	handedOut := config.IsDataSecretCreated()
	if annotations.IsPaused(cluster, config) {
		if !handedOut {
			return true, "", ctrl.Result{}, nil
		}
		return false, fmt.Sprintf("Waiting for Cluster %s to be unpaused to revoke join token %s", cluster.Name, id), ctrl.Result{}, nil
	}
	giveUpAt := config.GetDeletionTimestamp().Add(revocationGracePeriod).UTC().Format(time.RFC3339)
	workload, err := r.workloadClient(ctx, cluster)
	if err != nil {
		if !handedOut {
			return true, "", ctrl.Result{}, nil
		}
		if !workloadUnreachable(err) {
			return false, "", ctrl.Result{}, err
		}
		workloadUnreachableWaits.WithLabelValues(config.GetNamespace() + "/" + cluster.Name).Inc()
		if time.Since(config.GetDeletionTimestamp().Time) < revocationGracePeriod {
			return false, fmt.Sprintf("Waiting for the workload cluster's API server to be reachable to revoke join token %s; at %s the token is left to expire on its own", id, giveUpAt),
				ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "JoinTokenNotRevoked", "Revoke",
			"Workload cluster unreachable for %s: join token %s was not revoked and expires on its own", revocationGracePeriod, id)
		return true, "", ctrl.Result{}, nil
	}
	if err := jointoken.Delete(ctx, workload, id); err != nil {
		if !handedOut {
			return true, "", ctrl.Result{}, nil
		}
		// Reachable, yet revoking fails (RBAC, an admission webhook, an
		// outage behind the API server): retried with backoff for the grace
		// period, then the token is left to expire rather than holding the
		// config, and its Machine's deletion, forever.
		if time.Since(config.GetDeletionTimestamp().Time) < revocationGracePeriod {
			r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "JoinTokenRevocationFailed", "Revoke",
				"Cannot revoke join token %s yet (retrying for up to %s after deletion): %v", id, revocationGracePeriod, err)
			return false, fmt.Sprintf("Cannot revoke join token %s yet: %v; retrying until %s, then the token is left to expire on its own", id, err, giveUpAt),
				ctrl.Result{}, err
		}
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "JoinTokenNotRevoked", "Revoke",
			"Revoking join token %s failed for %s: %v; it expires on its own", id, revocationGracePeriod, err)
		return true, "", ctrl.Result{}, nil
	}
	if handedOut {
		joinTokenOperations.WithLabelValues(tokenRevoked).Inc()
		r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRevoked", "Revoke", "Config deleted: revoked join token %s", id)
	}
	return true, "", ctrl.Result{}, nil
}

// clusterNameOf is the config's Cluster: its cluster-name label (Cluster
// API's Machine controller sets it), else its data Secret's, which
// cabpk0s always sets. "" when neither says.
func (r *configReconciler) clusterNameOf(ctx context.Context, config bootstrapConfig) (string, error) {
	if name := config.GetLabels()[clusterv1.ClusterNameLabel]; name != "" {
		return name, nil
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: config.GetNamespace(), Name: config.GetName()}
	if name := config.GetDataSecretName(); name != nil {
		key.Name = *name
	}
	if err := r.SecretCachingClient.Get(ctx, key, secret); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	return secret.Labels[clusterv1.ClusterNameLabel], nil
}
