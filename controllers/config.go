package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// ReconcilerOptions are what a config reconciler takes from the manager.
type ReconcilerOptions struct {
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
	// SecretCachingClient reads Secrets that carry a cluster-name label
	// (the cluster CA, data Secrets) from the manager's cache (Cluster
	// API's setup.CreateSecretCachingClient).
	SecretCachingClient client.Client
	// SourceCache watches the metadata of Secrets and ConfigMaps, so a
	// contentFrom or customUserDataRef source wakes its configs when it
	// appears or changes (see sourceWatches). The manager must run it.
	SourceCache cache.Cache
}

// configReconciler is the reconcile both config kinds share: owner,
// Cluster, pause, the token's whole life, the data Secret, status and
// deletion. What differs between the kinds is its configKind.
type configReconciler struct {
	ReconcilerOptions
	kind configKind

	tokens uidMap[knownToken]
	writes uidMap[ownWrite]
	// configsOfCluster maps a Cluster to its configs of the kind (set up
	// with the Cluster watch).
	configsOfCluster func(context.Context, client.Object) []ctrl.Request
	adopting         adoptions
	// adopted are the configs whose adopted data this process looked at,
	// with the token ID found in it: passes that run before the cache
	// shows their annotations skip them.
	adopted uidMap[string]
}

// bootstrapConfig is a config the shared reconcile works on.
type bootstrapConfig interface {
	client.Object
	conditions.Setter
	GetInstallSpec() *bootstrapv1.K0sInstallSpec
	GetDataSecretName() *string
	IsDataSecretCreated() bool
	SetDataSecret(name string)
	SetObservedGeneration(generation int64)
}

// configKind is what differs between K0sWorkerConfig and
// K0sControllerConfig.
type configKind interface {
	// name is the API kind.
	name() string
	newConfig() bootstrapConfig
	newList() client.ObjectList
	// clearSpec and clearStatus zero a copy's spec or status, for the
	// patches (see configPatcher).
	clearSpec(config bootstrapConfig)
	clearStatus(config bootstrapConfig)

	// finalizer keeps a config until its join token is revoked.
	finalizer() string
	role() jointoken.Role
	// validate is admission's check of the spec.
	validate(config bootstrapConfig) field.ErrorList
	// gate tells whether a config without data may get it now: what it
	// waits for otherwise, the condition says, and the result when to look
	// again.
	gate(ctx context.Context, r *configReconciler, s *scope) (proceed bool, _ ctrl.Result, _ error)
	// plan gathers the data's input. A nil plan without an error means
	// waiting or failed: the condition says which, and the result when to
	// look again.
	plan(ctx context.Context, r *configReconciler, s *scope) (*dataPlan, ctrl.Result, error)
	// joined tells, for a Machine without a node, whether the machine has
	// joined all the same: a controller without a kubelet never gets a
	// node. recheck is how soon a pending machine is looked at for that
	// (0: its Machine's node joining wakes it).
	joined(ctx context.Context, r *configReconciler, s *scope) (bool, error)
	recheck() time.Duration
}

// dataPlan is what a kind's plan hands the shared generate.
type dataPlan struct {
	in render.Input
	// join is where the token points; nil for data without one (the
	// first controller's).
	join *bootstrapinput.Join
}

// groupKind is the config kind's API group and kind, for owner
// references and events.
func (r *configReconciler) gvk() schema.GroupVersionKind {
	return bootstrapv1.GroupVersion.WithKind(r.kind.name())
}
