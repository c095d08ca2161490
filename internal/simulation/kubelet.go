package simulation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// ProviderProcess builds the manager that runs in place of a provider's
// manager container. The simulated kubelet starts it and stops it.
type ProviderProcess func(ctx context.Context, in ProviderProcessInput) (ctrl.Manager, error)

// ProviderProcessInput is what a container would get from its Pod.
type ProviderProcessInput struct {
	// Config reaches the API server as the Deployment's ServiceAccount
	// (when the process runs as one) or as an administrator.
	Config *rest.Config
	// Args are the container's arguments, variables already substituted
	// by clusterctl.
	Args []string
	// Webhook is where the process must serve its webhooks: a free port on
	// a local address its Service's EndpointSlice points at, and the
	// certificate cert-manager issued for the Service. Zero when the
	// Deployment has no webhook port.
	Webhook webhook.Options
	// Namespace is the Pod's namespace, which a process in a cluster finds
	// in its ServiceAccount mount (for leader election, say).
	Namespace string
	// Logger is the container's log.
	Logger logr.Logger
}

// Provider is an in-process implementation of one provider's manager.
type Provider struct {
	Process ProviderProcess
	// AsServiceAccount runs the process as its Deployment's ServiceAccount,
	// so the RBAC the provider's components grant is what it gets.
	AsServiceAccount bool
}

// webhookPortName is the container port controller-runtime providers serve
// their webhooks on, by convention.
const webhookPortName = "webhook-server"

// simulatedEndpointsManager marks the EndpointSlices the simulated kubelet writes.
const simulatedEndpointsManager = "simulated-kubelet.cabpk0s.io"

// SimulatedKubelet stands in for the kubelet, the scheduler and the
// EndpointSlice controller of a management cluster that has none: for
// every provider Deployment (by its cluster.x-k8s.io/provider label) with an
// in-process implementation, it runs that implementation once — as the
// Deployment's ServiceAccount where asked, serving webhooks with the
// certificate Secret the Pod would mount — writes an EndpointSlice for each
// Service selecting the Pod, pointing at the process (kube-apiserver with
// --enable-aggregator-routing resolves webhook Services through
// EndpointSlices), and reports the Deployment available. No Pod object
// exists and no image is pulled.
type SimulatedKubelet struct {
	Client client.Client
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Providers maps a cluster.x-k8s.io/provider label value to the
	// process that runs for it.
	Providers map[string]Provider
	// HostIP is the address processes serve on: EndpointSlices refuse
	// loopback addresses.
	HostIP string
	// StateDir receives each process's mounted certificates.
	StateDir string
	Logger   logr.Logger

	mu      sync.Mutex
	running map[client.ObjectKey]*simulatedPod
	wg      sync.WaitGroup
	stopped bool
}

type simulatedPod struct {
	cancel      context.CancelFunc
	webhookPort int
	// deployment is the UID of the Deployment the process runs for.
	deployment types.UID
}

// stopPod stops the process running for the Deployment at key unless it
// runs for the Deployment with UID keep, and returns the process still
// running (nil when none is). Stop waits for a stopped process to end.
func (k *SimulatedKubelet) stopPod(key client.ObjectKey, keep types.UID) *simulatedPod {
	k.mu.Lock()
	defer k.mu.Unlock()
	pod := k.running[key]
	if pod == nil || keep != "" && pod.deployment == keep {
		return pod
	}
	pod.cancel()
	delete(k.running, key)
	k.Logger.Info("Stopped the provider's process: its Deployment is gone or replaced (simulated kubelet)", "Deployment", key.String())
	return nil
}

// SetupWithManager registers the simulation. The processes stop with the
// manager.
func (k *SimulatedKubelet) SetupWithManager(mgr ctrl.Manager) error {
	k.running = map[client.ObjectKey]*simulatedPod{}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		k.Stop()
		return nil
	})); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("simulated-kubelet").
		For(&appsv1.Deployment{}).
		// A Service created after its Deployment still gets its endpoints.
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(k.serviceToDeployments)).
		Complete(k)
}

func (k *SimulatedKubelet) serviceToDeployments(ctx context.Context, o client.Object) []ctrl.Request {
	list := &appsv1.DeploymentList{}
	if err := k.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	requests := make([]ctrl.Request, 0, len(list.Items))
	for _, d := range list.Items {
		requests = append(requests, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
	}
	return requests
}

// Reconcile runs one Deployment's process, once, and keeps its endpoints
// and status current.
func (k *SimulatedKubelet) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d := &appsv1.Deployment{}
	if err := k.Client.Get(ctx, req.NamespacedName, d); err != nil {
		if apierrors.IsNotFound(err) {
			// As a kubelet does once a Deployment's Pods are deleted: a
			// provider `clusterctl delete` removed does not run on.
			k.stopPod(req.NamespacedName, "")
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	provider, ok := k.Providers[d.Labels[clusterv1.ProviderNameLabel]]
	if !ok || len(d.Spec.Template.Spec.Containers) == 0 {
		return ctrl.Result{}, nil
	}
	if !d.DeletionTimestamp.IsZero() {
		k.stopPod(req.NamespacedName, "")
		return ctrl.Result{}, nil
	}
	container := d.Spec.Template.Spec.Containers[0]

	// A Deployment deleted and created again under the same name (as
	// `clusterctl delete` then `clusterctl init` do) gets a new process.
	pod := k.stopPod(req.NamespacedName, d.UID)
	if pod == nil {
		var err error
		if pod, err = k.start(ctx, d, container, provider); err != nil || pod == nil {
			// nil: the certificate Secret is not there yet.
			return ctrl.Result{RequeueAfter: caInjectionRetry}, err
		}
	}
	if err := k.writeEndpoints(ctx, d, container, pod); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, k.reportAvailable(ctx, d)
}

// start runs the process; nil, nil means it cannot start yet.
func (k *SimulatedKubelet) start(ctx context.Context, d *appsv1.Deployment, container corev1.Container, provider Provider) (*simulatedPod, error) {
	log := k.Logger.WithValues("Deployment", d.Namespace+"/"+d.Name)
	in := ProviderProcessInput{Config: rest.CopyConfig(k.Config), Args: container.Args, Namespace: d.Namespace, Logger: log}
	if provider.AsServiceAccount {
		sa := d.Spec.Template.Spec.ServiceAccountName
		in.Config.Impersonate = rest.ImpersonationConfig{
			UserName: "system:serviceaccount:" + d.Namespace + ":" + sa,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + d.Namespace, "system:authenticated"},
		}
	}

	var caPEM []byte
	var serverName string
	if containerPort(container, webhookPortName) != 0 {
		secretName := certificateVolumeSecret(d)
		secret := &corev1.Secret{}
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: secretName}, secret); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		certDir := filepath.Join(k.StateDir, d.Namespace, d.Name, "serving-certs")
		if err := os.MkdirAll(certDir, 0o700); err != nil {
			return nil, err
		}
		for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if err := os.WriteFile(filepath.Join(certDir, key), secret.Data[key], 0o600); err != nil {
				return nil, err
			}
		}
		port, err := freePort(k.HostIP)
		if err != nil {
			return nil, err
		}
		in.Webhook = webhook.Options{Host: k.HostIP, Port: port, CertDir: certDir}
		caPEM = secret.Data["ca.crt"]
		serverName, err = k.serviceName(ctx, d)
		if err != nil {
			return nil, err
		}
	}

	pod, err := k.run(ctx, d, provider, in)
	if err != nil {
		return nil, err
	}
	log.Info("Started the provider's process in place of its Pod (simulated kubelet)", "webhookPort", in.Webhook.Port)
	if in.Webhook.Port != 0 {
		if err := testenv.WaitForTLS(ctx, net.JoinHostPort(k.HostIP, strconv.Itoa(in.Webhook.Port)), serverName, caPEM); err != nil {
			return nil, err
		}
	}
	return pod, nil
}

// run builds the process and starts it, unless the kubelet is stopping.
func (k *SimulatedKubelet) run(ctx context.Context, d *appsv1.Deployment, provider Provider, in ProviderProcessInput) (*simulatedPod, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return nil, errors.New("the simulated kubelet is stopping")
	}
	// The process outlives this reconcile: it stops with Stop.
	processCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mgr, err := provider.Process(processCtx, in)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting the process of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	pod := &simulatedPod{cancel: cancel, webhookPort: in.Webhook.Port, deployment: d.UID}
	k.running[client.ObjectKeyFromObject(d)] = pod
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		if err := mgr.Start(processCtx); err != nil {
			in.Logger.Error(err, "Simulated provider process stopped")
		}
	}()
	return pod, nil
}

// serviceName is the DNS name of a Service selecting the Deployment's Pods:
// the name the API server verifies the webhook's certificate for.
func (k *SimulatedKubelet) serviceName(ctx context.Context, d *appsv1.Deployment) (string, error) {
	services, err := k.selectingServices(ctx, d)
	if err != nil || len(services) == 0 {
		return "", errors.Join(err, fmt.Errorf("no Service selects the Pods of Deployment %s/%s", d.Namespace, d.Name))
	}
	return services[0].Name + "." + services[0].Namespace + ".svc", nil
}

func (k *SimulatedKubelet) selectingServices(ctx context.Context, d *appsv1.Deployment) ([]corev1.Service, error) {
	list := &corev1.ServiceList{}
	if err := k.Client.List(ctx, list, client.InNamespace(d.Namespace)); err != nil {
		return nil, err
	}
	var out []corev1.Service
	podLabels := labels.Set(d.Spec.Template.Labels)
	for _, s := range list.Items {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			out = append(out, s)
		}
	}
	return out, nil
}

// writeEndpoints points every Service selecting the Deployment's Pods at
// the process, for the ports that target its webhook port.
func (k *SimulatedKubelet) writeEndpoints(ctx context.Context, d *appsv1.Deployment, container corev1.Container, pod *simulatedPod) error {
	if pod.webhookPort == 0 {
		return nil
	}
	services, err := k.selectingServices(ctx, d)
	if err != nil {
		return err
	}
	webhookContainerPort := containerPort(container, webhookPortName)
	for _, s := range services {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: s.Namespace, Name: s.Name + "-simulated",
				Labels: map[string]string{
					discoveryv1.LabelServiceName: s.Name,
					discoveryv1.LabelManagedBy:   simulatedEndpointsManager,
				},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{
				Addresses:  []string{k.HostIP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			}},
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort.IntVal
			if p.TargetPort.StrVal != "" {
				target = containerPort(container, p.TargetPort.StrVal)
			}
			if target != webhookContainerPort {
				continue
			}
			slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{
				Name: ptr.To(p.Name), Port: ptr.To(int32(pod.webhookPort)), Protocol: ptr.To(corev1.ProtocolTCP),
			})
		}
		if len(slice.Ports) == 0 {
			continue
		}
		if err := k.Client.Create(ctx, slice); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("writing the EndpointSlice of Service %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}

// reportAvailable writes what a Deployment controller reports once its one
// Pod is ready, which is what clusterctl init --wait-providers waits for.
func (k *SimulatedKubelet) reportAvailable(ctx context.Context, d *appsv1.Deployment) error {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	base := d.DeepCopy()
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "SimulatedKubelet", Message: "The provider runs in-process", LastUpdateTime: now, LastTransitionTime: now},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "SimulatedKubelet", LastUpdateTime: now, LastTransitionTime: now},
		},
	}
	return k.Client.Status().Patch(ctx, d, client.MergeFrom(base))
}

// Stop stops every process and waits for them; the manager's stop does.
func (k *SimulatedKubelet) Stop() {
	k.mu.Lock()
	k.stopped = true
	for _, pod := range k.running {
		pod.cancel()
	}
	k.mu.Unlock()
	k.wg.Wait()
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// certificateVolumeSecret is the Secret of the Pod's first secret volume:
// the webhook serving certificate in every Cluster API provider.
func certificateVolumeSecret(d *appsv1.Deployment) string {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// HostIP returns a non-loopback IPv4 address of this machine, which
// EndpointSlices accept and local processes can listen on.
func HostIP() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if ok && ipnet.IP.To4() != nil && ipnet.IP.IsGlobalUnicast() {
				return ipnet.IP.String(), nil
			}
		}
	}
	return "", errors.New("no non-loopback IPv4 address: EndpointSlices refuse loopback addresses, so webhook Services cannot be pointed at in-process servers")
}
