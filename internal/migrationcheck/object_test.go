package migrationcheck_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
	"github.com/cabpk0s/cabpk0s/internal/migrationcheck"
)

func newChecker(t *testing.T) *migrationcheck.Checker {
	t.Helper()
	crds, err := cabpk0sconfig.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	c, err := migrationcheck.NewChecker(crds)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// object parses one YAML document as a client decodes the API server's
// JSON (integers as int64).
func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	return obj
}

// A K0sWorkerConfig as k0smotron 2.x's bootstrap provider stores it (its
// v1beta2), metadata and status included, after it generated the data.
const k0smotronV1beta2Config = `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sWorkerConfig
metadata:
  name: md-0-x7k2p
  namespace: default
  uid: 0d0c6a8e-3f5e-4a0e-9d47-1c1a0e1c0a01
  resourceVersion: "4711"
  generation: 1
  creationTimestamp: "2025-06-01T10:00:00Z"
  labels:
    cluster.x-k8s.io/cluster-name: k0s
    cluster.x-k8s.io/deployment-name: md-0
  annotations:
    cluster.x-k8s.io/cloned-from-name: md-0-config
  ownerReferences:
  - apiVersion: cluster.x-k8s.io/v1beta2
    kind: Machine
    name: md-0-x7k2p
    uid: 2b6a3c1e-1d3f-4c5a-8e9b-0a1b2c3d4e5f
    controller: true
  finalizers:
  - k0sworkerconfig.k0smotron.io/finalizer
  managedFields:
  - manager: k0smotron
    operation: Update
    apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:version": {}}}
spec:
  version: v1.33.4+k0s.0
  k0sInstallDir: /usr/local/bin
  useSystemHostname: false
  provisioner:
    type: cloud-config
    platform: linux
    customUserDataRef:
      configMapRef:
        name: extra
        key: user-data
  args:
  - --labels=pool=md-0
  files:
  - path: /etc/motd
    content: worker
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
  downloadURL: https://mirror.example.com/k0s
  secretMetadata:
    labels:
      team: platform
status:
  dataSecretName: md-0-x7k2p
  initialization:
    dataSecretCreated: true
  observedGeneration: 1
  conditions:
  - type: Ready
    status: "True"
    reason: Ready
    message: ""
    lastTransitionTime: "2025-06-01T10:00:05Z"
`

// A K0sWorkerConfig as k0smotron 1.x stores it (v1beta1): 1.x field names,
// status.ready, and Cluster API v1beta1 conditions with a severity and no
// reason, which cabpk0s's v1beta1 schema does not have.
const k0smotronV1beta1Config = `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: machine-test-config
  namespace: default
  generation: 1
spec:
  version: v1.27.2+k0s.0
  args:
  - --debug
  preStartCommands:
  - echo pre
  postStartCommands:
  - echo post
  files:
  - path: /etc/motd
    content: hello
  ignition:
    variant: flatcar
    version: 1.1.0
    additionalConfig: "storage: {}"
  secretMetadata:
    annotations:
      note: kept
status:
  ready: true
  dataSecretName: machine-test-config
  conditions:
  - type: Ready
    status: "True"
    lastTransitionTime: "2024-01-01T00:00:00Z"
  - type: DataSecretAvailable
    status: "False"
    severity: Warning
    reason: WaitingForControlPlaneInitialization
    lastTransitionTime: "2024-01-01T00:00:00Z"
`

// TestCleanK0smotronObjectsHaveNoFindings: what k0smotron's manifests and
// controllers write, in either version and of every kind, reads through
// cabpk0s's schemas unchanged and passes admission.
func TestCleanK0smotronObjectsHaveNoFindings(t *testing.T) {
	c := newChecker(t)
	for name, doc := range map[string]string{
		"v1beta2 K0sWorkerConfig": k0smotronV1beta2Config,
		"v1beta1 K0sWorkerConfig": k0smotronV1beta1Config,
		"v1beta1 K0sWorkerConfigTemplate": `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfigTemplate
metadata:
  name: md-test-config
  namespace: default
spec:
  template:
    metadata:
      labels:
        pool: worker-pool-1
    spec:
      version: v1.27.2+k0s.0
      preStartCommands: [echo pre]
      customUserDataRef:
        secretRef:
          name: userdata
          key: value
`,
		"v1beta2 K0sWorkerConfigTemplate": `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sWorkerConfigTemplate
metadata:
  name: md-0-config
  namespace: default
spec:
  template:
    spec:
      version: v1.33.4+k0s.0
      provisioner:
        type: ignition
        ignition:
          variant: fcos
          version: 1.5.0
`,
		"v1beta2 K0sControllerConfig": `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sControllerConfig
metadata:
  name: k0s-cp-0
  namespace: default
spec:
  version: v1.33.4+k0s.0
  provisioner:
    type: cloud-config
    platform: linux
  args: [--enable-worker, --no-taints]
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
      network:
        serviceCIDR: 10.128.0.0/12
        provider: calico
status:
  ready: false
`,
		"v1beta1 K0sControllerConfig": `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sControllerConfig
metadata:
  name: k0s-cp-1
  namespace: default
spec:
  version: v1.27.2+k0s.0
  preStartCommands: [echo pre]
  workingDir: /etc/k0s
  tunneling:
    enabled: true
    serverAddress: 10.0.0.5
    mode: proxy
  k0s:
    spec:
      api:
        sans: [k0s.example.com]
`,
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(c.Object(object(t, doc))).To(BeEmpty())
		})
	}
}

// TestObjectFindings: each kind of problem, alone, is reported once, on
// its field, with its severity.
func TestObjectFindings(t *testing.T) {
	c := newChecker(t)
	worker := func(version, spec string) string {
		return "apiVersion: bootstrap.cluster.x-k8s.io/" + version + "\nkind: K0sWorkerConfig\nmetadata:\n  name: w\n  namespace: ns\nspec:\n" + spec
	}
	cases := []struct {
		name string
		doc  string
		want []migrationcheck.Finding
	}{
		{"windows", worker("v1beta2", "  provisioner:\n    platform: windows\n"), []migrationcheck.Finding{{
			Field: "spec.provisioner.platform", Severity: migrationcheck.SeverityInvalid,
			Problem: `Unsupported value: "windows": supported values: "linux"`,
		}}},
		{"powershell", worker("v1beta2", "  provisioner:\n    type: powershell\n"), []migrationcheck.Finding{{
			Field: "spec.provisioner.type", Severity: migrationcheck.SeverityInvalid,
			Problem: `Unsupported value: "powershell": supported values: "cloud-config", "ignition"`,
		}}},
		{"openshift", worker("v1beta2", "  provisioner:\n    type: ignition\n    ignition:\n      variant: openshift\n      version: 4.14.0\n"), []migrationcheck.Finding{{
			Field: "spec.provisioner.ignition.variant", Severity: migrationcheck.SeverityInvalid,
			Problem: `Unsupported value: "openshift": supported values: "fcos", "flatcar"`,
		}}},
		{"v1beta1 r4e", worker("v1beta1", "  ignition:\n    variant: r4e\n    version: 1.0.0\n"), []migrationcheck.Finding{{
			Field: "spec.ignition.variant", Severity: migrationcheck.SeverityInvalid,
			Problem: `Unsupported value: "r4e": supported values: "fcos", "flatcar"`,
		}}},
		{"unknown field", worker("v1beta2", "  version: v1.33.4+k0s.0\n  someK0smotronOnlyField: x\n"), []migrationcheck.Finding{{
			Field: "spec.someK0smotronOnlyField", Severity: migrationcheck.SeverityPruned, Problem: "unknown to cabpk0s",
		}}},
		{"unknown nested fields", worker("v1beta2", "  files:\n  - path: /etc/motd\n    content: x\n    owner: root\n  provisioner:\n    cloudInit: {}\n"), []migrationcheck.Finding{
			{Field: "spec.files[0].owner", Severity: migrationcheck.SeverityPruned, Problem: "unknown to cabpk0s"},
			{Field: "spec.provisioner.cloudInit", Severity: migrationcheck.SeverityPruned, Problem: "unknown to cabpk0s"},
		}},
		{"a v1beta2 field in a v1beta1 object", worker("v1beta1", "  provisioner:\n    type: cloud-config\n  preK0sCommands: [echo]\n"), []migrationcheck.Finding{
			{Field: "spec.preK0sCommands", Severity: migrationcheck.SeverityPruned, Problem: "unknown to cabpk0s"},
			{Field: "spec.provisioner", Severity: migrationcheck.SeverityPruned, Problem: "unknown to cabpk0s"},
		}},
		{"admission refuses", worker("v1beta2", "  files:\n  - path: etc/motd\n    content: x\n"), []migrationcheck.Finding{{
			Field: "spec.files[0].path", Severity: migrationcheck.SeverityInvalid,
			Problem: "would be refused on update: Invalid value: must be an absolute path",
		}}},
		{"admission refuses a v1beta1 object by v1beta2's names", worker("v1beta1", "  preStartCommands: [\"{% if x %}echo\"]\n"), []migrationcheck.Finding{{
			Field: "spec.preK0sCommands", Severity: migrationcheck.SeverityInvalid,
			Problem: "would be refused on update (as v1beta2): Invalid value: is a Jinja template on the machine (cloud-init renders cloud-config with Jinja) and does not parse: " +
				"line 1: {% if %} is never closed with {% endif %}; wrap literal text in {% raw %}...{% endraw %}, or move the file into a Secret or ConfigMap and use contentFrom",
		}}},
		{"admission warns", worker("v1beta2", "  preInstalledK0s: true\n  downloadURL: https://example.com/k0s\n"), []migrationcheck.Finding{{
			Severity: migrationcheck.SeverityWarning,
			Problem:  "spec.downloadURL is ignored because spec.preInstalledK0s is true: k0s is not downloaded",
		}}},
		{"wrong type", worker("v1beta2", "  version: 133\n"), []migrationcheck.Finding{{
			Field: "spec.version", Severity: migrationcheck.SeverityInvalid,
			Problem: `Invalid value: spec.version in body must be of type string: "integer"`,
		}}},
		{"too long", worker("v1beta2", "  profile: "+strings.Repeat("p", 254)+"\n"), []migrationcheck.Finding{{
			Field: "spec.profile", Severity: migrationcheck.SeverityInvalid, Problem: "Too long: may not be more than 253 bytes",
		}}},
		{"a version cabpk0s does not serve", "apiVersion: bootstrap.cluster.x-k8s.io/v1alpha1\nkind: K0sWorkerConfig\nmetadata:\n  name: w\n  namespace: ns\n", []migrationcheck.Finding{{
			Severity: migrationcheck.SeverityInvalid, Problem: "cabpk0s does not serve bootstrap.cluster.x-k8s.io/v1alpha1",
		}}},
		{"a v1beta2 value restored from the conversion-data annotation", `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: w
  namespace: ns
  annotations:
    cluster.x-k8s.io/conversion-data: '{"spec": {"provisioner": {"platform": "windows"}}}'
spec:
  version: v1.30.0
`, []migrationcheck.Finding{{
			Field: "spec.provisioner.platform", Severity: migrationcheck.SeverityInvalid,
			Problem: `as v1beta2: Unsupported value: "windows": supported values: "linux"`,
		}}},
		{"a conversion-data annotation cabpk0s cannot read", `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: K0sWorkerConfig
metadata:
  name: w
  namespace: ns
  annotations:
    cluster.x-k8s.io/conversion-data: '{"spec": {"labels": 5}}'
`, []migrationcheck.Finding{{
			Severity: migrationcheck.SeverityInvalid,
			Problem: "cannot be read as cabpk0s's K0sWorkerConfig: converting to v1beta2: " +
				"json: cannot unmarshal number into Go struct field K0sWorkerConfigSpec.spec.labels of type map[string]string",
		}}},
		{"a template", `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sWorkerConfigTemplate
metadata: {name: w, namespace: ns}
spec:
  template:
    metadata:
      labels: {"-bad": x}
    spec:
      provisioner: {platform: windows}
`, []migrationcheck.Finding{
			{Field: "spec.template.metadata.labels", Severity: migrationcheck.SeverityInvalid, Problem: "would be refused on update: Invalid value: " +
				"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character " +
				"(e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"},
			{Field: "spec.template.spec.provisioner.platform", Severity: migrationcheck.SeverityInvalid, Problem: `Unsupported value: "windows": supported values: "linux"`},
		}},
		{"a controller", `
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: K0sControllerConfig
metadata: {name: w, namespace: ns}
spec:
  args: [--config=/etc/k0s/k0s.yaml]
  tunneling: {mode: vpn}
`, []migrationcheck.Finding{
			{Field: "spec.args[0]", Severity: migrationcheck.SeverityInvalid, Problem: "would be refused on update: Forbidden: --config is set by cabpk0s: spec.k0s is written to the machine and passed with --config"},
			{Field: "spec.tunneling.mode", Severity: migrationcheck.SeverityInvalid, Problem: `Unsupported value: "vpn": supported values: "tunnel", "proxy"`},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, tc.doc)
			for i := range tc.want {
				tc.want[i].Kind, tc.want[i].Namespace, tc.want[i].Name, tc.want[i].Version = obj.GetKind(), "ns", "w", obj.GroupVersionKind().Version
			}
			NewWithT(t).Expect(c.Object(obj)).To(Equal(tc.want))
		})
	}
}

// TestObjectIsNotModified: the check prunes and converts a copy.
func TestObjectIsNotModified(t *testing.T) {
	g := NewWithT(t)
	obj := object(t, k0smotronV1beta1Config)
	g.Expect(unstructured.SetNestedField(obj.Object, "x", "spec", "someK0smotronOnlyField")).To(Succeed())
	before := obj.DeepCopy()
	g.Expect(newChecker(t).Object(obj)).To(HaveLen(1))
	g.Expect(obj).To(Equal(before))
}

// TestCredentialsAreNeverPrinted: a downloadURL with credentials, refused
// by the schema, by admission or warned about, is reported without them.
func TestCredentialsAreNeverPrinted(t *testing.T) {
	c := newChecker(t)
	const password, token = "s3cr3t-Pa55", "ghp_tok3nAsUser" //nolint:gosec // made-up credentials the findings must not print
	for name, tc := range map[string]struct {
		spec  string
		field string
	}{
		"scheme refused":   {"  downloadURL: ftp://admin:" + password + "@example.com/k0s\n", "spec.downloadURL"},
		"token as user":    {"  downloadURL: ftp://" + token + "@example.com/k0s\n", "spec.downloadURL"},
		"oci without tag":  {"  downloadURL: oci://admin:" + password + "@registry.example.com/k0s\n", "spec.downloadURL"},
		"too long":         {"  downloadURL: https://admin:" + password + "@example.com/" + strings.Repeat("k", 2048) + "\n", "spec.downloadURL"},
		"bad password":     {"  downloadURL: oci://admin:" + password + "%zz@registry.example.com/k0s:v1\n", "spec.downloadURL"},
		"ignored download": {"  preInstalledK0s: true\n  downloadURL: https://admin:" + password + "@example.com/k0s\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			findings := c.Object(object(t, "apiVersion: bootstrap.cluster.x-k8s.io/v1beta2\nkind: K0sWorkerConfig\nmetadata: {name: w, namespace: ns}\nspec:\n"+tc.spec))
			g.Expect(findings).To(ContainElement(HaveField("Field", tc.field)), "the downloadURL must be reported")
			for _, f := range findings {
				g.Expect(f.String()).NotTo(Or(ContainSubstring(password), ContainSubstring(token)))
			}
		})
	}
}

func TestFindingString(t *testing.T) {
	g := NewWithT(t)
	f := migrationcheck.Finding{
		Kind: "K0sWorkerConfig", Namespace: "default", Name: "md-abc", Version: "v1beta1",
		Field: "spec.provisioner", Severity: migrationcheck.SeverityPruned, Problem: "unknown to cabpk0s",
	}
	g.Expect(f.String()).To(Equal("K0sWorkerConfig default/md-abc (v1beta1): spec.provisioner: pruned: unknown to cabpk0s"))
	g.Expect(migrationcheck.Finding{Kind: "K0sWorkerConfig", Version: "v1alpha1", Severity: migrationcheck.SeverityInvalid, Problem: "p"}.String()).
		To(Equal("K0sWorkerConfig (v1alpha1): invalid: p"))
}
