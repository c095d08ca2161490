// Package webhooks wires admission validation and v1beta1 <-> v1beta2
// conversion for the cabpk0s kinds into a controller-runtime manager.
package webhooks

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/controller-runtime/pkg/webhook/conversion"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/validation"
)

// +kubebuilder:webhook:verbs=create;update,path=/validate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfig,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigs,versions=v1beta2,name=validation.k0sworkerconfig.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1

// K0sWorkerConfig validates K0sWorkerConfigs and converts them between API versions.
type K0sWorkerConfig struct{}

var _ admission.Validator[*bootstrapv1.K0sWorkerConfig] = &K0sWorkerConfig{}

// K0sWorkerConfigConverter converts K0sWorkerConfigs between v1beta1 and the v1beta2 hub.
var K0sWorkerConfigConverter = conversion.NewHubSpokeConverter(&bootstrapv1.K0sWorkerConfig{},
	conversion.NewSpokeConverter(&bootstrapv1beta1.K0sWorkerConfig{},
		bootstrapv1beta1.ConvertK0sWorkerConfigHubToV1Beta1, bootstrapv1beta1.ConvertK0sWorkerConfigV1Beta1ToHub),
)

// SetupWebhookWithManager registers the validating and conversion webhooks.
func (w *K0sWorkerConfig) SetupWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &bootstrapv1.K0sWorkerConfig{}).
		WithValidator(w).
		WithConverter(K0sWorkerConfigConverter).
		Complete()
}

// ValidateCreate validates a new K0sWorkerConfig.
func (w *K0sWorkerConfig) ValidateCreate(_ context.Context, c *bootstrapv1.K0sWorkerConfig) (admission.Warnings, error) {
	return w.validate(c)
}

// ValidateUpdate validates a changed K0sWorkerConfig. The spec stays
// mutable, as Cluster API's own bootstrap configs are: a Machine's data is
// generated once, so a change only affects data not yet generated.
func (w *K0sWorkerConfig) ValidateUpdate(_ context.Context, _, c *bootstrapv1.K0sWorkerConfig) (admission.Warnings, error) {
	return w.validate(c)
}

// ValidateDelete allows every deletion.
func (w *K0sWorkerConfig) ValidateDelete(context.Context, *bootstrapv1.K0sWorkerConfig) (admission.Warnings, error) {
	return nil, nil
}

func (w *K0sWorkerConfig) validate(c *bootstrapv1.K0sWorkerConfig) (admission.Warnings, error) {
	errs, warnings := validation.Spec(&c.Spec, field.NewPath("spec"))
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(bootstrapv1.GroupVersion.WithKind("K0sWorkerConfig").GroupKind(), c.Name, errs)
	}
	return warnings, nil
}
