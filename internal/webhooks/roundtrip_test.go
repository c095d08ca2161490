package webhooks_test

import (
	"context"

	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// everyFieldSpec sets every K0sWorkerConfig field, cabpk0s's additions
// included, to a valid value. format picks the provisioner, because
// customUserDataRef and the ignition settings exclude each other.
func everyFieldSpec(format bootstrapv1.ProvisioningFormat) bootstrapv1.K0sWorkerConfigSpec {
	spec := bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Provisioner:       bootstrapv1.ProvisionerSpec{Type: format, Platform: bootstrapv1.PlatformLinux},
			K0sInstallDir:     "/opt/bin",
			Version:           "v1.33.4-k0s.1",
			UseSystemHostname: true,
			Files: []bootstrapv1.File{
				{Path: "/etc/motd", Content: "hello", Permissions: "0644"},
				{Path: "/etc/secret", Permissions: "0600", ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "s", Key: "k"}}},
				{Path: "/etc/config", ContentFrom: &bootstrapv1.ContentSource{ConfigMapRef: &bootstrapv1.ContentSourceRef{Name: "c", Key: "k"}}},
			},
			Args:            []string{"--debug", "--kubelet-extra-args=--v=2"},
			PreK0sCommands:  []string{"echo pre"},
			PostK0sCommands: []string{"echo post"},
			DownloadURL:     "https://artifacts.example.com/k0s",
			DownloadSHA256:  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			SecretMetadata:  &bootstrapv1.SecretMetadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"note": "b"}},
			WorkingDir:      "/var/lib/cabpk0s",
		},
		Labels:           map[string]string{"node.example.com/pool": "blue", "topology.kubernetes.io/zone": "eu-west-1a", "node.kubernetes.io/pool": "blue"},
		Taints:           []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}},
		KubeletExtraArgs: map[string]string{"max-pods": "110"},
		Profile:          "gpu",
	}
	if format == bootstrapv1.ProvisioningFormatIgnition {
		spec.Provisioner.Ignition = &bootstrapv1.IgnitionSpec{Variant: bootstrapv1.IgnitionVariantFlatcar, Version: "1.1.0", AdditionalConfig: "storage: {}"}
	} else {
		spec.Provisioner.CustomUserDataRef = &bootstrapv1.ContentSource{ConfigMapRef: &bootstrapv1.ContentSourceRef{Name: "extra", Key: "user-data"}}
	}
	return spec
}

// roundTripThroughV1Beta1 reads obj as v1beta1, as an old client would,
// and creates a copy from that v1beta1 representation under newName.
func roundTripThroughV1Beta1(t *testing.T, obj client.Object, kind, newName string) *unstructured.Unstructured {
	t.Helper()
	g := NewWithT(t)
	old := readAs(t, bootstrapv1beta1.GroupVersion.WithKind(kind), obj.GetNamespace(), obj.GetName())
	clone := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": old.GetAPIVersion(),
		"kind":       old.GetKind(),
		"metadata": map[string]any{
			"name":        newName,
			"namespace":   old.GetNamespace(),
			"annotations": old.GetAnnotations(),
		},
		"spec": old.Object["spec"],
	}}
	g.Expect(env.Client.Create(t.Context(), clone, client.FieldValidation("Strict"))).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), clone) })
	return old
}

// TestEveryFieldSurvivesAV1Beta1RoundTrip writes v1beta2 objects using every
// field, reads them as v1beta1, writes that v1beta1 representation back, and
// requires the v1beta2 view to be unchanged, for both kinds.
func TestEveryFieldSurvivesAV1Beta1RoundTrip(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := createNamespace(t, "roundtrip")

	config := &bootstrapv1.K0sWorkerConfig{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "every-field"},
		Spec:       everyFieldSpec(bootstrapv1.ProvisioningFormatCloudConfig),
	}
	g.Expect(env.Client.Create(ctx, config)).To(Succeed())

	old := roundTripThroughV1Beta1(t, config, "K0sWorkerConfig", "every-field-copy")
	// The v1beta1 view uses the k0smotron 1.x names...
	g.Expect(old.Object["spec"]).To(HaveKeyWithValue("preStartCommands", []any{"echo pre"}))
	g.Expect(old.Object["spec"]).To(HaveKeyWithValue("customUserDataRef", HaveKey("configMapRef")))
	// ...and carries what v1beta1 cannot hold in the conversion annotation.
	g.Expect(old.GetAnnotations()).To(HaveKey("cluster.x-k8s.io/conversion-data"))

	copied := &bootstrapv1.K0sWorkerConfig{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "every-field-copy"}, copied)).To(Succeed())
	g.Expect(copied.Spec).To(Equal(config.Spec))
	g.Expect(copied.Annotations).NotTo(HaveKey("cluster.x-k8s.io/conversion-data"))

	template := &bootstrapv1.K0sWorkerConfigTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "every-field"},
		Spec: bootstrapv1.K0sWorkerConfigTemplateSpec{Template: bootstrapv1.K0sWorkerConfigTemplateResource{
			ObjectMeta: clusterv1.ObjectMeta{Labels: map[string]string{"pool": "a"}, Annotations: map[string]string{"note": "b"}},
			Spec:       everyFieldSpec(bootstrapv1.ProvisioningFormatIgnition),
		}},
	}
	g.Expect(env.Client.Create(ctx, template)).To(Succeed())

	oldTemplate := roundTripThroughV1Beta1(t, template, "K0sWorkerConfigTemplate", "every-field-copy")
	g.Expect(oldTemplate.Object["spec"]).To(HaveKeyWithValue("template", HaveKeyWithValue("spec", HaveKey("ignition"))))

	copiedTemplate := &bootstrapv1.K0sWorkerConfigTemplate{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "every-field-copy"}, copiedTemplate)).To(Succeed())
	g.Expect(copiedTemplate.Spec).To(Equal(template.Spec))
}

// TestV1Beta1StatusReadsAsReady checks the field v1beta1-contract consumers
// read: status.ready mirrors status.initialization.dataSecretCreated.
func TestV1Beta1StatusReadsAsReady(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := createNamespace(t, "status")

	config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ready"}}
	g.Expect(env.Client.Create(ctx, config)).To(Succeed())
	config.Status.Initialization.DataSecretCreated = new(true)
	config.Status.DataSecretName = new("ready")
	config.Status.ObservedGeneration = config.Generation
	g.Expect(env.Client.Status().Update(ctx, config)).To(Succeed())

	old := readAs(t, bootstrapv1beta1.GroupVersion.WithKind("K0sWorkerConfig"), ns, "ready")
	g.Expect(old.Object["status"]).To(HaveKeyWithValue("ready", true))
	g.Expect(old.Object["status"]).To(HaveKeyWithValue("dataSecretName", "ready"))
}

func createNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	return ns.Name
}
