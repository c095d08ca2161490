package templates

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cluster-api/cmd/clusterctl/client/yamlprocessor"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// capiTestVersion is the Cluster API test module the e2e suite uses; CAPD's
// CRDs (DevCluster, DevMachine, DevMachineTemplate, ...) come from it.
const (
	capiTestModule  = "sigs.k8s.io/cluster-api/test"
	capiTestVersion = "v1.14.4"
)

// suiteVariables are the variables the e2e suite (or clusterctl generate
// cluster) supplies per cluster, with the kind of value it supplies.
var suiteVariables = map[string]string{
	"CLUSTER_NAME":                    "", // set per template below
	"NAMESPACE":                       "", // set per template below
	"WORKER_MACHINE_COUNT":            "2",
	"CONTROL_PLANE_MACHINE_COUNT":     "1",
	"CONTROL_PLANE_API_PORT":          "30444",
	"CONTROL_PLANE_KONNECTIVITY_PORT": "30133",
	"HOSTING_CLUSTER_KUBECONFIG_B64":  base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\n")),
}

// environmentPlaceholders stand in for the variables the AWS e2e config and
// the AWS release templates leave to the environment (CI's repository
// variables and secrets): realistic values, so the schemas check them.
var environmentPlaceholders = map[string]string{
	"AWS_REGION":                 "us-east-1",
	"AWS_AVAILABILITY_ZONE":      "us-east-1a",
	"AWS_SSH_KEY_NAME":           "cabpk0s-e2e",
	"AWS_VPC_ID":                 "vpc-0123456789abcdef0",
	"AWS_SUBNET_ID":              "subnet-0123456789abcdef0",
	"AWS_SECURITY_GROUP_ID":      "sg-0123456789abcdef0",
	"AWS_AMI_ID":                 "ami-0123456789abcdef0",
	"AWS_FLATCAR_AMI_ID":         "ami-0fedcba9876543210",
	"AWS_B64ENCODED_CREDENTIALS": base64.StdEncoding.EncodeToString([]byte("[default]\n")),
}

// clusterctlVariables are what `clusterctl generate cluster` sets from its
// flags, for the release templates.
var clusterctlVariables = map[string]string{
	"KUBERNETES_VERSION":          "v1.34.3",
	"WORKER_MACHINE_COUNT":        "2",
	"CONTROL_PLANE_MACHINE_COUNT": "1",
}

// clusterTemplate is one template to render and apply.
type clusterTemplate struct {
	name      string            // for test names and the namespace
	yaml      []byte            // unrendered
	variables map[string]string // what the suite or clusterctl would pass
	// allowed lists the variables a template may need without a default;
	// a template needing another one fails (nothing would supply it).
	allowed []string
}

// clusterTemplates collects the e2e flavors (built by kustomize, variables
// from the e2e config) and the release templates.
func clusterTemplates(t *testing.T) []clusterTemplate {
	t.Helper()
	root := testenv.RepoRoot()
	var out []clusterTemplate
	for _, infra := range []string{"docker", "aws"} {
		config := loadE2EConfig(t, infra)
		vars := maps.Clone(suiteVariables)
		for k, v := range config.Variables {
			if v == "" {
				v = environmentPlaceholders[k]
			}
			vars[k] = v
		}
		for _, dir := range kustomizations(t, filepath.Join("e2e", "data", "infrastructure-"+infra)) {
			if !strings.HasPrefix(filepath.Base(dir), "cluster-template") {
				continue
			}
			out = append(out, clusterTemplate{
				name:      infra + "/" + filepath.Base(dir),
				yaml:      kustomizeBuild(t, filepath.Join(root, dir)),
				variables: vars,
				allowed:   slices.Collect(maps.Keys(vars)),
			})
		}
	}
	files, err := filepath.Glob(filepath.Join(root, "templates", "cluster-template*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no release templates in templates/")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vars := maps.Clone(clusterctlVariables)
		maps.Copy(vars, environmentPlaceholders)
		allowed := append(slices.Collect(maps.Keys(clusterctlVariables)), slices.Collect(maps.Keys(environmentPlaceholders))...)
		out = append(out, clusterTemplate{
			name:      "templates/" + strings.TrimSuffix(filepath.Base(f), ".yaml"),
			yaml:      data,
			variables: vars,
			allowed:   append(allowed, "CLUSTER_NAME", "NAMESPACE"),
		})
	}
	return out
}

// render processes a template the way clusterctl generate cluster does.
func render(tpl clusterTemplate, clusterName, namespace string) ([]byte, []string, error) {
	p := yamlprocessor.NewSimpleProcessor()
	required, err := p.GetVariableMap(tpl.yaml)
	if err != nil {
		return nil, nil, err
	}
	var unknown []string
	for name, def := range required {
		if def == nil && !slices.Contains(tpl.allowed, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	vars := maps.Clone(tpl.variables)
	vars["CLUSTER_NAME"] = clusterName
	vars["NAMESPACE"] = namespace
	out, err := p.Process(tpl.yaml, func(name string) (string, error) {
		if v, ok := vars[name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("variable %s is not set", name)
	})
	return out, unknown, err
}

// capdCRDs writes CAPD's CRDs, with the contract labels CAPD's own
// kustomization adds, to a directory for the management API server. Cluster
// API's conversion webhooks read those labels to answer which apiVersion of
// a referenced kind to use (for the seed's v1beta1 Machine).
func capdCRDs(t *testing.T) string {
	t.Helper()
	dir, err := testenv.ModuleDir(capiTestModule, capiTestVersion)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "infrastructure", "docker", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("CAPD CRDs not found in %s: %v", dir, err)
	}
	out := t.TempDir()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if crd.Labels == nil {
			crd.Labels = map[string]string{}
		}
		crd.Labels["cluster.x-k8s.io/v1beta1"] = "v1beta1"
		crd.Labels["cluster.x-k8s.io/v1beta2"] = "v1beta2"
		data, err = yaml.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestClusterTemplatesDryRun renders every cluster template with
// clusterctl's variable processing and creates every object in a
// server-side dry run against a management API server that serves Cluster
// API (with its webhooks), CAPD, CAPA, cabpk0s (with its webhooks) and a
// K0smotronControlPlane stand-in: schemas, defaulting, validation and
// conversion all run, and unknown fields are errors. CAPD's and CAPA's own webhooks are not served, and the
// stand-in K0smotronControlPlane accepts any spec.
func TestClusterTemplatesDryRun(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	templates := clusterTemplates(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m, err := testenv.StartManagement(ctx, testenv.ManagementOptions{ExtraCRDPaths: []string{capdCRDs(t)}})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	}()

	for i, tpl := range templates {
		t.Run(tpl.name, func(t *testing.T) {
			g := NewWithT(t)
			namespace := fmt.Sprintf("render-%d", i)
			out, unknown, err := render(tpl, "render-cluster", namespace)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(unknown).To(BeEmpty(), "variables without a default that nothing sets")
			g.Expect(string(out)).NotTo(ContainSubstring("${"), "unrendered variables")

			objs, err := utilyaml.ToUnstructured(out)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(objs).NotTo(BeEmpty())
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
			}
			// Every template has the seed's shapes: a hosted control plane
			// and a MachineDeployment with a K0sWorkerConfigTemplate.
			g.Expect(kinds).To(HaveKeyWithValue("Cluster", 1))
			g.Expect(kinds).To(HaveKeyWithValue("K0smotronControlPlane", 1))
			g.Expect(kinds).To(HaveKeyWithValue("MachineDeployment", 1))
			g.Expect(kinds).To(HaveKeyWithValue("K0sWorkerConfigTemplate", 1))
			if strings.HasPrefix(tpl.name, "docker/") || strings.HasPrefix(tpl.name, "aws/") {
				// ...and the e2e templates the stand-alone Machine too.
				g.Expect(kinds).To(HaveKeyWithValue("Machine", 1))
				g.Expect(kinds).To(HaveKeyWithValue("K0sWorkerConfig", 1))
			}

			g.Expect(m.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
			for i := range objs {
				o := &objs[i]
				g.Expect(o.GetNamespace()).To(Equal(namespace), "%s %s", o.GetKind(), o.GetName())
				// Strict: a field the schema does not know is an error,
				// not a warning and a silently pruned field.
				err := m.Client.Create(ctx, o, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
				g.Expect(err).NotTo(HaveOccurred(), "%s %s (%s) rejected", o.GetKind(), o.GetName(), o.GetAPIVersion())
			}
		})
	}
}
