package webhooks_test

import (
	"context"

	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// readSamples returns every object of config/samples, the seed document's
// manifests, exactly as a user would apply them.
func readSamples(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, name := range []string{"machine.yaml", "awsmachine.yaml", "machinedeployment.yaml", "awsmachinetemplate.yaml"} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", name))
		if err != nil {
			t.Fatal(err)
		}
		docs, err := utilyaml.ToUnstructured(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range docs {
			objs = append(objs, &docs[i])
		}
	}
	return objs
}

// TestSeedManifestsApplyVerbatim applies the seed's manifests unchanged next
// to Cluster API's and CAPA's CRDs, then reads the bootstrap objects back in
// both API versions.
func TestSeedManifestsApplyVerbatim(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()

	applied := map[string]*unstructured.Unstructured{}
	for _, obj := range readSamples(t) {
		applied[obj.GetKind()] = obj.DeepCopy()
		// Strict field validation, as kubectl apply does by default: an
		// unknown field would be an error, not silently dropped.
		err := env.Client.Create(ctx, obj, client.FieldValidation("Strict"))
		if obj.GetKind() == "AWSMachineTemplate" {
			// The seed elides the AWSMachineTemplate's spec.template.spec
			// ("More details ... can be set here"), and CAPA's own schema
			// requires it: a real CAPA installation refuses this object too.
			// Pin that down, and show CAPA's one required field is all it lacks.
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "CAPA should reject the placeholder: %v", err)
			g.Expect(err.Error()).To(ContainSubstring("spec.template.spec: Required value"))
			g.Expect(unstructured.SetNestedMap(obj.Object, map[string]any{"instanceType": "t3.large"}, "spec", "template", "spec")).To(Succeed())
			err = env.Client.Create(ctx, obj, client.FieldValidation("Strict"))
		}
		g.Expect(err).NotTo(HaveOccurred(), "creating %s %s", obj.GetKind(), obj.GetName())
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	}
	g.Expect(applied).To(HaveLen(6))

	// The config reads back as v1beta2 with the same meaning...
	config := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "machine-test-config"}, config)).To(Succeed())
	g.Expect(config.Spec).To(Equal(bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.27.2+k0s.0"}}))

	template := &bootstrapv1.K0sWorkerConfigTemplate{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "md-test-config"}, template)).To(Succeed())
	g.Expect(template.Spec.Template.Spec).To(Equal(bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Version: "v1.27.2+k0s.0"}}))

	// ...and as v1beta1 identical to what was applied.
	for _, kind := range []string{"K0sWorkerConfig", "K0sWorkerConfigTemplate"} {
		want := applied[kind]
		got := readAs(t, want.GroupVersionKind(), want.GetNamespace(), want.GetName())
		g.Expect(got.Object["spec"]).To(Equal(want.Object["spec"]), kind)
		g.Expect(got.GetLabels()).To(Equal(want.GetLabels()), kind)
		annotations := got.GetAnnotations()
		if kind == "K0sWorkerConfig" {
			// Besides what was applied, the token ID reserved at creation.
			g.Expect(annotations).To(HaveKeyWithValue(bootstrapv1.JoinTokenIDAnnotation, MatchRegexp(tokenID.String())))
			delete(annotations, bootstrapv1.JoinTokenIDAnnotation)
			if len(annotations) == 0 {
				annotations = nil
			}
		}
		g.Expect(annotations).To(Equal(want.GetAnnotations()), kind)
	}

	// The v1beta1 Machine's references reach storage with their API groups
	// (the conversion webhook really ran) and read back unchanged.
	machine := &clusterv1.Machine{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "machine-test-0"}, machine)).To(Succeed())
	g.Expect(machine.Spec.Bootstrap.ConfigRef).To(Equal(clusterv1.ContractVersionedObjectReference{
		APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: "machine-test-config",
	}))
	g.Expect(machine.Spec.InfrastructureRef.APIGroup).To(Equal("infrastructure.cluster.x-k8s.io"))
	// Read back as v1beta1, Cluster API rewrites each reference to the
	// apiVersion the referenced CRD's contract label names (v1beta2 for
	// ours, from CAPA's v1beta1-contract label for AWS), keeping group,
	// kind and name: the same object, as CAPI's own conversion defines it.
	wantAPIVersion := map[string]string{
		"K0sWorkerConfig":         "bootstrap.cluster.x-k8s.io/v1beta2",
		"K0sWorkerConfigTemplate": "bootstrap.cluster.x-k8s.io/v1beta2",
		"AWSMachine":              "infrastructure.cluster.x-k8s.io/v1beta2",
		"AWSMachineTemplate":      "infrastructure.cluster.x-k8s.io/v1beta2",
	}
	for _, kind := range []string{"Machine", "MachineDeployment"} {
		want := applied[kind]
		got := readAs(t, want.GroupVersionKind(), want.GetNamespace(), want.GetName())
		for _, path := range [][]string{{"spec", "bootstrap", "configRef"}, {"spec", "template", "spec", "bootstrap", "configRef"}, {"spec", "infrastructureRef"}, {"spec", "template", "spec", "infrastructureRef"}} {
			wantRef, found, _ := unstructured.NestedStringMap(want.Object, path...)
			if !found {
				continue
			}
			gotRef, _, _ := unstructured.NestedStringMap(got.Object, path...)
			g.Expect(gotRef).To(HaveKeyWithValue("apiVersion", wantAPIVersion[wantRef["kind"]]), "%s %v", kind, path)
			g.Expect(gotRef).To(HaveKeyWithValue("kind", wantRef["kind"]), "%s %v", kind, path)
			g.Expect(gotRef).To(HaveKeyWithValue("name", wantRef["name"]), "%s %v", kind, path)
		}
	}

	md := &clusterv1.MachineDeployment{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "md-test"}, md)).To(Succeed())
	g.Expect(md.Spec.Template.Spec.Bootstrap.ConfigRef).To(Equal(clusterv1.ContractVersionedObjectReference{
		APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfigTemplate", Name: "md-test-config",
	}))
}

// readAs reads an object in the given API version, as a client of that
// version would see it.
func readAs(t *testing.T, gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		t.Fatalf("reading %s %s/%s: %v", gvk, namespace, name, err)
	}
	return u
}
