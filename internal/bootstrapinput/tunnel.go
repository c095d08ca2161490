package bootstrapinput

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// DefaultFrpcImage is the frp client k0smotron runs for a tunnel; the
// manager's --frpc-image replaces it (a mirror, a newer frp).
const DefaultFrpcImage = "snowdreamtech/frpc:0.51.3"

// Tunnel is what the frp client of a tunnelling controller needs besides
// its spec.
type Tunnel struct {
	// Token authenticates the client to the management cluster's frp
	// server: the value of the <cluster>-frp-token Secret K0sControlPlane
	// creates.
	Token string
	// EndpointHost is the Cluster's endpoint host, the domain the proxy
	// mode serves.
	EndpointHost string
	// ServiceCIDR is the workload cluster's service network; the
	// kubernetes Service is its first address.
	ServiceCIDR string
	// Image is the frp client's container image.
	Image string
}

// defaultServiceCIDR is k0s's, when neither the k0s config nor the
// Cluster names one.
const defaultServiceCIDR = "10.96.0.0/12"

// TunnelManifest is the frp client k0smotron's tunnelling deploys into a
// workload cluster: its configuration, which connects to the management
// cluster's frp server and forwards the workload API server (tunnel mode)
// or serves it behind an HTTP CONNECT multiplexer (proxy mode), and a
// Deployment running it. Unlike k0smotron's, the configuration holding the
// frp token is a Secret, not a ConfigMap.
func TunnelManifest(spec *bootstrapv1.TunnelingSpec, t Tunnel) (render.File, error) {
	if spec.ServerAddress == "" {
		return render.File{}, errors.New("spec.tunneling.serverAddress is empty: K0sControlPlane fills it in from its own spec.k0sConfigSpec.tunneling; set it there")
	}
	if t.Token == "" {
		return render.File{}, errors.New("the frp token is empty")
	}
	cidr := t.ServiceCIDR
	if cidr == "" {
		cidr = defaultServiceCIDR
	}
	apiServer, err := firstAddress(cidr)
	if err != nil {
		return render.File{}, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	serverPort := spec.ServerNodePort
	if serverPort == 0 {
		serverPort = 31700
	}
	proxy := []string{"type = tcp", "remote_port = 6443"}
	if spec.Mode == bootstrapv1.TunnelingModeProxy {
		proxy = []string{"type = tcpmux", "custom_domains = " + t.EndpointHost, "multiplexer = httpconnect"}
	}
	ini := strings.Join(append([]string{
		"[common]",
		"authentication_method = token",
		"server_addr = " + spec.ServerAddress,
		"server_port = " + strconv.Itoa(int(serverPort)),
		"token = " + t.Token,
		"",
		"[kube-apiserver]",
		"local_ip = " + apiServer,
		"local_port = 443",
	}, proxy...), "\n") + "\n"

	const name, namespace = "frpc", metav1.NamespaceSystem
	config := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name + "-config", Namespace: namespace},
		StringData: map[string]string{"frpc.ini": ini},
	}
	labels := map[string]string{"app": name}
	deployment := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: name, Image: t.Image, ImagePullPolicy: corev1.PullIfNotPresent,
						Args:         []string{"-c", "/etc/frp/frpc.ini"},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/frp/frpc.ini", SubPath: "frpc.ini", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: config.Name}}}},
				},
			},
		},
	}
	var docs []string
	for _, obj := range []any{config, deployment} {
		out, err := yaml.Marshal(obj)
		if err != nil {
			return render.File{}, err
		}
		docs = append(docs, string(out))
	}
	// It holds the frp token: readable by root alone.
	return render.File{Path: render.TunnelManifestPath, Content: strings.Join(docs, "---\n"), Permissions: "0600"}, nil
}

// firstAddress is a network's first host address (the kubernetes Service's
// in a service CIDR).
func firstAddress(cidr string) (string, error) {
	_, network, err := net.ParseCIDR(cidr)
	if err != nil {
		return "", err
	}
	ip := network.IP.To4()
	if ip == nil {
		ip = network.IP.To16()
	}
	next := make(net.IP, len(ip))
	copy(next, ip)
	for i := len(next) - 1; i >= 0; i-- {
		next[i]++
		if next[i] != 0 {
			break
		}
	}
	return next.String(), nil
}
