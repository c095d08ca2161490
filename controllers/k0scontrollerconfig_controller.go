package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// +kubebuilder:rbac:groups=bootstrap.cluster.x-k8s.io,resources=k0scontrollerconfigs;k0scontrollerconfigs/status;k0scontrollerconfigs/finalizers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;delete

// K0sControllerConfigReconciler turns a K0sControllerConfig owned by a
// control-plane Machine into bootstrap data: the first controller of a
// cluster gets the cluster's certificates and initialises it, the others a
// short-lived controller join token.
type K0sControllerConfigReconciler struct{ configReconciler }

// NewK0sControllerConfigReconciler returns the K0sControllerConfig reconciler.
func NewK0sControllerConfigReconciler(options ReconcilerOptions, controllerOptions ControllerOptions) *K0sControllerConfigReconciler {
	image := controllerOptions.FrpcImage
	if image == "" {
		image = bootstrapinput.DefaultFrpcImage
	}
	return &K0sControllerConfigReconciler{configReconciler{ReconcilerOptions: options, kind: controllerKind{frpcImage: image}}}
}

// SetupWithManager watches K0sControllerConfigs, their Machines, their
// Clusters and the connectivity of their workload clusters.
func (r *K0sControllerConfigReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, options controller.Options) error {
	return r.setup(ctx, mgr, options)
}

// ControllerOptions are the K0sControllerConfig reconciler's own settings.
type ControllerOptions struct {
	// FrpcImage is the frp client a tunnelling controller deploys; empty
	// means bootstrapinput.DefaultFrpcImage.
	FrpcImage string
}

// controllerKind is K0sControllerConfig's part of the shared reconcile.
type controllerKind struct{ frpcImage string }

func (controllerKind) name() string               { return controllerConfigKind }
func (controllerKind) newConfig() bootstrapConfig { return &bootstrapv1.K0sControllerConfig{} }
func (controllerKind) newList() client.ObjectList { return &bootstrapv1.K0sControllerConfigList{} }
func (controllerKind) finalizer() string          { return ControllerTokenFinalizer }
func (controllerKind) role() jointoken.Role       { return jointoken.Controller }

// recheck: a controller without a kubelet never gets a node, and nothing
// in the management cluster says it joined; its ControlNode is looked for
// this often while its token lives.
func (controllerKind) recheck() time.Duration { return controllerJoinRecheck }

func (controllerKind) clearSpec(c bootstrapConfig) {
	c.(*bootstrapv1.K0sControllerConfig).Spec = bootstrapv1.K0sControllerConfigSpec{}
}

func (controllerKind) clearStatus(c bootstrapConfig) {
	c.(*bootstrapv1.K0sControllerConfig).Status = bootstrapv1.K0sControllerConfigStatus{}
}

func (controllerKind) validate(config bootstrapConfig) field.ErrorList {
	errs, _ := validation.ControllerSpec(&config.(*bootstrapv1.K0sControllerConfig).Spec, field.NewPath("spec"))
	return errs
}

// controlNodeGVK is k0s autopilot's record of a controller, named after
// AUTOPILOT_HOSTNAME (the Machine's name): k0s creates it when the
// controller has joined and runs.
var controlNodeGVK = schema.GroupVersionKind{Group: "autopilot.k0sproject.io", Version: "v1beta2", Kind: "ControlNode"}

// joined: the controller's ControlNode exists in the workload cluster.
func (controllerKind) joined(ctx context.Context, r *configReconciler, s *scope) (bool, error) {
	workload, err := r.workloadLive(ctx, s.cluster)
	if err != nil {
		return false, err
	}
	node := &unstructured.Unstructured{}
	node.SetGroupVersionKind(controlNodeGVK)
	err = workload.Get(ctx, client.ObjectKey{Name: s.owner.machine.Name}, node)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		// Not yet, or autopilot's API is not served yet: no controller
		// has started.
		return false, nil
	}
	return false, err
}

// gate: every controller waits for the Cluster's infrastructure and
// endpoint (K0sControlPlane merges it into the k0s config, the tunnel's
// proxy serves it). While the control plane is not initialized, the one
// holding the Cluster's init lock initializes it and every other waits;
// afterwards every controller joins.
func (controllerKind) gate(ctx context.Context, r *configReconciler, s *scope) (bool, ctrl.Result, error) {
	config, cluster := s.config, s.cluster
	switch {
	case !ptr.Deref(cluster.Status.Initialization.InfrastructureProvisioned, false):
		setWaiting(config, bootstrapv1.WaitingForClusterInfrastructureReason, "Waiting for Cluster %s to report its infrastructure provisioned", cluster.Name)
		return false, ctrl.Result{}, nil
	case !cluster.Spec.ControlPlaneEndpoint.IsValid():
		setWaiting(config, bootstrapv1.WaitingForControlPlaneEndpointReason, "Waiting for Cluster %s to have a valid spec.controlPlaneEndpoint", cluster.Name)
		return false, ctrl.Result{}, nil
	case conditions.IsTrue(cluster, clusterv1.ClusterControlPlaneInitializedCondition):
		return true, ctrl.Result{}, nil
	case s.owner.isPool():
		// plan says why there is no data; a pool never takes the lock.
		return true, ctrl.Result{}, nil
	}
	holder, err := r.acquireInitLock(ctx, s)
	if err != nil {
		return false, ctrl.Result{}, err
	}
	if holder != config.GetName() {
		setWaiting(config, bootstrapv1.WaitingForControlPlaneInitializationReason,
			"Waiting for controller %s, the first of Cluster %s, to initialize the control plane", holder, cluster.Name)
		// The Cluster's initialization wakes it; a first controller that
		// goes away before does not.
		return false, ctrl.Result{RequeueAfter: initLockRecheck}, nil
	}
	s.initializes = true
	return true, ctrl.Result{}, nil
}

// plan: the first controller brings the cluster's certificates; every
// other joins through the k0s join API at the Cluster's endpoint.
func (k controllerKind) plan(ctx context.Context, r *configReconciler, s *scope) (*dataPlan, ctrl.Result, error) {
	config, owner, cluster := s.config.(*bootstrapv1.K0sControllerConfig), s.owner, s.cluster
	if owner.isPool() {
		setFailed(config, "A K0sControllerConfig bootstraps one control-plane Machine; MachinePool %s cannot use it: give the pool a K0sWorkerConfig", owner.pool.Name)
		return nil, ctrl.Result{}, nil
	}
	var facts bootstrapinput.ControllerFacts
	if config.Spec.Tunneling.Enabled {
		tunnel, err := k.tunnel(ctx, r, cluster, &config.Spec)
		if err != nil {
			res, err := r.missingInput(config, bootstrapv1.MissingFileSourceReason, err, missingCARetryInterval)
			return nil, res, err
		}
		facts.Tunnel = tunnel
	}
	var join *bootstrapinput.Join
	if s.initializes {
		pki, err := r.clusterCertificates(ctx, cluster)
		if err != nil {
			var unusable *unusableCertificateError
			if errors.As(err, &unusable) {
				setFailed(config, "%v", unusable)
				return nil, ctrl.Result{RequeueAfter: missingCARetryInterval}, nil
			}
			return nil, ctrl.Result{}, err
		}
		facts.PKI = pki
	} else {
		ca, err := clusterCA(ctx, r.SecretCachingClient, r.Client, cluster)
		if err != nil {
			res, err := r.missingInput(config, bootstrapv1.WaitingForClusterCAReason, err, missingCARetryInterval)
			return nil, res, err
		}
		join = &bootstrapinput.Join{Role: jointoken.Controller, Server: controllerJoinServer(cluster, &config.Spec), CA: ca}
	}
	machine := bootstrapinput.Machine{Name: owner.machine.Name, NodeName: owner.nodeName(config), OwnerVersion: owner.version()}
	in, err := bootstrapinput.BuildController(ctx, &config.Spec, machine, facts, bootstrapinput.ClientSources{Client: r.Client, Namespace: config.Namespace})
	switch {
	case bootstrapinput.IsMissingSource(err):
		// The source watches bring the config back when it appears.
		res, err := r.missingInput(config, bootstrapv1.MissingFileSourceReason, err, 0)
		return nil, res, err
	case err != nil:
		setFailed(config, "Cannot make the bootstrap data: %v", err)
		return nil, ctrl.Result{}, nil
	}
	return &dataPlan{in: in, join: join}, ctrl.Result{}, nil
}

// defaultK0sAPIPort is the k0s join API's port unless spec.api.k0sApiPort
// of the k0s config says otherwise.
const defaultK0sAPIPort = 9443

// controllerJoinServer is the k0s join API a controller joins through: the
// Cluster's endpoint host (its load balancer, which fronts the
// controllers' k0s API beside the Kubernetes API), on the k0s API port.
// Nothing is probed from the management cluster.
func controllerJoinServer(cluster *clusterv1.Cluster, spec *bootstrapv1.K0sControllerConfigSpec) string {
	port := defaultK0sAPIPort
	if p := bootstrapinput.K0sConfigSettings(spec).K0sAPIPort; p > 0 {
		port = p
	}
	return "https://" + net.JoinHostPort(cluster.Spec.ControlPlaneEndpoint.Host, strconv.Itoa(port))
}

// frpTokenKey is the key of the <cluster>-frp-token Secret that holds it.
const frpTokenKey = "value"

// tunnel gathers what the frp client needs: the token K0sControlPlane
// keeps in <cluster>-frp-token, the endpoint and the service network.
func (k controllerKind) tunnel(ctx context.Context, r *configReconciler, cluster *clusterv1.Cluster, spec *bootstrapv1.K0sControllerConfigSpec) (*bootstrapinput.Tunnel, error) {
	name := cluster.Name + "-frp-token"
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: name}, s)
	if apierrors.IsNotFound(err) || err == nil && len(s.Data[frpTokenKey]) == 0 {
		return nil, &bootstrapinput.MissingSourceError{What: fmt.Sprintf("key %s of Secret %s/%s (the frp token K0sControlPlane creates for spec.tunneling)", frpTokenKey, cluster.Namespace, name)}
	}
	if err != nil {
		return nil, err
	}
	cidr := bootstrapinput.K0sConfigSettings(spec).ServiceCIDR
	if blocks := cluster.Spec.ClusterNetwork.Services.CIDRBlocks; cidr == "" && len(blocks) > 0 {
		cidr = blocks[0]
	}
	return &bootstrapinput.Tunnel{Token: string(s.Data[frpTokenKey]), EndpointHost: cluster.Spec.ControlPlaneEndpoint.Host, ServiceCIDR: cidr, Image: k.frpcImage}, nil
}
