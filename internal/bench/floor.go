package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/secret"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/manager"
)

// FloorUserAgent identifies the floor's requests in the audit logs.
const FloorUserAgent = "cabpk0s-bench-floor"

// floorDataSize is the size of the floor's bootstrap data: about what
// cabpk0s renders for the benchmark's configs.
const floorDataSize = 4096

// FloorOptions configure RunFloor.
type FloorOptions struct {
	Kubeconfig  string
	Namespace   string
	Cluster     string
	Concurrency int
	HealthAddr  string
	TokenTTL    time.Duration
}

// DefaultConcurrency is cabpk0s's default --concurrency: the floor works
// at the same.
func DefaultConcurrency() int {
	o := &manager.Options{}
	o.AddFlags(pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	return o.Concurrency
}

// RunFloor is the benchmark's lower bound: for every K0sWorkerConfig it
// does exactly the writes bootstrapping needs — one join token Secret in
// the workload cluster, one data Secret, one status patch — with a plain
// client, at the given concurrency, and nothing else: no owner, Cluster or
// readiness checks, no conditions, no events, no token refresh.
func RunFloor(ctx context.Context, opts FloorOptions) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent, cfg.QPS, cfg.Burst = FloorUserAgent, -1, 0
	scheme := manager.NewScheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: opts.HealthAddr,
	})
	if err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", func(*http.Request) error { return nil }); err != nil {
		return err
	}

	// The workload cluster's client is built once, before any machine.
	kubeconfigSecret, err := secret.GetFromNamespacedName(ctx, mgr.GetAPIReader(), client.ObjectKey{Namespace: opts.Namespace, Name: opts.Cluster}, secret.Kubeconfig)
	if err != nil {
		return fmt.Errorf("reading the workload kubeconfig: %w", err)
	}
	workloadConfig, err := clientcmd.RESTConfigFromKubeConfig(kubeconfigSecret.Data[secret.KubeconfigDataName])
	if err != nil {
		return err
	}
	workloadConfig.UserAgent, workloadConfig.QPS, workloadConfig.Burst = FloorUserAgent, -1, 0
	workload, err := client.New(workloadConfig, client.Options{})
	if err != nil {
		return err
	}

	r := &floorReconciler{client: mgr.GetClient(), workload: workload, ttl: opts.TokenTTL, cluster: opts.Cluster}
	err = ctrl.NewControllerManagedBy(mgr).
		For(&bootstrapv1.K0sWorkerConfig{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Concurrency}).
		Complete(r)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

type floorReconciler struct {
	client   client.Client
	workload client.Client
	ttl      time.Duration
	cluster  string
	// done remembers finished configs, so a stale cache never causes a
	// second round of writes.
	done sync.Map
}

func (r *floorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if _, ok := r.done.Load(req.NamespacedName); ok {
		return ctrl.Result{}, nil
	}
	config := &bootstrapv1.K0sWorkerConfig{}
	if err := r.client.Get(ctx, req.NamespacedName, config); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if config.Status.DataSecretName != nil {
		r.done.Store(req.NamespacedName, true)
		return ctrl.Result{}, nil
	}

	token, err := jointoken.NewToken()
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, err := jointoken.Worker.CreateWith(ctx, r.workload, token, "cabpk0s benchmark floor", r.ttl, time.Now()); err != nil {
		return ctrl.Result{}, err
	}
	data := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: config.Namespace, Name: config.Name,
			Labels:          map[string]string{clusterv1.ClusterNameLabel: r.cluster},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(config, bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig"))},
		},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{"value": make([]byte, floorDataSize), "format": []byte("cloud-config")},
	}
	if err := r.client.Create(ctx, data); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, err
	}
	status := fmt.Sprintf(`{"status":{"dataSecretName":%q,"initialization":{"dataSecretCreated":true}}}`, config.Name)
	if err := r.client.Status().Patch(ctx, config, client.RawPatch(types.MergePatchType, []byte(status))); err != nil {
		return ctrl.Result{}, err
	}
	r.done.Store(req.NamespacedName, true)
	return ctrl.Result{}, nil
}
