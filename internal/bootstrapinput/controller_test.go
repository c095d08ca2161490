package bootstrapinput

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

func TestBuildControllerGivesWorkerFlagsOnlyToAControllerThatRunsAWorker(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		systemName bool
		wantWorker bool
	}{
		{args: nil},
		{args: []string{"--debug"}},
		{args: []string{"--enable-worker"}, wantWorker: true},
		{args: []string{"--enable-worker=true", "--no-taints"}, wantWorker: true},
		{args: []string{"--single"}, wantWorker: true},
		{args: []string{"--enable-worker"}, systemName: true, wantWorker: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			g := NewWithT(t)
			spec := &bootstrapv1.K0sControllerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Args: tc.args, UseSystemHostname: tc.systemName}}
			machine := Machine{Name: "cp-0", NodeName: NodeName(&spec.K0sInstallSpec, "cp-0"), OwnerVersion: "v1.33.4"}
			in, err := BuildController(context.Background(), spec, machine, ControllerFacts{}, oneSource(""))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(in.Controller.AutopilotHostname).To(Equal("cp-0"), "k0s names the controller after the Machine, whatever the hostname")
			g.Expect(in.Args).To(Equal(tc.args))
			if !tc.wantWorker {
				g.Expect(in.NodeName).To(BeEmpty())
				g.Expect(in.Labels).To(BeEmpty())
				g.Expect(in.Taints).To(BeEmpty())
				return
			}
			g.Expect(in.Labels).To(Equal(map[string]string{MachineNameLabel: "cp-0"}))
			g.Expect(in.Taints).To(ConsistOf(HaveField("Key", "node.cluster.x-k8s.io/uninitialized")))
			if tc.systemName {
				g.Expect(in.NodeName).To(BeEmpty())
			} else {
				g.Expect(in.NodeName).To(Equal("cp-0"))
			}
		})
	}
}

func TestBuildControllerWritesTheK0sConfigAsYAML(t *testing.T) {
	g := NewWithT(t)
	spec := &bootstrapv1.K0sControllerConfigSpec{K0s: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"k0s.k0sproject.io/v1beta1","kind":"ClusterConfig","spec":{"api":{"sans":["a"]}}}`)}}
	in, err := BuildController(context.Background(), spec, Machine{Name: "cp-0"}, ControllerFacts{}, oneSource(""))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(in.Controller.K0sConfig).To(Equal("apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  api:\n    sans:\n    - a\n"))

	in, err = BuildController(context.Background(), &bootstrapv1.K0sControllerConfigSpec{}, Machine{Name: "cp-0"}, ControllerFacts{}, oneSource(""))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(in.Controller.K0sConfig).To(BeEmpty(), "no k0s config: k0s's defaults, no file")
}

// parseTunnel reads the manifest back as the workload cluster would.
func parseTunnel(t *testing.T, manifest string) (*corev1.Secret, *appsv1.Deployment) {
	t.Helper()
	g := NewWithT(t)
	docs := strings.Split(manifest, "---\n")
	g.Expect(docs).To(HaveLen(2))
	s, d := &corev1.Secret{}, &appsv1.Deployment{}
	g.Expect(yaml.UnmarshalStrict([]byte(docs[0]), s)).To(Succeed())
	g.Expect(yaml.UnmarshalStrict([]byte(docs[1]), d)).To(Succeed())
	return s, d
}

func TestTunnelManifest(t *testing.T) {
	tunnel := Tunnel{Token: "frp-secret", EndpointHost: "cp.example.com", ServiceCIDR: "10.128.0.0/12", Image: "registry.example.com/frpc:0.61.0"}
	for _, tc := range []struct {
		mode     bootstrapv1.TunnelingMode
		wantTail string
	}{
		{mode: "", wantTail: "type = tcp\nremote_port = 6443\n"},
		{mode: bootstrapv1.TunnelingModeTunnel, wantTail: "type = tcp\nremote_port = 6443\n"},
		{mode: bootstrapv1.TunnelingModeProxy, wantTail: "type = tcpmux\ncustom_domains = cp.example.com\nmultiplexer = httpconnect\n"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			g := NewWithT(t)
			f, err := TunnelManifest(&bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "203.0.113.7", ServerNodePort: 32000, Mode: tc.mode}, tunnel)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(f.Path).To(Equal(render.TunnelManifestPath))
			g.Expect(f.Permissions).To(Equal("0600"), "it holds the frp token")
			config, deployment := parseTunnel(t, f.Content)
			g.Expect(config.Namespace).To(Equal("kube-system"))
			g.Expect(config.StringData["frpc.ini"]).To(Equal("[common]\nauthentication_method = token\nserver_addr = 203.0.113.7\nserver_port = 32000\ntoken = frp-secret\n\n" +
				"[kube-apiserver]\nlocal_ip = 10.128.0.1\nlocal_port = 443\n" + tc.wantTail))
			c := deployment.Spec.Template.Spec.Containers[0]
			g.Expect(c.Image).To(Equal("registry.example.com/frpc:0.61.0"))
			g.Expect(c.VolumeMounts[0].MountPath).To(Equal("/etc/frp/frpc.ini"))
			g.Expect(deployment.Spec.Template.Spec.Volumes[0].Secret.SecretName).To(Equal(config.Name))
			g.Expect(deployment.Spec.Selector.MatchLabels).To(Equal(deployment.Spec.Template.Labels))
		})
	}
}

func TestTunnelManifestDefaultsAndRefusals(t *testing.T) {
	g := NewWithT(t)
	f, err := TunnelManifest(&bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "mgmt.example.com"}, Tunnel{Token: "t", Image: DefaultFrpcImage})
	g.Expect(err).NotTo(HaveOccurred())
	config, _ := parseTunnel(t, f.Content)
	g.Expect(config.StringData["frpc.ini"]).To(ContainSubstring("server_port = 31700\n"))
	g.Expect(config.StringData["frpc.ini"]).To(ContainSubstring("local_ip = 10.96.0.1\n"), "k0s's default service network")

	_, err = TunnelManifest(&bootstrapv1.TunnelingSpec{Enabled: true}, Tunnel{Token: "t"})
	g.Expect(err).To(MatchError(ContainSubstring("serverAddress is empty")))
	_, err = TunnelManifest(&bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "a"}, Tunnel{Token: "t", ServiceCIDR: "nonsense"})
	g.Expect(err).To(MatchError(ContainSubstring(`service CIDR "nonsense"`)))
	_, err = TunnelManifest(&bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "a"}, Tunnel{})
	g.Expect(err).To(MatchError("the frp token is empty"))
}

func TestK0sConfigSettings(t *testing.T) {
	g := NewWithT(t)
	g.Expect(K0sConfigSettings(&bootstrapv1.K0sControllerConfigSpec{})).To(BeZero())
	g.Expect(K0sConfigSettings(&bootstrapv1.K0sControllerConfigSpec{K0s: &runtime.RawExtension{Raw: []byte(`{"spec":{"network":{"serviceCIDR":"10.1.0.0/16"},"api":{"k0sApiPort":9444}}}`)}})).
		To(Equal(K0sSettings{K0sAPIPort: 9444, ServiceCIDR: "10.1.0.0/16"}))
	g.Expect(K0sConfigSettings(&bootstrapv1.K0sControllerConfigSpec{K0s: &runtime.RawExtension{Raw: []byte(`{"spec":{"api":{"k0sApiPort":"x"}}}`)}})).To(BeZero())
}

func TestOnlyControllersOfOldK0sGetTheLeaveHelper(t *testing.T) {
	for version, want := range map[string]bool{
		"v1.30.4+k0s.0": true, "v1.31.5": true, "v1.31.6+k0s.0": false, "v1.33.4": false,
		"": false, // the latest release
	} {
		g := NewWithT(t)
		in, err := BuildController(context.Background(), &bootstrapv1.K0sControllerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: version}},
			Machine{Name: "cp-0"}, ControllerFacts{}, oneSource(""))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(in.Controller.LeaveHelper).To(Equal(want), version)
	}
}
