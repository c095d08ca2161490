// Package controllers holds the K0sWorkerConfig reconciler: it reads the
// world (owner, Cluster, workload cluster), decides, and writes the join
// token, the bootstrap data Secret and the config's status.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/annotations"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/cluster-api/util/paused"
	"sigs.k8s.io/cluster-api/util/predicates"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// TokenFinalizer keeps a config until its join token is revoked.
const TokenFinalizer = "k0sworkerconfig.bootstrap.cluster.x-k8s.io/join-token" //nolint:gosec // a finalizer name, not a credential

const (
	// workloadRetryInterval is how soon an unreachable workload cluster is
	// tried again, besides the ClusterCache's own reconnect event.
	workloadRetryInterval = time.Minute
	// missingSourceRetryInterval is how soon a missing Secret or ConfigMap
	// is looked for again: they are not watched, because caching every
	// Secret in the management cluster would cost far more than a retry.
	missingSourceRetryInterval = 20 * time.Second
	// revocationGracePeriod bounds how long deletion waits for an
	// unreachable workload cluster before giving up on revoking the token,
	// which then expires within the TTL on its own.
	revocationGracePeriod = 2 * time.Minute
)

// +kubebuilder:rbac:groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigs;k0sworkerconfigs/status;k0sworkerconfigs/finalizers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=clusters;machines;machinepools,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// K0sWorkerConfigReconciler turns a K0sWorkerConfig owned by a Machine or
// MachinePool into bootstrap data with a short-lived k0s join token.
type K0sWorkerConfigReconciler struct {
	// Client reads and writes the management cluster.
	Client client.Client
	// ClusterCache gives clients for workload clusters.
	ClusterCache clustercache.ClusterCache
	// Recorder emits events on every state change.
	Recorder events.EventRecorder
	// WatchFilterValue limits reconciliation to objects with this
	// cluster.x-k8s.io/watch-filter label value.
	WatchFilterValue string
	// TokenTTL is a join token's lifetime without a refresh.
	TokenTTL time.Duration
	// SecretCachingClient reads cluster Secrets (the cluster CA) from the
	// manager's cache (Cluster API's setup.CreateSecretCachingClient).
	SecretCachingClient client.Client

	tokens tokenMemory
}

// SetupWithManager watches configs, their owners, their Clusters and the
// connectivity of their workload clusters.
func (r *K0sWorkerConfigReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, options controller.Options) error {
	if r.TokenTTL <= 0 {
		return errors.New("TokenTTL must be positive")
	}
	if r.SecretCachingClient == nil {
		return errors.New("SecretCachingClient is required")
	}
	log := ctrl.LoggerFrom(ctx)
	if err := mgr.GetFieldIndexer().IndexField(ctx, &clusterv1.Machine{}, machineByConfigIndex, indexMachineByConfig); err != nil {
		return fmt.Errorf("indexing Machines by bootstrap config: %w", err)
	}
	clusterToConfigs, err := util.ClusterToTypedObjectsMapper(mgr.GetClient(), &bootstrapv1.K0sWorkerConfigList{}, mgr.GetScheme())
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&bootstrapv1.K0sWorkerConfig{}, builder.WithPredicates(configChanged)).
		WithOptions(options).
		Watches(&clusterv1.Machine{}, handler.EnqueueRequestsFromMapFunc(machineToConfig), builder.WithPredicates(machineChanged)).
		Watches(&clusterv1.MachinePool{}, handler.EnqueueRequestsFromMapFunc(machinePoolToConfig)).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToConfigs),
			builder.WithPredicates(predicates.All(mgr.GetScheme(), log,
				predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.WatchFilterValue),
				predicates.Any(mgr.GetScheme(), log,
					predicates.ClusterPausedTransitionsOrInfrastructureProvisioned(mgr.GetScheme(), log),
					predicates.ClusterControlPlaneInitialized(mgr.GetScheme(), log),
					clusterEndpointBecameValid,
				),
			))).
		WatchesRawSource(r.ClusterCache.GetClusterSource("k0sworkerconfig", clusterToConfigs)).
		WithEventFilter(predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.WatchFilterValue)).
		Complete(r)
}

// clusterEndpointBecameValid lets a Cluster whose control plane endpoint is
// set after the control plane reported initialized still wake its configs.
var clusterEndpointBecameValid = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldCluster, okOld := e.ObjectOld.(*clusterv1.Cluster)
		newCluster, okNew := e.ObjectNew.(*clusterv1.Cluster)
		return okOld && okNew && !oldCluster.Spec.ControlPlaneEndpoint.IsValid() && newCluster.Spec.ControlPlaneEndpoint.IsValid()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func isK0sWorkerConfigRef(ref clusterv1.ContractVersionedObjectReference) bool {
	return ref.APIGroup == bootstrapv1.GroupVersion.Group && ref.Kind == "K0sWorkerConfig" && ref.Name != ""
}

func machineToConfig(_ context.Context, o client.Object) []ctrl.Request {
	m, ok := o.(*clusterv1.Machine)
	if !ok || !isK0sWorkerConfigRef(m.Spec.Bootstrap.ConfigRef) {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.Bootstrap.ConfigRef.Name}}}
}

func machinePoolToConfig(_ context.Context, o client.Object) []ctrl.Request {
	p, ok := o.(*clusterv1.MachinePool)
	if !ok || !isK0sWorkerConfigRef(p.Spec.Template.Spec.Bootstrap.ConfigRef) {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Template.Spec.Bootstrap.ConfigRef.Name}}}
}

// scope is what one reconcile works on.
type scope struct {
	config  *bootstrapv1.K0sWorkerConfig
	owner   *configOwner
	cluster *clusterv1.Cluster
	patcher *configPatcher
}

// Reconcile brings one K0sWorkerConfig closer to having bootstrap data.
func (r *K0sWorkerConfigReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	config := &bootstrapv1.K0sWorkerConfig{}
	if err := r.Client.Get(ctx, req.NamespacedName, config); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !config.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, config)
	}
	if r.cacheBehindOwnWrite(config) {
		// The cache does not show the status this process just wrote yet;
		// its update event follows shortly.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	owner, err := getConfigOwner(ctx, r.Client, config)
	if err != nil || owner == nil {
		// No owner yet: Cluster API sets it right after creating the
		// config, and the Machine watch brings us back.
		return ctrl.Result{}, err
	}
	log := ctrl.LoggerFrom(ctx).WithValues(owner.kind(), klog.KObj(owner.object()), "Cluster", klog.KRef(config.Namespace, owner.clusterName()))
	ctx = ctrl.LoggerInto(ctx, log)

	cluster, err := util.GetClusterByName(ctx, r.Client, config.Namespace, owner.clusterName())
	if err != nil {
		// A Cluster created later wakes the config through the Cluster watch.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	// Pausing and unpausing are patched at once by Cluster API's helper;
	// the common case, not paused before or now, rides on the one status
	// patch at the end instead of costing a patch and a requeue of its own.
	if annotations.IsPaused(cluster, config) || !conditions.IsFalse(config, bootstrapv1.PausedCondition) && conditions.Has(config, bootstrapv1.PausedCondition) {
		if isPaused, requeue, err := paused.EnsurePausedCondition(ctx, r.Client, cluster, config); err != nil || isPaused || requeue {
			return ctrl.Result{}, err
		}
	}

	s := &scope{config: config, owner: owner, cluster: cluster}
	s.patcher = newConfigPatcher(r.Client, config)
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.PausedCondition, Status: metav1.ConditionFalse, Reason: clusterv1.NotPausedReason})
	before := conditions.Get(config, bootstrapv1.DataSecretAvailableCondition)
	defer func() {
		r.summarize(config, before)
		if err := s.patcher.patch(ctx, config, retErr == nil); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
			return
		}
		if ptr.Deref(config.Status.Initialization.DataSecretCreated, false) {
			r.tokens.markWritten(config.UID)
		}
	}()
	return r.reconcile(ctx, s)
}

func (r *K0sWorkerConfigReconciler) reconcile(ctx context.Context, s *scope) (ctrl.Result, error) {
	config, cluster := s.config, s.cluster
	created := ptr.Deref(config.Status.Initialization.DataSecretCreated, false)

	// After `clusterctl move` or a restore, status is empty but the owner
	// already consumed the data: rebuild status, mint nothing new.
	if !created && s.owner.dataSecretName() != "" {
		if err := r.restoreStatus(ctx, s); err != nil {
			return r.workloadUnreachable(config, err)
		}
		created = true
	}
	if created {
		return r.reconcileToken(ctx, s)
	}

	switch {
	case !ptr.Deref(cluster.Status.Initialization.InfrastructureProvisioned, false):
		setWaiting(config, bootstrapv1.WaitingForClusterInfrastructureReason, "Waiting for Cluster %s to report its infrastructure provisioned", cluster.Name)
		return ctrl.Result{}, nil
	case !conditions.IsTrue(cluster, clusterv1.ClusterControlPlaneInitializedCondition):
		setWaiting(config, bootstrapv1.WaitingForControlPlaneInitializationReason, "Waiting for the control plane of Cluster %s to be initialized", cluster.Name)
		return ctrl.Result{}, nil
	case !cluster.Spec.ControlPlaneEndpoint.IsValid():
		setWaiting(config, bootstrapv1.WaitingForControlPlaneEndpointReason, "Waiting for Cluster %s to have a valid spec.controlPlaneEndpoint", cluster.Name)
		return ctrl.Result{}, nil
	}
	return r.generate(ctx, s)
}

// generate creates (or reuses) the join token and writes the bootstrap data.
func (r *K0sWorkerConfigReconciler) generate(ctx context.Context, s *scope) (ctrl.Result, error) {
	config, owner, cluster := s.config, s.owner, s.cluster

	version, err := effectiveVersion(config, owner)
	if err != nil {
		setFailed(config, "Cannot use the k0s version of %s %s: %v", owner.kind(), owner.object().GetName(), err)
		return ctrl.Result{}, nil
	}

	workload, err := r.ClusterCache.GetClient(ctx, client.ObjectKeyFromObject(cluster))
	if err != nil {
		return r.workloadUnreachable(config, err)
	}

	token, err := r.ensureToken(ctx, s, workload)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.tokens.remember(config.UID, token.ID, token.Expiration)

	ca, err := clusterCA(ctx, r.SecretCachingClient, r.Client, cluster)
	if err != nil {
		return r.missingInput(config, bootstrapv1.WaitingForClusterCAReason, err)
	}
	in, err := renderInput(ctx, r.Client, config, owner, version)
	if err != nil {
		return r.missingInput(config, bootstrapv1.MissingFileSourceReason, err)
	}
	if in.JoinToken, err = jointoken.EncodeWorkerToken(joinServer(cluster), ca, token); err != nil {
		return ctrl.Result{}, err
	}
	data, err := render.Render(in)
	if err != nil {
		setFailed(config, "Cannot render the bootstrap data: %v", err)
		return ctrl.Result{}, err
	}

	if err := r.storeData(ctx, s, dataSecret(config, cluster.Name, data, in.Format, token.ID)); err != nil {
		setFailed(config, "Cannot store the bootstrap data Secret: %v", err)
		return ctrl.Result{}, err
	}

	config.Status.DataSecretName = ptr.To(config.Name)
	config.Status.Initialization.DataSecretCreated = ptr.To(true)
	message := ""
	if version == "" {
		message = "Neither the config nor its " + owner.kind() + " sets a version: the machine installs the latest k0s release"
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "LatestK0sVersion", "Render", message)
	}
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.DataSecretAvailableCondition, Status: metav1.ConditionTrue, Reason: bootstrapv1.DataSecretAvailableReason, Message: message})
	return r.requeueForToken(s), nil
}

// ensureToken returns the config's join token, creating it under an ID
// that is recorded on the config first: whatever fails later, the retry
// finds the same ID and reuses the token, so a config never has two.
func (r *K0sWorkerConfigReconciler) ensureToken(ctx context.Context, s *scope, workload client.Client) (jointoken.Token, error) {
	config := s.config
	now := time.Now()
	id := config.Annotations[TokenIDAnnotation]
	if id == "" {
		var err error
		if id, err = jointoken.NewID(); err != nil {
			return jointoken.Token{}, err
		}
		if config.Annotations == nil {
			config.Annotations = map[string]string{}
		}
		config.Annotations[TokenIDAnnotation] = id
		controllerutil.AddFinalizer(config, TokenFinalizer)
		if err := s.patcher.patchMetadata(ctx, config); err != nil {
			return jointoken.Token{}, fmt.Errorf("recording the join token ID: %w", err)
		}
		return jointoken.Create(ctx, workload, id, tokenDescription(config), r.TokenTTL, now)
	}

	token, err := jointoken.Get(ctx, workload, id)
	if apierrors.IsNotFound(err) {
		return jointoken.Create(ctx, workload, id, tokenDescription(config), r.TokenTTL, now)
	}
	if err != nil {
		return jointoken.Token{}, err
	}
	// Data about to be written must carry a token with most of its life ahead.
	return jointoken.Extend(ctx, workload, token, r.TokenTTL, r.refreshBelow(), now)
}

func tokenDescription(config *bootstrapv1.K0sWorkerConfig) string {
	return fmt.Sprintf("k0s worker join token for K0sWorkerConfig %s/%s, managed by cabpk0s", config.Namespace, config.Name)
}

// refreshBelow is the remaining lifetime under which a token is extended.
func (r *K0sWorkerConfigReconciler) refreshBelow() time.Duration { return r.TokenTTL * 5 / 6 }

// requeueForToken schedules the next token check while someone may still
// join with it.
func (r *K0sWorkerConfigReconciler) requeueForToken(s *scope) ctrl.Result {
	if s.owner.hasJoined() || s.config.Annotations[TokenIDAnnotation] == "" {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: r.TokenTTL / 3}
}

// storeData creates the data Secret. If it already exists and is ours (a
// retry after the status write failed), it is brought up to date instead.
func (r *K0sWorkerConfigReconciler) storeData(ctx context.Context, s *scope, desired *corev1.Secret) error {
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
	if owner := metav1.GetControllerOf(existing); owner != nil && owner.UID != s.config.UID {
		return fmt.Errorf("secret %s/%s exists and is controlled by %s %s", existing.Namespace, existing.Name, owner.Kind, owner.Name)
	}
	existing.Labels, existing.Annotations, existing.OwnerReferences = desired.Labels, desired.Annotations, desired.OwnerReferences
	existing.Type, existing.Data = desired.Type, desired.Data
	if err := r.Client.Update(ctx, existing); err != nil {
		return err
	}
	r.Recorder.Eventf(s.config, nil, corev1.EventTypeNormal, "DataSecretUpdated", "Render", "Updated bootstrap data Secret %s", desired.Name)
	return nil
}

// reconcileToken keeps the join token of generated data alive while it may
// still be used, and revokes it once the machine joined.
func (r *K0sWorkerConfigReconciler) reconcileToken(ctx context.Context, s *scope) (ctrl.Result, error) {
	config, owner := s.config, s.owner
	if !conditions.IsTrue(config, bootstrapv1.DataSecretAvailableCondition) {
		conditions.Set(config, metav1.Condition{Type: bootstrapv1.DataSecretAvailableCondition, Status: metav1.ConditionTrue, Reason: bootstrapv1.DataSecretAvailableReason})
	}
	id := config.Annotations[TokenIDAnnotation]
	if id == "" {
		return ctrl.Result{}, nil
	}
	workload, err := r.ClusterCache.GetClient(ctx, client.ObjectKeyFromObject(s.cluster))
	if err != nil {
		if errors.Is(err, clustercache.ErrClusterNotConnected) {
			return ctrl.Result{RequeueAfter: workloadRetryInterval}, nil
		}
		return ctrl.Result{}, err
	}

	if owner.hasJoined() {
		if err := jointoken.Delete(ctx, workload, id); err != nil {
			return ctrl.Result{}, err
		}
		r.tokens.forget(config.UID)
		delete(config.Annotations, TokenIDAnnotation)
		controllerutil.RemoveFinalizer(config, TokenFinalizer)
		r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRevoked", "Revoke", "Node %s joined: revoked join token %s", owner.machine.Status.NodeRef.Name, id)
		return ctrl.Result{}, nil
	}

	// A token this process issued or checked recently needs no look: the
	// requeue comes back before it needs a refresh.
	refreshBelow := r.refreshBelow()
	if owner.isPool() {
		refreshBelow = r.TokenTTL / 2
	}
	if known, ok := r.tokens.get(config.UID); ok && known.id == id && time.Until(known.expires) >= refreshBelow {
		return r.requeueForToken(s), nil
	}

	token, err := jointoken.Get(ctx, workload, id)
	switch {
	case apierrors.IsNotFound(err) && owner.isPool():
		return r.rotate(ctx, s)
	case apierrors.IsNotFound(err):
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "JoinTokenMissing", "Refresh",
			"Join token %s no longer exists in the workload cluster; a machine that has not joined yet cannot join: delete the Machine to replace it", id)
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}

	now := time.Now()
	if owner.isPool() {
		// A pool's data must always carry a valid token for the next
		// scale-up: before half its life is gone, the data Secret is
		// rewritten in place with a new one.
		if token.Expiration.Sub(now) < r.TokenTTL/2 {
			return r.rotate(ctx, s)
		}
		r.tokens.remember(config.UID, token.ID, token.Expiration)
		return r.requeueForToken(s), nil
	}
	extended, err := jointoken.Extend(ctx, workload, token, r.TokenTTL, r.refreshBelow(), now)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.tokens.remember(config.UID, extended.ID, extended.Expiration)
	return r.requeueForToken(s), nil
}

// rotate gives a MachinePool's data a fresh token. The old token is left
// to expire (less than half a TTL away): an instance may be joining with it
// right now.
func (r *K0sWorkerConfigReconciler) rotate(ctx context.Context, s *scope) (ctrl.Result, error) {
	old := s.config.Annotations[TokenIDAnnotation]
	delete(s.config.Annotations, TokenIDAnnotation)
	s.config.Status.Initialization.DataSecretCreated = nil
	result, err := r.generate(ctx, s)
	if err != nil || !ptr.Deref(s.config.Status.Initialization.DataSecretCreated, false) {
		return result, err
	}
	r.Recorder.Eventf(s.config, nil, corev1.EventTypeNormal, "JoinTokenRotated", "Rotate",
		"Rotated the MachinePool join token from %s to %s; %s expires on its own", old, s.config.Annotations[TokenIDAnnotation], old)
	return result, nil
}

// restoreStatus rebuilds status from the owner and the data Secret after a
// move or restore, and repairs the Secret's controller reference.
func (r *K0sWorkerConfigReconciler) restoreStatus(ctx context.Context, s *scope) error {
	config := s.config
	name := s.owner.dataSecretName()
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: config.Namespace, Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		// The owner consumed data that no longer exists; nothing to repair.
	case err != nil:
		return err
	default:
		if !metav1.IsControlledBy(secret, config) {
			patchBase := client.MergeFrom(secret.DeepCopy())
			secret.OwnerReferences = util.EnsureOwnerRef(secret.OwnerReferences, *metav1.NewControllerRef(config, bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig")))
			if err := r.Client.Patch(ctx, secret, patchBase); err != nil {
				return fmt.Errorf("repairing the owner of Secret %s: %w", name, err)
			}
		}
		if id := secret.Annotations[TokenIDAnnotation]; id != "" && config.Annotations[TokenIDAnnotation] == "" && !s.owner.hasJoined() {
			adopt, err := r.tokenToAdopt(ctx, s, id)
			if err != nil {
				return err
			}
			if adopt {
				if config.Annotations == nil {
					config.Annotations = map[string]string{}
				}
				config.Annotations[TokenIDAnnotation] = id
				controllerutil.AddFinalizer(config, TokenFinalizer)
			}
		}
	}
	config.Status.DataSecretName = ptr.To(name)
	config.Status.Initialization.DataSecretCreated = ptr.To(true)
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.DataSecretAvailableCondition, Status: metav1.ConditionTrue, Reason: bootstrapv1.DataSecretAvailableReason,
		Message: "Status rebuilt from " + s.owner.kind() + " " + s.owner.object().GetName()})
	return nil
}

// tokenToAdopt tells whether restoreStatus takes back the join token the
// data Secret names. Only while the token exists: after `clusterctl move`
// the Machine's status is not moved, so a Machine that joined long ago looks
// unjoined until Cluster API finds its Node again, and its token was revoked
// on the source when it joined; taking that ID back would report the token
// missing and advise replacing a healthy Machine. A MachinePool's token is
// always taken back: when it is missing, it is rotated.
func (r *K0sWorkerConfigReconciler) tokenToAdopt(ctx context.Context, s *scope, id string) (bool, error) {
	if s.owner.isPool() {
		return true, nil
	}
	workload, err := r.ClusterCache.GetClient(ctx, client.ObjectKeyFromObject(s.cluster))
	if err != nil {
		return false, err
	}
	_, err = jointoken.Get(ctx, workload, id)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// reconcileDelete revokes the join token, then lets the config go.
func (r *K0sWorkerConfigReconciler) reconcileDelete(ctx context.Context, config *bootstrapv1.K0sWorkerConfig) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(config, TokenFinalizer) {
		return ctrl.Result{}, nil
	}
	// clusterctl move deletes the source's copy once the target has its
	// own: the token moved with the config and must outlive this copy.
	_, moving := config.Annotations[clusterctlv1.DeleteForMoveAnnotation]
	if id := config.Annotations[TokenIDAnnotation]; id != "" && !moving {
		done, result, err := r.revokeOnDelete(ctx, config, id)
		if err != nil || !done {
			return result, err
		}
	}
	base := config.DeepCopy()
	controllerutil.RemoveFinalizer(config, TokenFinalizer)
	if err := r.Client.Patch(ctx, config, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, err
	}
	r.tokens.forget(config.UID)
	return ctrl.Result{}, nil
}

// revokeOnDelete deletes the config's join token. done is false while the
// finalizer must stay: the Cluster is paused (hands off, as everywhere in
// Cluster API; unpausing wakes the config) or its workload cluster is
// unreachable within the grace period.
func (r *K0sWorkerConfigReconciler) revokeOnDelete(ctx context.Context, config *bootstrapv1.K0sWorkerConfig, id string) (done bool, _ ctrl.Result, _ error) {
	clusterName := config.Labels[clusterv1.ClusterNameLabel]
	if clusterName == "" {
		return true, ctrl.Result{}, nil
	}
	cluster := &clusterv1.Cluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: config.Namespace, Name: clusterName}, cluster); err != nil {
		// Without a Cluster there is no workload cluster left to clean up.
		return apierrors.IsNotFound(err), ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if annotations.IsPaused(cluster, config) {
		return false, ctrl.Result{}, nil
	}
	workload, err := r.ClusterCache.GetClient(ctx, client.ObjectKeyFromObject(cluster))
	if err != nil {
		if !errors.Is(err, clustercache.ErrClusterNotConnected) {
			return false, ctrl.Result{}, err
		}
		if time.Since(config.DeletionTimestamp.Time) < revocationGracePeriod {
			return false, ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "JoinTokenNotRevoked", "Revoke",
			"Workload cluster unreachable for %s: join token %s was not revoked and expires on its own", revocationGracePeriod, id)
		return true, ctrl.Result{}, nil
	}
	if err := jointoken.Delete(ctx, workload, id); err != nil {
		return false, ctrl.Result{}, err
	}
	r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRevoked", "Revoke", "Config deleted: revoked join token %s", id)
	return true, ctrl.Result{}, nil
}

func (r *K0sWorkerConfigReconciler) workloadUnreachable(config *bootstrapv1.K0sWorkerConfig, err error) (ctrl.Result, error) {
	if !errors.Is(err, clustercache.ErrClusterNotConnected) {
		return ctrl.Result{}, err
	}
	setWaiting(config, bootstrapv1.WorkloadClusterNotReachableReason, "Waiting for the workload cluster's API server to be reachable")
	return ctrl.Result{RequeueAfter: workloadRetryInterval}, nil
}

func (r *K0sWorkerConfigReconciler) missingInput(config *bootstrapv1.K0sWorkerConfig, reason string, err error) (ctrl.Result, error) {
	var missing *missingSourceError
	if !errors.As(err, &missing) {
		return ctrl.Result{}, err
	}
	setWaiting(config, reason, "Waiting for %s", missing.what)
	return ctrl.Result{RequeueAfter: missingSourceRetryInterval}, nil
}

func setWaiting(config *bootstrapv1.K0sWorkerConfig, reason, format string, args ...any) {
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.DataSecretAvailableCondition, Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func setFailed(config *bootstrapv1.K0sWorkerConfig, format string, args ...any) {
	setWaiting(config, bootstrapv1.DataSecretGenerationFailedReason, format, args...)
}

// summarize mirrors DataSecretAvailable into Ready and emits an event when
// what the config waits for changes.
func (r *K0sWorkerConfigReconciler) summarize(config *bootstrapv1.K0sWorkerConfig, before *metav1.Condition) {
	current := conditions.Get(config, bootstrapv1.DataSecretAvailableCondition)
	if current == nil {
		return
	}
	ready := *current
	ready.Type = bootstrapv1.ReadyCondition
	ready.LastTransitionTime = metav1.Time{}
	conditions.Set(config, ready)

	// Waiting, failing and recovering are events; data that is simply
	// available on the first try is not (see storeData).
	recovered := current.Status == metav1.ConditionTrue && before != nil && before.Status != metav1.ConditionTrue
	if current.Status != metav1.ConditionTrue && (before == nil || before.Reason != current.Reason) || recovered {
		eventType := corev1.EventTypeNormal
		if current.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		note := current.Message
		if note == "" {
			note = "Bootstrap data is available"
		}
		r.Recorder.Eventf(config, nil, eventType, current.Reason, "Reconcile", "%s", note)
	}
}

// cacheAllowance is how long the cache may lag behind this process's own
// status write before the config is reconciled from scratch anyway.
const cacheAllowance = 5 * time.Second

// cacheBehindOwnWrite is true while the cached config does not yet show the
// data this process wrote for it moments ago.
func (r *K0sWorkerConfigReconciler) cacheBehindOwnWrite(config *bootstrapv1.K0sWorkerConfig) bool {
	known, ok := r.tokens.get(config.UID)
	return ok && !known.written.IsZero() && time.Since(known.written) < cacheAllowance &&
		!ptr.Deref(config.Status.Initialization.DataSecretCreated, false)
}
