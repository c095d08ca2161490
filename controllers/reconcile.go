package controllers

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/annotations"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/cluster-api/util/paused"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// scope is what one reconcile works on.
type scope struct {
	// initializes: this controller's data initializes its cluster (the
	// kind's gate decided it).
	initializes bool

	config  bootstrapConfig
	owner   *configOwner
	cluster *clusterv1.Cluster
	patcher *configPatcher
}

// Reconcile brings one config closer to having bootstrap data.
func (r *configReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcileRequest(ctx, req)
	return withNormalPriority(res), err
}

// withNormalPriority gives every requeue but a token check (an event's
// reconcile, an error's retry) the normal priority: controller-runtime
// keeps an item's priority when a result sets none, and a token check's
// would stick to the item and put it ahead of new configs for good.
func withNormalPriority(res ctrl.Result) ctrl.Result {
	if res.Priority == nil {
		res.Priority = ptr.To(0)
	}
	return res
}

func (r *configReconciler) reconcileRequest(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	config := r.kind.newConfig()
	if err := r.Client.Get(ctx, req.NamespacedName, config); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !config.GetDeletionTimestamp().IsZero() {
		return r.reconcileDelete(ctx, config)
	}
	if r.cacheBehindOwnWrite(config) {
		// The cache does not show the status this process just wrote yet;
		// configChanged drops the update event of our own status write, so
		// look again shortly.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	patcher := r.newPatcher(config)
	owner, err := r.getConfigOwner(ctx, config)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owner == nil {
		return r.waitForOwner(ctx, config, patcher)
	}
	log := ctrl.LoggerFrom(ctx).WithValues(owner.kind(), klog.KObj(owner.object()), "Cluster", klog.KRef(config.GetNamespace(), owner.clusterName()))
	ctx = ctrl.LoggerInto(ctx, log)

	cluster, err := util.GetClusterByName(ctx, r.Client, config.GetNamespace(), owner.clusterName())
	if err != nil {
		// A Cluster created later wakes the config through the Cluster watch.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	// Pausing is patched at once by Cluster API's helper. Unpausing, and
	// the common case, not paused before or now, ride on the one status
	// patch at the end (Paused=False is set below): no patch of its own,
	// no requeue our own status write would not trigger, and no stale
	// resourceVersion for the token ID's optimistic lock.
	if annotations.IsPaused(cluster, config) {
		if _, _, err := paused.EnsurePausedCondition(ctx, r.Client, cluster, config); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.waitWhilePaused(ctx, config, cluster)
	}

	s := &scope{config: config, owner: owner, cluster: cluster, patcher: patcher}
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.PausedCondition, Status: metav1.ConditionFalse, Reason: clusterv1.NotPausedReason})
	before := currentCondition(config)
	defer func() {
		r.summarize(config, before)
		err := s.patcher.patch(ctx, config, retErr == nil)
		// Whatever was written (metadata, status, or both) moved the
		// version the cache must catch up with.
		r.markWritten(config)
		if err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
		if retErr != nil {
			// An error requeues with backoff; a RequeueAfter beside it
			// would be ignored (and warned about) by controller-runtime.
			res = ctrl.Result{}
		}
	}()
	result, err := r.reconcile(ctx, s)
	if workloadUnreachable(err) {
		// The one policy for an unreachable workload cluster: see workloadClient.
		workloadUnreachableWaits.WithLabelValues(config.GetNamespace() + "/" + cluster.Name).Inc()
		if !config.IsDataSecretCreated() {
			setWaiting(config, bootstrapv1.WorkloadClusterNotReachableReason, "Waiting for the workload cluster's API server to be reachable")
		}
		return ctrl.Result{RequeueAfter: workloadRetryInterval}, nil
	}
	return result, err
}

func (r *configReconciler) reconcile(ctx context.Context, s *scope) (ctrl.Result, error) {
	config := s.config

	// After `clusterctl move` or a restore, status is empty but the owner
	// already consumed the data: rebuild status, mint nothing new.
	if !config.IsDataSecretCreated() && s.owner.dataSecretName() != "" {
		if err := r.restoreStatus(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	// Data another provider wrote (k0smotron's, before an in-place
	// switch): its join tokens are taken over, the data left as it is.
	foreign, err := r.hasForeignData(ctx, config)
	if err != nil {
		return ctrl.Result{}, err
	}
	if foreign {
		retry, err := r.adoptCluster(ctx, s)
		if apierrors.IsConflict(err) {
			// The config was read stale: its next reconcile has it fresh.
			retry, err = true, nil
		}
		if err != nil || retry {
			return ctrl.Result{RequeueAfter: adoptionRetry}, err
		}
	}
	if config.IsDataSecretCreated() {
		return r.reconcileToken(ctx, s)
	}
	// What the first data waits for (the condition says it); data already
	// written is past it.
	if proceed, res, err := r.kind.gate(ctx, r, s); !proceed || err != nil {
		return res, err
	}
	return r.generate(ctx, s, false)
}

// waitForOwner says, once Cluster API had time to set it, that no Machine
// or MachinePool owns the config; the Machine watch brings it back.
func (r *configReconciler) waitForOwner(ctx context.Context, config bootstrapConfig, patcher *configPatcher) (ctrl.Result, error) {
	if wait := ownerGracePeriod - time.Since(config.GetCreationTimestamp().Time); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if conditions.GetReason(config, bootstrapv1.DataSecretAvailableCondition) == bootstrapv1.WaitingForOwnerReason {
		return ctrl.Result{}, nil
	}
	before := currentCondition(config)
	setWaiting(config, bootstrapv1.WaitingForOwnerReason, "Waiting for a Machine or MachinePool to own this config (metadata.ownerReferences) or to name it in spec.bootstrap.configRef")
	r.summarize(config, before)
	return ctrl.Result{}, patcher.patch(ctx, config, true)
}

// waitWhilePaused keeps Ready and DataSecretAvailable saying why nothing
// happens while a config without data is paused. A config with data keeps
// reporting it available: the data is still there.
func (r *configReconciler) waitWhilePaused(ctx context.Context, config bootstrapConfig, cluster *clusterv1.Cluster) error {
	if conditions.IsTrue(config, bootstrapv1.DataSecretAvailableCondition) ||
		conditions.GetReason(config, bootstrapv1.DataSecretAvailableCondition) == bootstrapv1.PausedReason {
		return nil
	}
	patcher := r.newPatcher(config)
	before := currentCondition(config)
	setWaiting(config, bootstrapv1.PausedReason, "Reconciliation is paused (Cluster %s spec.paused, or the config's %s annotation)", cluster.Name, clusterv1.PausedAnnotation)
	r.summarize(config, before)
	return patcher.patch(ctx, config, false)
}
