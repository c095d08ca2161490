package webhooks_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

func secretRef(name string) *bootstrapv1.ContentSource {
	return &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: name, Key: "k"}}
}

// TestValidationRejectsBadInput sends one mistake at a time through the real
// API server and requires a 422 that names the field and says what is wrong.
func TestValidationRejectsBadInput(t *testing.T) {
	ns := createNamespace(t, "validation")

	cases := []struct {
		name    string
		mutate  func(*bootstrapv1.K0sWorkerConfigSpec)
		field   string
		message string
	}{
		{"relative file path", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "etc/motd", Content: "x"}}
		}, "spec.files[0].path", "must be an absolute path"},
		{"duplicate file path", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/motd", Content: "x"}, {Path: "/etc/motd", Content: "y"}}
		}, "spec.files[1].path", "Duplicate value"},
		{"unclean file path", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc//motd", Content: "x"}}
		}, "spec.files[0].path", `must be a clean path: use "/etc/motd"`},
		{"file over the join token", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/k0s.token", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes the join token"},
		{"file over the join token in the working dir", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.WorkingDir = "/var/lib/k0s-boot"
			s.Files = []bootstrapv1.File{{Path: "/var/lib/k0s-boot/k0s.token", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes the join token"},
		{"file over the bootstrap script", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/cabpk0s/bootstrap.sh", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes the bootstrap script"},
		{"file faking bootstrap success", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/run/cluster-api/bootstrap-success.complete", Content: "x"}}
		}, "spec.files[0].path", "is where cabpk0s writes the Cluster API bootstrap sentinel"},
		{"Jinja in the working dir", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.WorkingDir = "/etc/{{ v1.instance_id }}"
		}, "spec.workingDir", "must not contain Jinja delimiters"},
		{"unclean install dir", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.K0sInstallDir = "/usr/local/../bin/"
		}, "spec.k0sInstallDir", `must be a clean path: use "/usr/bin"`},
		{"oci reference without tag or digest", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "oci://registry.example.com:5000/k0s"
		}, "spec.downloadURL", "pins neither a digest"},
		{"oci reference with a bad digest", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "oci://registry.example.com/k0s@abc"
		}, "spec.downloadURL", "digest must be algorithm:hex"},
		{"inline content Jinja cannot parse", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/prometheus/rules.yaml", Content: "summary: {{ $labels.instance }} is down"}}
		}, "spec.files[0].content", "is a Jinja template on the machine (cloud-init renders cloud-config with Jinja) and does not parse: line 1: unexpected char '$'"},
		{"inline template with control characters", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/form", Content: "{{ v1.instance_id }}\fpage two"}}
		}, "spec.files[0].content", "holds control characters cloud-config can only write escaped"},
		{"a command Jinja cannot parse", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.PreK0sCommands = []string{"echo ok", "{% if x %}echo never closed"}
		}, "spec.preK0sCommands", "line 2: {% if %} is never closed with {% endif %}"},
		{"download URL with a space", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "https://example.com/k0s binary"
		}, "spec.downloadURL", "must not contain whitespace"},
		{"content and contentFrom", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/motd", Content: "x", ContentFrom: secretRef("s")}}
		}, "spec.files[0]", "content and contentFrom are mutually exclusive"},
		{"neither content nor contentFrom", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/motd"}}
		}, "spec.files[0].content", "set exactly one of content and contentFrom"},
		{"two refs in contentFrom", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			src := secretRef("s")
			src.ConfigMapRef = &bootstrapv1.ContentSourceRef{Name: "c", Key: "k"}
			s.Files = []bootstrapv1.File{{Path: "/etc/motd", ContentFrom: src}}
		}, "spec.files[0].contentFrom", "secretRef and configMapRef are mutually exclusive"},
		{"no ref in contentFrom", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/motd", ContentFrom: &bootstrapv1.ContentSource{}}}
		}, "spec.files[0].contentFrom", "set exactly one of secretRef and configMapRef"},
		{"symbolic permissions", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/motd", Content: "x", Permissions: "rw-r"}}
		}, "spec.files[0].permissions", "must be an octal file mode"},
		{"non-octal permissions", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Files = []bootstrapv1.File{{Path: "/etc/motd", Content: "x", Permissions: "0988"}}
		}, "spec.files[0].permissions", "must be an octal file mode"},
		{"setuid with Ignition", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Type = bootstrapv1.ProvisioningFormatIgnition
			s.Provisioner.Ignition = &bootstrapv1.IgnitionSpec{Variant: bootstrapv1.IgnitionVariantFCOS, Version: "1.5.0"}
			s.Files = []bootstrapv1.File{{Path: "/opt/bin/tool", Content: "x", Permissions: "4755"}}
		}, "spec.files[0].permissions", "setuid, setgid and sticky bits cannot be set with Ignition"},
		{"ftp download URL", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "ftp://example.com/k0s"
		}, "spec.downloadURL", "scheme must be https, http or oci"},
		{"download URL without host", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "https:///k0s"
		}, "spec.downloadURL", "must include a host"},
		{"checksum without custom URL", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadSHA256 = strings.Repeat("a", 64)
		}, "spec.downloadSHA256", "only allowed with a custom http(s) downloadURL"},
		{"checksum with oci URL", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "oci://registry.example.com/k0s:v1.33.4"
			s.DownloadSHA256 = strings.Repeat("a", 64)
		}, "spec.downloadSHA256", "pin the artifact by digest"},
		{"short checksum", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.DownloadURL = "https://example.com/k0s"
			s.DownloadSHA256 = "abc123"
		}, "spec.downloadSHA256", "must be 64 hexadecimal characters"},
		{"garbage version", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Version = "latest"
		}, "spec.version", "is not a version"},
		{"foreign build suffix", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Version = "v1.33.4+rke2r1"
		}, "spec.version", "the only suffix k0s versions carry is +k0s.N"},
		{"ignition settings with cloud-config", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Ignition = &bootstrapv1.IgnitionSpec{Variant: bootstrapv1.IgnitionVariantFCOS, Version: "1.5.0"}
		}, "spec.provisioner.ignition", "only allowed when provisioner.type is ignition"},
		{"ignition type without settings", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Type = bootstrapv1.ProvisioningFormatIgnition
		}, "spec.provisioner.ignition", "is required when provisioner.type is ignition"},
		{"custom cloud-config with ignition", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Type = bootstrapv1.ProvisioningFormatIgnition
			s.Provisioner.Ignition = &bootstrapv1.IgnitionSpec{Variant: bootstrapv1.IgnitionVariantFCOS, Version: "1.5.0"}
			s.Provisioner.CustomUserDataRef = secretRef("u")
		}, "spec.provisioner.customUserDataRef", "cannot be merged into Ignition"},
		{"unsupported format", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Type = "powershell"
		}, "spec.provisioner.type", `Unsupported value: "powershell"`},
		{"unsupported platform", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Platform = "windows"
		}, "spec.provisioner.platform", `Unsupported value: "windows"`},
		{"unsupported ignition variant", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Provisioner.Type = bootstrapv1.ProvisioningFormatIgnition
			s.Provisioner.Ignition = &bootstrapv1.IgnitionSpec{Variant: "openshift", Version: "4.14.0"}
		}, "spec.provisioner.ignition.variant", `Unsupported value: "openshift"`},
		{"unknown taint effect", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Taints = []corev1.Taint{{Key: "dedicated", Effect: "Sometimes"}}
		}, "spec.taints[0].effect", `Unsupported value: "Sometimes"`},
		{"bad taint key", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Taints = []corev1.Taint{{Key: "not a key", Effect: corev1.TaintEffectNoSchedule}}
		}, "spec.taints[0].key", "name part must consist of alphanumeric characters"},
		{"bad node label", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Labels = map[string]string{"pool": "blue green"}
		}, "spec.labels", "a valid label must be an empty string or consist of alphanumeric characters"},
		{"a node-role label, which a kubelet may not set", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Labels = map[string]string{"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "a"}
		}, "spec.labels[node-role.kubernetes.io/worker]", "a kubelet refuses to register with labels in the kubernetes.io and k8s.io namespaces"},
		{"a node-restriction label", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Labels = map[string]string{"node-restriction.kubernetes.io/tier": "gold"}
		}, "spec.labels[node-restriction.kubernetes.io/tier]", "Cluster API puts them on the Node"},
		{"a node-role label in the k0s arguments", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Args = []string{"--debug", "--labels=example.com/pool=a,node-role.kubernetes.io/worker=true"}
		}, "spec.args[1][node-role.kubernetes.io/worker]", "a kubelet refuses to register with labels"},
		{"kubelet flag with dashes", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.KubeletExtraArgs = map[string]string{"--max-pods": "110"}
		}, "spec.kubeletExtraArgs[--max-pods]", `flag name must not start with '-': use "max-pods"`},
		{"kubelet flag value with a space", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.KubeletExtraArgs = map[string]string{"node-ip": "10.0.0.1 --evil"}
		}, "spec.kubeletExtraArgs[node-ip]", "must not contain whitespace"},
		{"k0s argument with a NUL", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Args = []string{"--debug\x00--evil"}
		}, "spec.args[0]", "must not contain a NUL character"},
		{"relative working dir", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.WorkingDir = "var/lib/k0s"
		}, "spec.workingDir", "must be an absolute path"},
		{"relative install dir", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.K0sInstallDir = "bin"
		}, "spec.k0sInstallDir", "must be an absolute path"},
		{"bad secret label", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.SecretMetadata = &bootstrapv1.SecretMetadata{Labels: map[string]string{"-bad": "x"}}
		}, "spec.secretMetadata.labels", "name part must consist of alphanumeric characters"},
		{"profile with whitespace", func(s *bootstrapv1.K0sWorkerConfigSpec) {
			s.Profile = "gpu large"
		}, "spec.profile", "must not contain whitespace"},
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("bad-%d", i)}}
			tc.mutate(&config.Spec)
			err := env.Client.Create(t.Context(), config)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.field+": "), "the error must name the field")
			g.Expect(err.Error()).To(ContainSubstring(tc.message))

			// The same mistake in a template is reported at its template path.
			template := &bootstrapv1.K0sWorkerConfigTemplate{ObjectMeta: config.ObjectMeta}
			template.Spec.Template.Spec = config.Spec
			err = env.Client.Create(t.Context(), template)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(strings.Replace(tc.field, "spec.", "spec.template.spec.", 1) + ": "))
			g.Expect(err.Error()).To(ContainSubstring(tc.message))

			// A mistake in the fields every kind shares is one in a
			// K0sControllerConfig too.
			if !workerOnlyFieldsSet(&config.Spec) {
				controller := &bootstrapv1.K0sControllerConfig{ObjectMeta: config.ObjectMeta}
				controller.Spec.K0sInstallSpec = config.Spec.K0sInstallSpec
				err = env.Client.Create(t.Context(), controller)
				g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid for the controller config, got %v", err)
				g.Expect(err.Error()).To(ContainSubstring(tc.field + ": "))
				g.Expect(err.Error()).To(ContainSubstring(tc.message))
			}
		})
	}
}

// workerOnlyFieldsSet tells a spec that uses a field only workers have.
func workerOnlyFieldsSet(spec *bootstrapv1.K0sWorkerConfigSpec) bool {
	return spec.Labels != nil || spec.Taints != nil || spec.KubeletExtraArgs != nil || spec.Profile != ""
}

// TestValidationAcceptsGoodInput is the control for the rejection table:
// valid objects, including every optional field, are admitted.
func TestValidationAcceptsGoodInput(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "valid")
	for i, spec := range []bootstrapv1.K0sWorkerConfigSpec{
		{},
		{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4+k0s.0"}},
		{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.33.4-k0s.0", DownloadURL: "oci://registry.example.com/k0s@sha256:" + strings.Repeat("0", 64)}},
		everyFieldSpec(bootstrapv1.ProvisioningFormatCloudConfig),
		everyFieldSpec(bootstrapv1.ProvisioningFormatIgnition),
		// Jinja-looking text that is not a template on the machine: inline
		// under Ignition (no Jinja pass), or guarded by {% raw %}.
		{
			K0sInstallSpec: bootstrapv1.K0sInstallSpec{
				Provisioner: bootstrapv1.ProvisionerSpec{Type: bootstrapv1.ProvisioningFormatIgnition, Ignition: &bootstrapv1.IgnitionSpec{Variant: bootstrapv1.IgnitionVariantFCOS, Version: "1.5.0"}},
				Files:       []bootstrapv1.File{{Path: "/etc/rules.yaml", Content: "{{ $labels.instance }}"}},
			},
		},
		{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Files: []bootstrapv1.File{{Path: "/etc/rules.yaml", Content: "{% raw %}{{ $labels.instance }}{% endraw %}"}}}},
		// One template across the commands of a list, as on the machine.
		{K0sInstallSpec: bootstrapv1.K0sInstallSpec{PreK0sCommands: []string{"{% if v1.cloud_name == 'aws' %}", "echo on aws", "{% endif %}"}}},
	} {
		config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("good-%d", i)}, Spec: spec}
		g.Expect(env.Client.Create(t.Context(), config)).To(Succeed(), "spec %d", i)
	}
}

// TestValidationOfV1Beta1AndTemplates covers the paths that reach the
// webhook indirectly: a deprecated v1beta1 object (converted before it is
// validated) and a template's metadata.
func TestValidationOfV1Beta1AndTemplates(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "v1beta1")

	old := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1",
		"kind":       "K0sWorkerConfig",
		"metadata":   map[string]any{"name": "old", "namespace": ns},
		"spec": map[string]any{
			"preStartCommands": []any{"true"},
			"files":            []any{map[string]any{"path": "relative", "content": "x"}},
		},
	}}
	err := env.Client.Create(t.Context(), old)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("spec.files[0].path: Invalid value: \"relative\": must be an absolute path"))

	template := &bootstrapv1.K0sWorkerConfigTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-metadata"}}
	template.Spec.Template.ObjectMeta = clusterv1.ObjectMeta{Labels: map[string]string{"bad key": "x"}}
	err = env.Client.Create(t.Context(), template)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("spec.template.metadata.labels: "))
}

type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

// TestValidationWarnsAboutIgnoredSettings: accepted but ineffective
// settings come back as admission warnings, which kubectl prints.
func TestValidationWarnsAboutIgnoredSettings(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "warnings")
	recorder := &warningRecorder{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = recorder
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "preinstalled"}}
	config.Spec.PreInstalledK0s = true
	config.Spec.DownloadURL = "https://example.com/k0s"
	g.Expect(c.Create(t.Context(), config)).To(Succeed())
	g.Expect(recorder.warnings).To(ContainElement("spec.downloadURL is ignored because spec.preInstalledK0s is true: k0s is not downloaded"))

	recorder.warnings = nil
	config = &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "preinstalled-sha"}}
	config.Spec.PreInstalledK0s = true
	config.Spec.DownloadURL = "https://example.com/k0s"
	config.Spec.DownloadSHA256 = strings.Repeat("a", 64)
	g.Expect(c.Create(t.Context(), config)).To(Succeed())
	g.Expect(recorder.warnings).To(ContainElement("spec.downloadSHA256 is ignored because spec.preInstalledK0s is true: k0s is not downloaded"))
}

// TestValidationNeverEchoesURLCredentials: a downloadURL may carry a
// password, or a token as its user name; the admission error names the
// field without either.
func TestValidationNeverEchoesURLCredentials(t *testing.T) {
	g := NewWithT(t)
	ns := createNamespace(t, "credentials")
	config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "credentials"}}
	for _, url := range []string{
		"ftp://fetcher:hunter2secret@example.com/k0s",
		"oci://fetcher:hunter2secret@registry.example.com:5000/k0s",
		"ftp://hunter2secret@example.com/k0s",
	} {
		config.Spec.DownloadURL = url
		err := env.Client.Create(t.Context(), config)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		g.Expect(err.Error()).To(ContainSubstring("spec.downloadURL: "))
		g.Expect(err.Error()).NotTo(ContainSubstring("hunter2secret"))
	}

	// An oci:// reference with credentials is a valid one.
	config.Spec.DownloadURL = "oci://fetcher:hunter2secret@registry.example.com/k0s:v1.33.4-k0s.0"
	g.Expect(env.Client.Create(t.Context(), config)).To(Succeed())
}
