package controllers_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/rendercmd"
)

// TestOfflineRenderIsWhatTheControllerWrites: given the same config, the
// Machine's name, the cluster's endpoint and CA and the same token,
// `cabpk0s render` prints the controller's data Secret byte for byte.
func TestOfflineRenderIsWhatTheControllerWrites(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "offline")
	cluster := createCluster(t, ns, "offline", fixtures.ClusterOptions{})
	config := newConfig(ns, "worker", bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Version:        "v1.33.4+k0s.0",
			PreK0sCommands: []string{"echo before"},
			Files:          []bootstrapv1.File{{Path: "/etc/motd", Content: "hello {{ v1.instance_id }}", Permissions: "0640"}},
		},
		Labels:           map[string]string{"pool": "offline"},
		KubeletExtraArgs: map[string]string{"max-pods": "64"},
	})
	g.Expect(env.Client.Create(ctx, config)).To(Succeed())
	createMachine(t, ns, cluster.Name, "worker-0", "worker")
	data := waitForDataSecret(t, ns, "worker")

	dir := t.TempDir()
	tokens := tokenSecrets(t, ns, "worker")
	g.Expect(tokens).To(HaveLen(1))
	bearer := string(tokens[0].Data[bootstrapapi.BootstrapTokenIDKey]) + "." + string(tokens[0].Data[bootstrapapi.BootstrapTokenSecretKey])
	g.Expect(os.WriteFile(filepath.Join(dir, "token"), []byte(bearer), 0o600)).To(Succeed())
	ca := &corev1.Secret{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: secret.Name(cluster.Name, secret.ClusterCA)}, ca)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "ca.crt"), ca.Data[secret.TLSCrtDataName], 0o600)).To(Succeed())
	written := getConfig(t, ns, "worker")
	written.APIVersion, written.Kind = bootstrapv1.GroupVersion.String(), "K0sWorkerConfig"
	manifest, err := yaml.Marshal(written)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), manifest, 0o600)).To(Succeed())

	ep := cluster.Spec.ControlPlaneEndpoint
	var stdout, stderr bytes.Buffer
	code := rendercmd.Run(ctx, []string{
		"-f", filepath.Join(dir, "config.yaml"), "--machine-name", "worker-0",
		"--server", "https://" + net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))),
		"--ca-file", filepath.Join(dir, "ca.crt"), "--join-token-file", filepath.Join(dir, "token"),
	}, strings.NewReader(""), &stdout, &stderr)
	g.Expect(code).To(Equal(0), stderr.String())
	g.Expect(stdout.Bytes()).To(Equal(data.Data["value"]), "the offline render differs from the data Secret")
	g.Expect(stderr.String()).NotTo(ContainSubstring(bearer))
}

// TestOfflineRenderReadsSourcesFromACluster: with --kubeconfig, contentFrom
// sources come from the cluster, in the config's namespace.
func TestOfflineRenderReadsSourcesFromACluster(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := newNamespace(t, "offline-sources")
	createMotd(t, ns, "files", "read from the cluster")
	config := newConfig(ns, "worker", motdFrom("files"))
	config.APIVersion, config.Kind = bootstrapv1.GroupVersion.String(), "K0sWorkerConfig"
	dir := t.TempDir()
	manifest, err := yaml.Marshal(config)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), manifest, 0o600)).To(Succeed())
	kubeconfig, err := env.AddAdmin("cabpk0s-render")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600)).To(Succeed())

	var stdout, stderr bytes.Buffer
	code := rendercmd.Run(ctx, []string{"-f", filepath.Join(dir, "config.yaml"), "--kubeconfig", filepath.Join(dir, "kubeconfig"), "--files"},
		strings.NewReader(""), &stdout, &stderr)
	g.Expect(code).To(Equal(0), stderr.String())
	g.Expect(stdout.String()).To(MatchRegexp(`0644   root:root +21  /etc/motd`))

	// A source the cluster does not have is bad input, named.
	config.Spec = motdFrom("absent")
	manifest, err = yaml.Marshal(config)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), manifest, 0o600)).To(Succeed())
	stdout.Reset()
	stderr.Reset()
	code = rendercmd.Run(ctx, []string{"-f", filepath.Join(dir, "config.yaml"), "--kubeconfig", filepath.Join(dir, "kubeconfig")},
		strings.NewReader(""), &stdout, &stderr)
	g.Expect(code).To(Equal(2))
	g.Expect(stdout.String()).To(BeEmpty())
	g.Expect(stderr.String()).To(ContainSubstring("Secret " + ns + "/absent not found"))
}
