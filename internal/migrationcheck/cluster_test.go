package migrationcheck_test

import (
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
	"github.com/cabpk0s/cabpk0s/internal/migrationcheck"
)

// k0smotronCRDs stand in for k0smotron's CRDs as a management cluster has
// them before the switch: K0sWorkerConfig stored as v1beta1 (k0smotron
// 1.x), K0sWorkerConfigTemplate stored as v1beta2 with objects left in a
// v1alpha1, and no K0sControllerConfig CRD at all.
func k0smotronCRDs(t *testing.T) []client.Object {
	t.Helper()
	crds, err := cabpk0sconfig.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	var installed []client.Object
	for _, c := range crds {
		switch c.Spec.Names.Kind {
		case "K0sWorkerConfig":
			for i := range c.Spec.Versions {
				c.Spec.Versions[i].Storage = c.Spec.Versions[i].Name == "v1beta1"
			}
			c.Status.StoredVersions = []string{"v1beta1"}
		case "K0sWorkerConfigTemplate":
			c.Spec.Versions = append(c.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{Name: "v1alpha1", Served: true})
			c.Status.StoredVersions = []string{"v1alpha1", "v1beta2"}
		default:
			continue
		}
		installed = append(installed, c)
	}
	return installed
}

// fakeCluster serves the CRDs and objects given, with a REST mapping for
// every version of cabpk0s's kinds.
func fakeCluster(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"), meta.RESTScopeRoot)
	for _, version := range []string{"v1alpha1", "v1beta1", "v1beta2"} {
		for _, kind := range []string{"K0sWorkerConfig", "K0sWorkerConfigTemplate", "K0sControllerConfig"} {
			mapper.Add(schema.GroupVersionKind{Group: "bootstrap.cluster.x-k8s.io", Version: version, Kind: kind}, meta.RESTScopeNamespace)
		}
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).WithObjects(objs...).Build()
}

// TestCluster reads each kind in its installed storage version, reports
// stored versions cabpk0s does not serve once per kind, skips a kind
// without a CRD, and limits itself to a namespace when asked.
func TestCluster(t *testing.T) {
	objs := k0smotronCRDs(t)
	for _, doc := range []string{
		k0smotronV1beta1Config,
		"apiVersion: bootstrap.cluster.x-k8s.io/v1beta1\nkind: K0sWorkerConfig\nmetadata: {name: b, namespace: other}\nspec:\n  preStartCommands: [echo]\n  someK0smotronOnlyField: x\n",
		"apiVersion: bootstrap.cluster.x-k8s.io/v1beta2\nkind: K0sWorkerConfigTemplate\nmetadata: {name: t, namespace: default}\nspec:\n  template:\n    spec:\n      provisioner: {platform: windows}\n",
	} {
		objs = append(objs, object(t, doc))
	}
	cl := fakeCluster(t, objs...)
	c := newChecker(t)

	t.Run("all namespaces", func(t *testing.T) {
		g := NewWithT(t)
		report, err := c.Cluster(t.Context(), cl, "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(report.Checked).To(Equal(3))
		var lines []string
		for _, f := range report.Findings {
			lines = append(lines, f.String())
		}
		g.Expect(lines).To(Equal([]string{
			"K0sWorkerConfig other/b (v1beta1): spec.someK0smotronOnlyField: pruned: unknown to cabpk0s",
			"K0sWorkerConfigTemplate (v1alpha1): invalid: objects are stored in this version, which cabpk0s does not serve (it serves v1beta1, v1beta2): rewrite them in one of those before the switch",
			`K0sWorkerConfigTemplate default/t (v1beta2): spec.template.spec.provisioner.platform: invalid: Unsupported value: "windows": supported values: "linux"`,
		}))
		g.Expect(report.Blocking()).To(BeTrue())
	})

	t.Run("one namespace", func(t *testing.T) {
		g := NewWithT(t)
		report, err := c.Cluster(t.Context(), cl, "default")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(report.Checked).To(Equal(2))
		g.Expect(report.Findings).To(HaveLen(2))
		g.Expect(report.Findings).NotTo(ContainElement(HaveField("Namespace", "other")))
	})

	t.Run("nothing installed", func(t *testing.T) {
		g := NewWithT(t)
		report, err := c.Cluster(t.Context(), fakeCluster(t), "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(report.Checked).To(BeZero())
		g.Expect(report.Findings).To(BeEmpty())
		g.Expect(report.Blocking()).To(BeFalse())
	})
}

// TestWarningsAloneDoNotBlock: a report of warnings passes.
func TestWarningsAloneDoNotBlock(t *testing.T) {
	g := NewWithT(t)
	report := &migrationcheck.Report{Checked: 1, Findings: []migrationcheck.Finding{{Severity: migrationcheck.SeverityWarning}}}
	g.Expect(report.Blocking()).To(BeFalse())
	report.Findings = append(report.Findings, migrationcheck.Finding{Severity: migrationcheck.SeverityPruned})
	g.Expect(report.Blocking()).To(BeTrue())
}
