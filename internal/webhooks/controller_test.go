package webhooks_test

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// k0smotronControllerConfigs are K0sControllerConfigs as k0smotron's
// K0sControlPlane writes them (v1beta2, 2.x: its CRD defaults filled in,
// the k0s config merged with the Cluster's network) and as a 1.x
// management cluster stores them (v1beta1).
const k0smotronControllerConfigs = `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sControllerConfig
metadata:
  name: k0s-cp-0
  labels:
    cluster.x-k8s.io/cluster-name: k0s
    cluster.x-k8s.io/control-plane: "true"
    cluster.x-k8s.io/control-plane-name: k0s-cp
spec:
  version: v1.33.4+k0s.0
  k0sInstallDir: /usr/local/bin
  provisioner:
    type: cloud-config
    platform: linux
  args:
  - --enable-worker
  - --no-taints
  files:
  - path: /etc/motd
    content: controller
    permissions: "0644"
  - path: /etc/registry.conf
    contentFrom:
      secretRef:
        name: registry
        key: conf
  preK0sCommands:
  - echo pre
  postK0sCommands:
  - echo post
  secretMetadata:
    labels:
      team: platform
  tunneling:
    enabled: false
    serverNodePort: 31700
    tunnelingNodePort: 31443
    mode: tunnel
  k0s:
    apiVersion: k0s.k0sproject.io/v1beta1
    kind: ClusterConfig
    metadata:
      name: k0s
    spec:
      api:
        externalAddress: 172.18.0.10
        extraArgs:
          anonymous-auth: "true"
      network:
        clusterDomain: cluster.local
        podCIDR: 192.168.0.0/16
        serviceCIDR: 10.128.0.0/12
        provider: calico
      storage:
        etcd:
          extraArgs:
            name: k0s-cp-0
      telemetry:
        enabled: false
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sControllerConfig
metadata:
  name: k0s-cp-1
spec:
  version: v1.27.2+k0s.0
  ignition:
    variant: flatcar
    version: 1.1.0
    additionalConfig: "storage: {}"
  preStartCommands:
  - echo pre
  postStartCommands:
  - echo post
  workingDir: /etc/k0s
  tunneling:
    enabled: true
    serverAddress: 10.0.0.5
    serverNodePort: 31700
    tunnelingNodePort: 31443
    mode: proxy
  k0s:
    apiVersion: k0s.k0sproject.io/v1beta1
    kind: ClusterConfig
    spec:
      api:
        sans: [k0s.example.com]
`

// TestK0smotronControllerConfigsApplyAndReadBack applies k0smotron's
// K0sControllerConfigs unchanged, with strict field validation, and reads
// each back in both versions: the version it was written in returns it as
// written, the other one in that version's names, the k0s config untouched.
func TestK0smotronControllerConfigsApplyAndReadBack(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "k0smotron-controllers")
	docs, err := utilyaml.ToUnstructured([]byte(k0smotronControllerConfigs))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(docs).To(HaveLen(2))

	for i := range docs {
		// Read through JSON, as the API server's answers are: YAML's
		// numbers decode as float64, JSON's as int64.
		data, err := docs[i].MarshalJSON()
		g.Expect(err).NotTo(HaveOccurred())
		applied := &unstructured.Unstructured{}
		g.Expect(applied.UnmarshalJSON(data)).To(Succeed())
		applied.SetNamespace(ns)
		g.Expect(env.Client.Create(t.Context(), applied.DeepCopy(), client.FieldValidation("Strict"))).To(Succeed(), applied.GetName())

		same := readAs(t, applied.GroupVersionKind(), ns, applied.GetName())
		g.Expect(same.Object["spec"]).To(Equal(applied.Object["spec"]), "%s read in %s", applied.GetName(), applied.GetAPIVersion())
		g.Expect(same.GetAnnotations()).NotTo(HaveKey("cluster.x-k8s.io/conversion-data"))

		other := bootstrapv1.GroupVersion.WithKind("K0sControllerConfig")
		if applied.GroupVersionKind().Version == other.Version {
			other = bootstrapv1beta1.GroupVersion.WithKind("K0sControllerConfig")
		}
		converted := readAs(t, other, ns, applied.GetName())
		// What both versions name alike reads back alike.
		for key, value := range applied.Object["spec"].(map[string]any) {
			if key != "tunneling" && key != "provisioner" && key != "ignition" && !strings.HasSuffix(key, "Commands") && key != "secretMetadata" {
				g.Expect(converted.Object["spec"]).To(HaveKeyWithValue(key, value), "%s read in %s", applied.GetName(), other.Version)
			}
		}
		// The same tunnel: a conversion writes "enabled: false" by leaving it out.
		var convertedTunnel, appliedTunnel bootstrapv1.TunnelingSpec
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(converted.Object["spec"].(map[string]any)["tunneling"].(map[string]any), &convertedTunnel)).To(Succeed())
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(applied.Object["spec"].(map[string]any)["tunneling"].(map[string]any), &appliedTunnel)).To(Succeed())
		g.Expect(convertedTunnel).To(Equal(appliedTunnel))
	}

	// The 2.x object in 1.x names: the commands renamed, secretMetadata
	// (which 1.x controllers lack) kept in the conversion annotation.
	old := readAs(t, bootstrapv1beta1.GroupVersion.WithKind("K0sControllerConfig"), ns, "k0s-cp-0")
	g.Expect(old.Object["spec"]).To(HaveKeyWithValue("preStartCommands", []any{"echo pre"}))
	g.Expect(old.Object["spec"]).NotTo(HaveKey("secretMetadata"))
	g.Expect(old.GetAnnotations()).To(HaveKey("cluster.x-k8s.io/conversion-data"))

	// The 1.x object in 2.x names: ignition moves under provisioner.
	current := &bootstrapv1.K0sControllerConfig{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "k0s-cp-1"}, current)).To(Succeed())
	g.Expect(current.Spec.Provisioner.Type).To(Equal(bootstrapv1.ProvisioningFormatIgnition))
	g.Expect(current.Spec.Provisioner.Ignition).To(Equal(&bootstrapv1.IgnitionSpec{Variant: bootstrapv1.IgnitionVariantFlatcar, Version: "1.1.0", AdditionalConfig: "storage: {}"}))
	g.Expect(current.Spec.PreK0sCommands).To(Equal([]string{"echo pre"}))
	g.Expect(current.Spec.WorkingDir).To(Equal("/etc/k0s"))
	g.Expect(current.Spec.Tunneling).To(Equal(bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "10.0.0.5", ServerNodePort: 31700, TunnelingNodePort: 31443, Mode: bootstrapv1.TunnelingModeProxy}))
}

// everyFieldControllerSpec sets every K0sControllerConfig field to a valid
// value.
func everyFieldControllerSpec() bootstrapv1.K0sControllerConfigSpec {
	install := everyFieldSpec(bootstrapv1.ProvisioningFormatCloudConfig).K0sInstallSpec
	install.Args = []string{"--enable-worker", "--debug"}
	return bootstrapv1.K0sControllerConfigSpec{
		K0sInstallSpec: install,
		K0s:            &runtime.RawExtension{Raw: []byte(`{"apiVersion":"k0s.k0sproject.io/v1beta1","kind":"ClusterConfig","spec":{"api":{"port":6443}}}`)},
		Tunneling:      bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "tunnel.example.com", ServerNodePort: 31700, TunnelingNodePort: 31443, Mode: bootstrapv1.TunnelingModeTunnel},
	}
}

// TestEveryControllerFieldSurvivesAV1Beta1RoundTrip writes a v1beta2
// controller config using every field, reads it as v1beta1, writes that
// back, and requires the v1beta2 view to be unchanged.
func TestEveryControllerFieldSurvivesAV1Beta1RoundTrip(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "controller-roundtrip")
	config := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "every-field"}, Spec: everyFieldControllerSpec()}
	g.Expect(env.Client.Create(t.Context(), config)).To(Succeed())

	old := roundTripThroughV1Beta1(t, config, "K0sControllerConfig", "every-field-copy")
	g.Expect(old.Object["spec"]).To(HaveKeyWithValue("workingDir", "/var/lib/cabpk0s"))
	g.Expect(old.GetAnnotations()).To(HaveKey("cluster.x-k8s.io/conversion-data"))

	copied := &bootstrapv1.K0sControllerConfig{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "every-field-copy"}, copied)).To(Succeed())
	g.Expect(copied.Spec).To(Equal(config.Spec))
}

// TestControllerConfigV1Beta1StatusReadsAsReady: status.ready mirrors
// status.initialization.dataSecretCreated for v1beta1 readers.
func TestControllerConfigV1Beta1StatusReadsAsReady(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "controller-status")
	config := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ready"}}
	g.Expect(env.Client.Create(t.Context(), config)).To(Succeed())
	config.Status.Initialization.DataSecretCreated = new(true)
	config.Status.DataSecretName = new("ready")
	g.Expect(env.Client.Status().Update(t.Context(), config)).To(Succeed())

	old := readAs(t, bootstrapv1beta1.GroupVersion.WithKind("K0sControllerConfig"), ns, "ready")
	g.Expect(old.Object["status"]).To(HaveKeyWithValue("ready", true))
	g.Expect(old.Object["status"]).To(HaveKeyWithValue("dataSecretName", "ready"))
}

// TestControllerValidationRejectsBadInput sends the mistakes only a
// controller config can hold through the real API server, one at a time
// (the shared fields' are in TestValidationRejectsBadInput).
func TestControllerValidationRejectsBadInput(t *testing.T) {
	ns := createNamespace(t, "controller-validation")
	k0s := func(raw string) func(*bootstrapv1.K0sControllerConfigSpec) {
		return func(s *bootstrapv1.K0sControllerConfigSpec) { s.K0s = &runtime.RawExtension{Raw: []byte(raw)} }
	}
	cases := []struct {
		name    string
		mutate  func(*bootstrapv1.K0sControllerConfigSpec)
		field   string
		message string
	}{
		{"k0s config of another kind", k0s(`{"apiVersion":"k0s.k0sproject.io/v1beta1","kind":"Cluster"}`), "spec.k0s.kind", "must be ClusterConfig"},
		{"k0s config of another version", k0s(`{"apiVersion":"k0s.k0sproject.io/v1beta2","kind":"ClusterConfig"}`), "spec.k0s.apiVersion", "must be k0s.k0sproject.io/v1beta1"},
		{"a Kubernetes object for a k0s config", k0s(`{"apiVersion":"v1","kind":"ConfigMap"}`), "spec.k0s.apiVersion", "must be k0s.k0sproject.io/v1beta1"},
		{"tunnel server port out of range", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Tunneling.ServerNodePort = 70000 }, "spec.tunneling.serverNodePort", "should be less than or equal to 65535"},
		{"negative tunnel port", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Tunneling.TunnelingNodePort = -1 }, "spec.tunneling.tunnelingNodePort", "should be greater than or equal to 1"},
		{"one port for both tunnel ends", func(s *bootstrapv1.K0sControllerConfigSpec) {
			s.Tunneling.ServerNodePort, s.Tunneling.TunnelingNodePort = 31800, 31800
		}, "spec.tunneling.tunnelingNodePort", "must differ from serverNodePort"},
		{"the tunnel on the server's default port", func(s *bootstrapv1.K0sControllerConfigSpec) {
			s.Tunneling.TunnelingNodePort = 31700
		}, "spec.tunneling.tunnelingNodePort", "must differ from serverNodePort (31700, empty means 31700"},
		{"unknown tunneling mode", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Tunneling.Mode = "ssh" }, "spec.tunneling.mode", `Unsupported value: "ssh"`},
		{"tunnel server that is no address", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Tunneling.ServerAddress = "not an address" }, "spec.tunneling.serverAddress", "must be an IP address or a DNS name"},
		{"a config flag of our own", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Args = []string{"--config=/etc/mine.yaml"} }, "spec.args[0]", "--config is set by cabpk0s"},
		{"a token file of our own", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Args = []string{"--debug", "--token-file", "/tmp/t"} }, "spec.args[1]", "--token-file is set by cabpk0s"},
		{"a config in the short form", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Args = []string{"-c/etc/mine.yaml"} }, "spec.args[0]", "-c is set by cabpk0s"},
		{"another data directory", func(s *bootstrapv1.K0sControllerConfigSpec) { s.Args = []string{"--data-dir=/data/k0s"} }, "spec.args[0]", "--data-dir is set by cabpk0s"},
		{"file over the k0s config", func(s *bootstrapv1.K0sControllerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/k0s.yaml", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes the k0s configuration"},
		{"file over the k0s config in the working dir", func(s *bootstrapv1.K0sControllerConfigSpec) {
			s.WorkingDir = "/etc/k0s"
			s.Files = []bootstrapv1.File{{Path: "/etc/k0s/k0s.yaml", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes the k0s configuration"},
		{"file over the cluster CA key", func(s *bootstrapv1.K0sControllerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/var/lib/k0s/pki/ca.key", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes a cluster certificate or key"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			config := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("bad-%d", i)}}
			tc.mutate(&config.Spec)
			err := env.Client.Create(t.Context(), config)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.field+": "), "the error must name the field")
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}

	// A k0s config that is no object at all is the schema's to refuse.
	notAnObject := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": bootstrapv1.GroupVersion.String(), "kind": "K0sControllerConfig",
		"metadata": map[string]any{"namespace": ns, "name": "k0s-list"},
		"spec":     map[string]any{"k0s": []any{"a"}},
	}}
	err := env.Client.Create(t.Context(), notAnObject)
	NewWithT(t).Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got %v", err)
	NewWithT(t).Expect(err.Error()).To(ContainSubstring("spec.k0s: Invalid value"))
}

// TestControllerValidationAcceptsGoodInput is the control: every field set,
// and a bare config, are admitted.
func TestControllerValidationAcceptsGoodInput(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "controller-good")
	k0smotronArgs := bootstrapv1.K0sControllerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Args: []string{
		"--enable-worker", "--no-taints", "--disable-components=konnectivity-server,metrics-server",
		"--kube-controller-manager-extra-args=--v=2", "--single", "--debug",
	}}}
	// k0s itself defaults the kind, and K0sControlPlane adds apiVersion and
	// kind only when it merges in the Cluster's network.
	bareK0s := bootstrapv1.K0sControllerConfigSpec{K0s: &runtime.RawExtension{Raw: []byte(`{"spec":{"api":{"sans":["k0s.example.com"]}}}`)}}
	upperCaseTunnel := bootstrapv1.K0sControllerConfigSpec{Tunneling: bootstrapv1.TunnelingSpec{Enabled: true, ServerAddress: "Tunnel.Example.com", ServerNodePort: 31443, TunnelingNodePort: 31700}}
	for i, spec := range []bootstrapv1.K0sControllerConfigSpec{{}, everyFieldControllerSpec(), k0smotronArgs, bareK0s, upperCaseTunnel} {
		config := &bootstrapv1.K0sControllerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("good-%d", i)}, Spec: spec}
		g.Expect(env.Client.Create(t.Context(), config)).To(Succeed(), "spec %d", i)
	}
}
