// Package controllers holds the K0sWorkerConfig and K0sControllerConfig
// reconcilers: they read the world (owner, Cluster, workload cluster),
// decide, and write the join token, the bootstrap data Secret and the
// config's status. Both kinds share one reconcile (configReconciler); what
// differs is a configKind.
//
// One subject per file: config.go (the shared reconciler and what a kind
// supplies), k0sworkerconfig_controller.go and
// k0scontrollerconfig_controller.go (the kinds), reconcile.go (one
// reconcile: owner, Cluster, pause, status), watches.go (what wakes a
// config), sources.go (the watch on the Secrets and ConfigMaps configs
// read), owner.go (its Machine or MachinePool), inputs.go (the cluster CA,
// the join server), lifecycle.go (token and data: generate, rotate,
// refresh, recover, revoke), datasecret.go (the Secret, and status rebuilt
// after a move), delete.go, workload.go (the one policy for an unreachable
// workload cluster), status.go (conditions and events), patch.go (the
// writes), memory.go, metrics.go, names.go (finalizer, annotation,
// intervals).
package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/validation"
)

// +kubebuilder:rbac:groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigs;k0sworkerconfigs/status;k0sworkerconfigs/finalizers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=clusters;machines;machinepools,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// K0sWorkerConfigReconciler turns a K0sWorkerConfig owned by a Machine or
// MachinePool into bootstrap data with a short-lived k0s join token.
type K0sWorkerConfigReconciler struct{ configReconciler }

// NewK0sWorkerConfigReconciler returns the K0sWorkerConfig reconciler.
func NewK0sWorkerConfigReconciler(options ReconcilerOptions) *K0sWorkerConfigReconciler {
	return &K0sWorkerConfigReconciler{configReconciler{ReconcilerOptions: options, kind: workerKind{}}}
}

// SetupWithManager watches K0sWorkerConfigs, their owners, their Clusters
// and the connectivity of their workload clusters.
func (r *K0sWorkerConfigReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, options controller.Options) error {
	return r.setup(ctx, mgr, options)
}

// workerKind is K0sWorkerConfig's part of the shared reconcile.
type workerKind struct{}

func (workerKind) name() string               { return workerConfigKind }
func (workerKind) newConfig() bootstrapConfig { return &bootstrapv1.K0sWorkerConfig{} }
func (workerKind) newList() client.ObjectList { return &bootstrapv1.K0sWorkerConfigList{} }
func (workerKind) finalizer() string          { return TokenFinalizer }
func (workerKind) role() jointoken.Role       { return jointoken.Worker }
func (workerKind) recheck() time.Duration     { return 0 }

func (workerKind) clearSpec(c bootstrapConfig) {
	c.(*bootstrapv1.K0sWorkerConfig).Spec = bootstrapv1.K0sWorkerConfigSpec{}
}

func (workerKind) clearStatus(c bootstrapConfig) {
	c.(*bootstrapv1.K0sWorkerConfig).Status = bootstrapv1.K0sWorkerConfigStatus{}
}

func (workerKind) validate(config bootstrapConfig) field.ErrorList {
	errs, _ := validation.Spec(&config.(*bootstrapv1.K0sWorkerConfig).Spec, field.NewPath("spec"))
	return errs
}

// A worker's machine joined when its Machine has a node.
func (workerKind) joined(context.Context, *configReconciler, *scope) (bool, error) { return false, nil }

// gate: a worker joins a running control plane, through the Cluster's
// endpoint.
func (workerKind) gate(_ context.Context, _ *configReconciler, s *scope) (bool, ctrl.Result, error) {
	config, cluster := s.config, s.cluster
	switch {
	case !ptr.Deref(cluster.Status.Initialization.InfrastructureProvisioned, false):
		setWaiting(config, bootstrapv1.WaitingForClusterInfrastructureReason, "Waiting for Cluster %s to report its infrastructure provisioned", cluster.Name)
	case !conditions.IsTrue(cluster, clusterv1.ClusterControlPlaneInitializedCondition):
		setWaiting(config, bootstrapv1.WaitingForControlPlaneInitializationReason, "Waiting for the control plane of Cluster %s to be initialized", cluster.Name)
	case !cluster.Spec.ControlPlaneEndpoint.IsValid():
		setWaiting(config, bootstrapv1.WaitingForControlPlaneEndpointReason, "Waiting for Cluster %s to have a valid spec.controlPlaneEndpoint", cluster.Name)
	default:
		return true, ctrl.Result{}, nil
	}
	return false, ctrl.Result{}, nil
}

// plan: a worker's data carries a worker token for the Cluster's
// endpoint, trusting the cluster CA.
func (workerKind) plan(ctx context.Context, r *configReconciler, s *scope) (*dataPlan, ctrl.Result, error) {
	config, owner, cluster := s.config.(*bootstrapv1.K0sWorkerConfig), s.owner, s.cluster
	ca, err := clusterCA(ctx, r.SecretCachingClient, r.Client, cluster)
	if err != nil {
		// Not watched: control plane providers create it once, early.
		res, err := r.missingInput(config, bootstrapv1.WaitingForClusterCAReason, err, missingCARetryInterval)
		return nil, res, err
	}
	in, err := bootstrapinput.Build(ctx, &config.Spec, bootstrapinput.Machine{NodeName: owner.nodeName(config), OwnerVersion: owner.version()},
		bootstrapinput.ClientSources{Client: r.Client, Namespace: config.Namespace})
	if err != nil {
		// The source watches bring the config back when it appears.
		res, err := r.missingInput(config, bootstrapv1.MissingFileSourceReason, err, 0)
		return nil, res, err
	}
	return &dataPlan{in: in, join: &bootstrapinput.Join{Role: jointoken.Worker, Server: joinServer(cluster), CA: ca}}, ctrl.Result{}, nil
}
