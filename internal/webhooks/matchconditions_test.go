package webhooks_test

import (
	"testing"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

const configValidationPath = "/validate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfig"

// validationCalls is how many admission requests the in-process webhook
// server has answered on path: controller-runtime counts each one.
func validationCalls(g Gomega, path string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_webhook_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "webhook") == path {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestOnlyCreatesAndSpecChangesCallTheWebhook: the API server calls the
// validating webhook for a new config and a changed spec, and not for an
// update of metadata or status (cabpk0s's token ID and finalizer, Cluster
// API's owner references): those the validator admits anyway, and each
// call would add a round trip to every config cabpk0s bootstraps. The
// count is the webhook server's own, so a condition the API server does
// not apply fails here.
func TestOnlyCreatesAndSpecChangesCallTheWebhook(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := createNamespace(t, "match-conditions")

	before := validationCalls(g, configValidationPath)
	config := &bootstrapv1.K0sWorkerConfig{}
	config.Namespace, config.Name = ns, "counted"
	config.Spec.Version = "v1.33.1+k0s.0"
	g.Expect(env.Client.Create(ctx, config)).To(Succeed())
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(before+1), "a create is validated")

	patch := client.MergeFrom(config.DeepCopy())
	config.Annotations = map[string]string{"bootstrap.cluster.x-k8s.io/k0s-join-token-id": "abcdef"}
	config.Finalizers = []string{"k0sworkerconfig.bootstrap.cluster.x-k8s.io/join-token"}
	g.Expect(env.Client.Patch(ctx, config, patch)).To(Succeed())
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(before+1), "a metadata update is not sent to the webhook")

	patch = client.MergeFrom(config.DeepCopy())
	config.Status.Initialization.DataSecretCreated = ptr.To(true)
	g.Expect(env.Client.Status().Patch(ctx, config, patch)).To(Succeed())
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(before+1), "a status update is not sent to the webhook")

	// A v1beta1 client's metadata update reaches the webhook (if at all)
	// converted to v1beta2 (matchPolicy Equivalent): its spec is the same.
	old := &bootstrapv1beta1.K0sWorkerConfig{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(config), old)).To(Succeed())
	patch = client.MergeFrom(old.DeepCopy())
	old.Labels = map[string]string{"team": "platform"}
	g.Expect(env.Client.Patch(ctx, old, patch)).To(Succeed())
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(before+1), "a v1beta1 metadata update is not sent to the webhook")

	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(config), config)).To(Succeed())
	patch = client.MergeFrom(config.DeepCopy())
	config.Spec.Files = []bootstrapv1.File{{Path: "/etc//motd", Content: "x"}}
	g.Expect(env.Client.Patch(ctx, config, patch)).To(MatchError(ContainSubstring("spec.files[0].path")), "a changed spec is validated")
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(before + 2))

	// An empty spec is not serialised at all: the condition must still
	// evaluate, or every update of such a config would fail.
	empty := &bootstrapv1.K0sWorkerConfig{}
	empty.Namespace, empty.Name = ns, "empty-spec"
	g.Expect(env.Client.Create(ctx, empty)).To(Succeed())
	calls := validationCalls(g, configValidationPath)
	patch = client.MergeFrom(empty.DeepCopy())
	empty.Finalizers = []string{"k0sworkerconfig.bootstrap.cluster.x-k8s.io/join-token"}
	g.Expect(env.Client.Patch(ctx, empty, patch)).To(Succeed(), "a metadata update of a config with an empty spec")
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(calls))
	patch = client.MergeFrom(empty.DeepCopy())
	empty.Spec.Version = "v1.33.1+k0s.0"
	g.Expect(env.Client.Patch(ctx, empty, patch)).To(Succeed(), "a first spec field on an empty spec")
	g.Expect(validationCalls(g, configValidationPath)).To(Equal(calls + 1))
	patch = client.MergeFrom(empty.DeepCopy())
	empty.Finalizers = nil
	g.Expect(env.Client.Patch(ctx, empty, patch)).To(Succeed())
}
