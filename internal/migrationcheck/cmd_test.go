package migrationcheck_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
	"github.com/cabpk0s/cabpk0s/internal/migrationcheck"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// checkMigration runs the command and returns its exit code, stdout and
// stderr.
func checkMigration(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := migrationcheck.Run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsageAndConnectionErrors(t *testing.T) {
	unreachable := writeKubeconfig(t, &rest.Config{Host: "https://127.0.0.1:1"})
	for name, tc := range map[string]struct {
		args   []string
		code   int
		stderr string
	}{
		"help":               {[]string{"--help"}, 0, "Usage: cabpk0s check-migration [flags]"},
		"unknown flag":       {[]string{"--all"}, 2, "unknown flag: --all"},
		"an argument":        {[]string{"default"}, 2, "no arguments are taken"},
		"missing kubeconfig": {[]string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, 2, "loading the kubeconfig"},
		"unknown context":    {[]string{"--kubeconfig", unreachable, "--context", "nope"}, 2, `context "nope" does not exist`},
		"unreachable":        {[]string{"--kubeconfig", unreachable}, 2, "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := checkMigration(t, tc.args...)
			g.Expect(code).To(Equal(tc.code), stderr)
			g.Expect(stderr).To(ContainSubstring(tc.stderr))
			g.Expect(stdout).To(BeEmpty())
		})
	}
}

// writeKubeconfig writes a kubeconfig for config, in a context named envtest.
func writeKubeconfig(t *testing.T, config *rest.Config) string {
	t.Helper()
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["envtest"] = &clientcmdapi.Cluster{Server: config.Host, CertificateAuthorityData: config.CAData}
	kubeconfig.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: config.CertData, ClientKeyData: config.KeyData, Token: config.BearerToken}
	kubeconfig.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kubeconfig.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// standInCRD is a CRD of one of the kinds as k0smotron installs it, as far
// as the check can tell: any spec and status, both versions served, one
// stored. k0smotron's own schemas are not at hand (its module cannot be
// fetched here); an open one stores whatever k0smotron would have.
func standInCRD(kind, plural, storage string) *apiextensionsv1.CustomResourceDefinition {
	open := apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + ".bootstrap.cluster.x-k8s.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "bootstrap.cluster.x-k8s.io",
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind)},
		},
	}
	for _, version := range []string{"v1beta1", "v1beta2"} {
		crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{
			Name: version, Served: true, Storage: version == storage,
			Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
				Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": open, "status": open},
			}},
		})
	}
	return crd
}

// startK0smotronCluster starts an API server serving k0smotron's kinds
// (stand-ins), from the binaries `make envtest-assets` builds (make test
// builds them first, so their absence is a failure, not a skip).
func startK0smotronCluster(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDs: []*apiextensionsv1.CustomResourceDefinition{
			// k0smotron 2.x stores v1beta2; a template left from 1.x, v1beta1.
			standInCRD("K0sWorkerConfig", "k0sworkerconfigs", "v1beta2"),
			standInCRD("K0sWorkerConfigTemplate", "k0sworkerconfigtemplates", "v1beta1"),
			standInCRD("K0sControllerConfig", "k0scontrollerconfigs", "v1beta2"),
		},
	}
	config, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cl, err := client.New(config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return config, cl
}

// createK0smotronObjects creates what k0smotron's users may have: clean
// objects of both versions, and one of each kind of finding.
func createK0smotronObjects(t *testing.T, cl client.Client) {
	t.Helper()
	for _, doc := range []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n", k0smotronV1beta2Config, `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfigTemplate
metadata: {name: md-test-config, namespace: default}
spec:
  template:
    spec:
      version: v1.27.2+k0s.0
      ignition: {variant: flatcar, version: 1.1.0}
`, `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sWorkerConfig
metadata: {name: win-0, namespace: default}
spec:
  provisioner: {type: powershell, platform: windows}
`, `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sWorkerConfig
metadata: {name: mirror-0, namespace: team-b}
spec:
  preInstalledK0s: true
  downloadURL: https://ci:s3cr3t@artifacts.example.com/k0s
`, `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfigTemplate
metadata: {name: md-1-config, namespace: team-b}
spec:
  template:
    spec:
      version: v1.30.1+k0s.0
      preStartCommands: [echo pre]
      someK0smotronOnlyField: true
`, `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sControllerConfig
metadata: {name: k0s-cp-0, namespace: default}
spec:
  version: v1.33.4+k0s.0
  provisioner:
    type: ignition
    ignition: {variant: openshift, version: 4.14.0}
`} {
		createWithStatus(t, cl, object(t, doc))
	}
}

// TestCheckMigrationOnAnAPIServer runs the command against a real API
// server serving k0smotron's kinds, through a kubeconfig found as kubectl
// finds it. Skipped without the envtest binaries (make envtest-assets).
func TestCheckMigrationOnAnAPIServer(t *testing.T) {
	g := NewWithT(t)
	config, cl := startK0smotronCluster(t)
	createK0smotronObjects(t, cl)

	kubeconfig := writeKubeconfig(t, config)
	t.Setenv("KUBECONFIG", kubeconfig)
	code, stdout, stderr := checkMigration(t, "--context", "envtest")
	g.Expect(code).To(Equal(1), stderr)
	g.Expect(stdout).To(Equal(`K0sControllerConfig default/k0s-cp-0 (v1beta2): spec.provisioner.ignition.variant: invalid: Unsupported value: "openshift": supported values: "fcos", "flatcar"
K0sWorkerConfig default/win-0 (v1beta2): spec.provisioner.platform: invalid: Unsupported value: "windows": supported values: "linux"
K0sWorkerConfig default/win-0 (v1beta2): spec.provisioner.type: invalid: Unsupported value: "powershell": supported values: "cloud-config", "ignition"
K0sWorkerConfig team-b/mirror-0 (v1beta2): warning: spec.downloadURL is ignored because spec.preInstalledK0s is true: k0s is not downloaded
K0sWorkerConfigTemplate team-b/md-1-config (v1beta1): spec.template.spec.someK0smotronOnlyField: pruned: unknown to cabpk0s
checked 6 objects: 5 findings (1 pruned, 3 invalid, 1 warning)
`))
	g.Expect(stderr).To(ContainSubstring("before switching"))

	code, stdout, stderr = checkMigration(t, "--kubeconfig", kubeconfig, "-n", "team-b")
	g.Expect(code).To(Equal(1), stderr)
	g.Expect(stdout).To(HaveSuffix("checked 2 objects: 2 findings (1 pruned, 0 invalid, 1 warning)\n"))
	g.Expect(stdout).NotTo(ContainSubstring("s3cr3t"))

	code, stdout, stderr = checkMigration(t, "--kubeconfig", kubeconfig, "--namespace", "kube-system")
	g.Expect(code).To(Equal(0), stderr)
	g.Expect(stdout).To(Equal("checked 0 objects: 0 findings\n"))

	switchAndCompare(t, config, cl)
}

// switchAndCompare replaces the stand-in CRDs by cabpk0s's, as the switch
// does, and requires the API server to do what the check said: prune the
// one field reported pruned and nothing else, and refuse an object the
// check reported invalid when it is created again.
func switchAndCompare(t *testing.T, config *rest.Config, cl client.Client) {
	t.Helper()
	g := NewWithT(t)
	get := func(version, kind, namespace, name string) *unstructured.Unstructured {
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion("bootstrap.cluster.x-k8s.io/" + version)
		obj.SetKind(kind)
		g.Expect(cl.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, obj)).To(Succeed())
		return obj
	}
	before := map[string]*unstructured.Unstructured{
		"clean":   get("v1beta2", "K0sWorkerConfig", "default", "md-0-x7k2p"),
		"1.x":     get("v1beta1", "K0sWorkerConfigTemplate", "default", "md-test-config"),
		"pruned":  get("v1beta1", "K0sWorkerConfigTemplate", "team-b", "md-1-config"),
		"invalid": get("v1beta2", "K0sWorkerConfig", "default", "win-0"),
	}

	crds, err := cabpk0sconfig.CustomResourceDefinitions()
	g.Expect(err).NotTo(HaveOccurred())
	_, err = envtest.InstallCRDs(config, envtest.CRDInstallOptions{CRDs: crds})
	g.Expect(err).NotTo(HaveOccurred())

	// The API server serves a changed schema once its handler is rebuilt.
	g.Eventually(func(g Gomega) {
		pruned := get("v1beta1", "K0sWorkerConfigTemplate", "team-b", "md-1-config")
		g.Expect(pruned.Object["spec"]).To(HaveKeyWithValue("template", HaveKeyWithValue("spec", Not(HaveKey("someK0smotronOnlyField")))))
	}).Should(Succeed())
	wantSpec := before["pruned"].Object["spec"]
	unstructured.RemoveNestedField(wantSpec.(map[string]any), "template", "spec", "someK0smotronOnlyField")
	g.Expect(get("v1beta1", "K0sWorkerConfigTemplate", "team-b", "md-1-config").Object["spec"]).To(Equal(wantSpec))
	g.Expect(get("v1beta2", "K0sWorkerConfig", "default", "md-0-x7k2p").Object["spec"]).To(Equal(before["clean"].Object["spec"]))
	g.Expect(get("v1beta2", "K0sWorkerConfig", "default", "md-0-x7k2p").Object["status"]).To(Equal(before["clean"].Object["status"]))
	g.Expect(get("v1beta1", "K0sWorkerConfigTemplate", "default", "md-test-config").Object["spec"]).To(Equal(before["1.x"].Object["spec"]))

	invalid := get("v1beta2", "K0sWorkerConfig", "default", "win-0")
	g.Expect(invalid.Object["spec"]).To(Equal(before["invalid"].Object["spec"]), "an invalid value is kept, not pruned")
	again := &unstructured.Unstructured{Object: map[string]any{"apiVersion": invalid.GetAPIVersion(), "kind": invalid.GetKind(), "spec": invalid.Object["spec"]}}
	again.SetNamespace("team-b")
	again.SetName("win-0")
	err = cl.Create(t.Context(), again)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "re-creating it (clusterctl move) must fail: %v", err)
	g.Expect(err.Error()).To(And(ContainSubstring(`spec.provisioner.platform: Unsupported value: "windows"`), ContainSubstring(`spec.provisioner.type: Unsupported value: "powershell"`)))
}

// createWithStatus creates obj and then writes its status, which a create
// leaves out.
func createWithStatus(t *testing.T, cl client.Client, obj *unstructured.Unstructured) {
	t.Helper()
	status, hasStatus := obj.Object["status"]
	for _, field := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", field)
	}
	obj.SetOwnerReferences(nil)
	if err := cl.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	if !hasStatus {
		return
	}
	obj.Object["status"] = status
	if err := cl.Status().Update(t.Context(), obj); err != nil {
		t.Fatalf("writing the status of %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}
