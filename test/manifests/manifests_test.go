// Package manifests checks the release artefacts clusterctl consumes: the
// bootstrap-components.yaml built from config/default, the generated CRDs in
// config/crd/bases, and metadata.yaml.
//
// The tests run kustomize. They take the binary from $KUSTOMIZE, else from
// PATH; `make test` sets KUSTOMIZE.
package manifests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cabpk0s/cabpk0s/internal/fixtures"
	"github.com/cabpk0s/cabpk0s/internal/testenv"

	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/component-base/logs"
	logsv1 "k8s.io/component-base/logs/api/v1"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/manager"
)

// What config/default must produce.
const (
	namespace       = "cabpk0s-system"
	providerLabel   = "cluster.x-k8s.io/provider"
	providerValue   = "bootstrap-k0s"
	serviceName     = "cabpk0s-webhook-service"
	certificateName = "cabpk0s-serving-cert"
	deploymentName  = "cabpk0s-controller-manager"
	containerName   = "manager"
	injectCAFrom    = "cert-manager.io/inject-ca-from"
	webhookCertDir  = "/tmp/k8s-webhook-server/serving-certs"
	currentContract = "v1beta2"
)

var crdNames = []string{
	"k0sworkerconfigs.bootstrap.cluster.x-k8s.io",
	"k0sworkerconfigtemplates.bootstrap.cluster.x-k8s.io",
	"k0scontrollerconfigs.bootstrap.cluster.x-k8s.io",
}

// baseCRDNames are the CRDs controller-gen writes: every released one.
var baseCRDNames = crdNames

// contractLabels tell Cluster API which of this provider's API versions
// implements which contract.
var contractLabels = map[string]string{
	"cluster.x-k8s.io/v1beta1": "v1beta1",
	"cluster.x-k8s.io/v1beta2": "v1beta2",
}

// clusterctlVariables are the ${VAR:=default} variables the manifest exposes
// to clusterctl, with their defaults.
var clusterctlVariables = map[string]string{
	"CABPK0S_DIAGNOSTICS_ADDRESS":  ":8443",
	"CABPK0S_INSECURE_DIAGNOSTICS": "false",
	"CABPK0S_BOOTSTRAP_TOKEN_TTL":  "15m",
	"CABPK0S_CONCURRENCY":          "10",
	"CABPK0S_LOG_LEVEL":            "0",
}

// clusterScopedKinds are the kinds in the manifest that have no namespace.
var clusterScopedKinds = map[string]bool{
	"Namespace":                      true,
	"CustomResourceDefinition":       true,
	"ClusterRole":                    true,
	"ClusterRoleBinding":             true,
	"ValidatingWebhookConfiguration": true,
	"MutatingWebhookConfiguration":   true,
}

// variableRef matches clusterctl's ${NAME:=default}.
var variableRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+):=([^}]*)\}`)

// manifest is the parsed output of kustomize build config/default.
type manifest struct {
	raw     string
	objects []unstructured.Unstructured
}

var (
	buildOnce   sync.Once
	built       *manifest
	buildFailed string
)

// releaseManifest builds config/default once per test binary.
func releaseManifest(t *testing.T) *manifest {
	t.Helper()
	bin := fixtures.Kustomize(t)
	buildOnce.Do(func() {
		cmd := exec.Command(bin, "build", filepath.Join(testenv.RepoRoot(), "config", "default"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			buildFailed = "kustomize build config/default: " + err.Error() + "\n" + stderr.String()
			return
		}
		objects, err := utilyaml.ToUnstructured(out)
		if err != nil {
			buildFailed = "parsing kustomize output: " + err.Error()
			return
		}
		built = &manifest{raw: string(out), objects: objects}
	})
	if buildFailed != "" {
		t.Fatal(buildFailed)
	}
	return built
}

func (m *manifest) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for i := range m.objects {
		if m.objects[i].GetKind() == kind {
			out = append(out, &m.objects[i])
		}
	}
	return out
}

// only returns the single object of kind, failing if there is not exactly one.
func (m *manifest) only(g Gomega, kind string) *unstructured.Unstructured {
	objs := m.ofKind(kind)
	g.ExpectWithOffset(1, objs).To(HaveLen(1), "want exactly one %s", kind)
	return objs[0]
}

// convert decodes u into a typed object, rejecting fields the type lacks.
func convert(g Gomega, u *unstructured.Unstructured, into any) {
	err := kruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s %s", u.GetKind(), u.GetName())
}

func TestNamespace(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	ns := m.only(g, "Namespace")
	g.Expect(ns.GetName()).To(Equal(namespace))

	for _, o := range m.objects {
		if clusterScopedKinds[o.GetKind()] {
			g.Expect(o.GetNamespace()).To(BeEmpty(), "cluster-scoped %s %s", o.GetKind(), o.GetName())
		} else {
			g.Expect(o.GetNamespace()).To(Equal(namespace), "%s %s", o.GetKind(), o.GetName())
		}
	}
}

func TestProviderLabel(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	g.Expect(m.objects).NotTo(BeEmpty())
	for _, o := range m.objects {
		g.Expect(o.GetLabels()).To(HaveKeyWithValue(providerLabel, providerValue), "%s %s", o.GetKind(), o.GetName())
	}
}

func TestDeployment(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	u := m.only(g, "Deployment")
	g.Expect(u.GetName()).To(Equal(deploymentName))
	var d appsv1.Deployment
	convert(g, u, &d)

	// The selector must select the pods and the Service must reach them.
	g.Expect(d.Spec.Selector.MatchLabels).To(HaveKeyWithValue(providerLabel, providerValue))
	for k, v := range d.Spec.Selector.MatchLabels {
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v))
	}

	pod := d.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Name).To(Equal(containerName))
	g.Expect(c.Command).To(Equal([]string{"/manager"}))
	g.Expect(c.Image).NotTo(BeEmpty())

	// Hardening.
	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext).NotTo(BeNil())
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.Capabilities).NotTo(BeNil())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))

	// The service account exists under the name the pod uses.
	sa := m.only(g, "ServiceAccount")
	g.Expect(pod.ServiceAccountName).To(Equal(sa.GetName()))

	// The webhook certificate Secret is mounted where the manager looks.
	var certVolume string
	for _, vm := range c.VolumeMounts {
		if path.Clean(vm.MountPath) == webhookCertDir {
			certVolume = vm.Name
		}
	}
	g.Expect(certVolume).NotTo(BeEmpty(), "no volume mounted at %s", webhookCertDir)
	var certSecret string
	for _, v := range pod.Volumes {
		if v.Name == certVolume && v.Secret != nil {
			certSecret = v.Secret.SecretName
		}
	}
	g.Expect(certSecret).NotTo(BeEmpty(), "volume %q is not a Secret", certVolume)
	cert := m.only(g, "Certificate")
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	g.Expect(certSecret).To(Equal(secretName), "the mounted Secret is not the one cert-manager writes")

	// The Service reaches the pods on the webhook port.
	var svc corev1.Service
	convert(g, m.only(g, "Service"), &svc)
	for k, v := range svc.Spec.Selector {
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v))
	}
}

func TestContainerArgs(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	var d appsv1.Deployment
	convert(g, m.only(g, "Deployment"), &d)
	g.Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	c := d.Spec.Template.Spec.Containers[0]

	// Every variable has a default, so clusterctl init works without any set,
	// and the expected ones are there with the documented defaults.
	g.Expect(strings.Count(m.raw, "${")).To(Equal(len(variableRef.FindAllString(m.raw, -1))),
		"every clusterctl variable must use the ${NAME:=default} form")
	found := map[string]string{}
	for _, match := range variableRef.FindAllStringSubmatch(m.raw, -1) {
		g.Expect(match[1]).To(HavePrefix("CABPK0S_"))
		found[match[1]] = match[2]
	}
	for name, def := range clusterctlVariables {
		g.Expect(found).To(HaveKeyWithValue(name, def))
	}
	g.Expect(m.raw).To(ContainSubstring("${CABPK0S_BOOTSTRAP_TOKEN_TTL:=15m}"))

	// With the defaults substituted, the manager's own flag set accepts the
	// args, and the result agrees with the ports and mounts in the manifest.
	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		args = append(args, variableRef.ReplaceAllString(a, "$2"))
	}
	opts := &manager.Options{}
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts.AddFlags(fs)
	logsv1.AddFlags(logs.NewOptions(), fs)
	g.Expect(fs.Parse(args)).To(Succeed(), "args %q", args)
	g.Expect(fs.Args()).To(BeEmpty())

	g.Expect(opts.LeaderElect).To(BeTrue())
	g.Expect(opts.BootstrapTokenTTL).To(Equal(manager.DefaultBootstrapTokenTTL))
	g.Expect(opts.Concurrency).To(BeNumerically(">", 0))
	g.Expect(opts.Diagnostics.InsecureDiagnostics).To(BeFalse())

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	g.Expect(ports).To(HaveKeyWithValue("metrics", portOf(g, opts.Diagnostics.DiagnosticsAddress)))
	g.Expect(ports).To(HaveKeyWithValue("healthz", portOf(g, opts.HealthAddr)))
	g.Expect(ports).To(HaveKeyWithValue("webhook-server", int32(opts.WebhookPort)))
	g.Expect(path.Clean(opts.WebhookCertDir)).To(Equal(webhookCertDir))

	g.Expect(c.LivenessProbe).NotTo(BeNil())
	g.Expect(c.LivenessProbe.HTTPGet).NotTo(BeNil())
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.LivenessProbe.HTTPGet.Port.String()).To(Equal("healthz"))
	g.Expect(c.ReadinessProbe).NotTo(BeNil())
	g.Expect(c.ReadinessProbe.HTTPGet).NotTo(BeNil())
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(c.ReadinessProbe.HTTPGet.Port.String()).To(Equal("healthz"))

	var svc corev1.Service
	convert(g, m.only(g, "Service"), &svc)
	g.Expect(svc.GetName()).To(Equal(serviceName))
	g.Expect(svc.Spec.Ports).To(HaveLen(1))
	g.Expect(svc.Spec.Ports[0].Port).To(Equal(int32(443)))
	g.Expect(svc.Spec.Ports[0].TargetPort.IntValue()).To(Equal(opts.WebhookPort))
}

func portOf(g Gomega, addr string) int32 {
	i := strings.LastIndex(addr, ":")
	g.ExpectWithOffset(1, i).To(BeNumerically(">=", 0), "address %q has no port", addr)
	p, err := strconv.ParseInt(addr[i+1:], 10, 32)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), "address %q", addr)
	return int32(p)
}

func TestCRDs(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	crds := m.ofKind("CustomResourceDefinition")
	names := make([]string, 0, len(crds))
	for _, u := range crds {
		names = append(names, u.GetName())
	}
	g.Expect(names).To(ConsistOf(crdNames))

	for _, u := range crds {
		var crd apiextensionsv1.CustomResourceDefinition
		convert(g, u, &crd)
		for k, v := range contractLabels {
			g.Expect(crd.Labels).To(HaveKeyWithValue(k, v), crd.Name)
		}
		g.Expect(crd.Annotations).To(HaveKeyWithValue(injectCAFrom, namespace+"/"+certificateName), crd.Name)

		conv := crd.Spec.Conversion
		g.Expect(conv).NotTo(BeNil(), crd.Name)
		g.Expect(conv.Strategy).To(Equal(apiextensionsv1.WebhookConverter), crd.Name)
		g.Expect(conv.Webhook).NotTo(BeNil(), crd.Name)
		g.Expect(conv.Webhook.ConversionReviewVersions).To(ContainElement("v1"), crd.Name)
		g.Expect(conv.Webhook.ClientConfig).NotTo(BeNil(), crd.Name)
		g.Expect(conv.Webhook.ClientConfig.URL).To(BeNil(), crd.Name)
		svc := conv.Webhook.ClientConfig.Service
		g.Expect(svc).NotTo(BeNil(), crd.Name)
		g.Expect(svc.Name).To(Equal(serviceName), crd.Name)
		g.Expect(svc.Namespace).To(Equal(namespace), crd.Name)
		g.Expect(svc.Path).To(HaveValue(Equal("/convert")), crd.Name)
	}
}

func TestValidatingWebhookConfiguration(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	convert(g, m.only(g, "ValidatingWebhookConfiguration"), &vwc)
	g.Expect(vwc.Annotations).To(HaveKeyWithValue(injectCAFrom, namespace+"/"+certificateName))
	g.Expect(vwc.Webhooks).NotTo(BeEmpty())
	for _, w := range vwc.Webhooks {
		g.Expect(w.ClientConfig.URL).To(BeNil(), w.Name)
		g.Expect(w.ClientConfig.Service).NotTo(BeNil(), w.Name)
		g.Expect(w.ClientConfig.Service.Name).To(Equal(serviceName), w.Name)
		g.Expect(w.ClientConfig.Service.Namespace).To(Equal(namespace), w.Name)
	}
}

func TestCertificate(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	cert := m.only(g, "Certificate")
	g.Expect(cert.GetName()).To(Equal(certificateName))
	dnsNames, _, err := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dnsNames).To(ConsistOf(
		serviceName+"."+namespace+".svc",
		serviceName+"."+namespace+".svc.cluster.local",
	))

	issuer := m.only(g, "Issuer")
	issuerName, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	g.Expect(issuerName).To(Equal(issuer.GetName()))
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	g.Expect(secretName).NotTo(BeEmpty())
}

func TestRBAC(t *testing.T) {
	g := NewWithT(t)
	m := releaseManifest(t)

	sa := m.only(g, "ServiceAccount")
	bindings := map[string]string{"ClusterRoleBinding": "ClusterRole", "RoleBinding": "Role"}
	for bindingKind, roleKind := range bindings {
		for _, u := range m.ofKind(bindingKind) {
			var b rbacv1.RoleBinding // same shape as ClusterRoleBinding
			convert(g, u, &b)
			g.Expect(b.RoleRef.Kind).To(Equal(roleKind), b.Name)
			var roleNames []string
			for _, r := range m.ofKind(roleKind) {
				roleNames = append(roleNames, r.GetName())
			}
			g.Expect(roleNames).To(ContainElement(b.RoleRef.Name), b.Name)
			g.Expect(b.Subjects).To(ContainElement(rbacv1.Subject{
				Kind: rbacv1.ServiceAccountKind, Name: sa.GetName(), Namespace: namespace,
			}), b.Name)
		}
	}
	g.Expect(m.ofKind("ClusterRoleBinding")).NotTo(BeEmpty())
	g.Expect(m.ofKind("RoleBinding")).NotTo(BeEmpty())
}

// TestCRDBases checks the generated CRDs themselves, so that a regeneration
// that loses the markers fails here and not only in the release manifest.
func TestCRDBases(t *testing.T) {
	g := NewWithT(t)

	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(HaveLen(len(baseCRDNames)))

	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		var crd apiextensionsv1.CustomResourceDefinition
		g.Expect(yaml.UnmarshalStrict(data, &crd)).To(Succeed(), f)
		names = append(names, crd.Name)
		for k, v := range contractLabels {
			g.Expect(crd.Labels).To(HaveKeyWithValue(k, v), f)
		}
		g.Expect(crd.Spec.Names.Categories).To(ContainElement("cluster-api"), f)
	}
	g.Expect(names).To(ConsistOf(baseCRDNames))
}

func TestMetadata(t *testing.T) {
	g := NewWithT(t)

	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "metadata.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var md clusterctlv1.Metadata
	g.Expect(yaml.UnmarshalStrict(data, &md)).To(Succeed())

	g.Expect(md.APIVersion).To(Equal(clusterctlv1.GroupVersion.String()))
	g.Expect(md.Kind).To(Equal("Metadata"))
	g.Expect(md.GetReleaseSeriesForContract(currentContract)).NotTo(BeNil(),
		"no release series implements contract %s", currentContract)
	rs := md.GetReleaseSeriesForVersion(version.MustParseSemantic("v0.1.0"))
	g.Expect(rs).NotTo(BeNil(), "no release series for v0.1")
	g.Expect(rs.Contract).To(Equal(currentContract))
}
