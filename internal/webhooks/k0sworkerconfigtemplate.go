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

// +kubebuilder:webhook:verbs=create;update,path=/validate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfigtemplate,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigtemplates,versions=v1beta2,name=validation.k0sworkerconfigtemplate.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1

// K0sWorkerConfigTemplate validates K0sWorkerConfigTemplates and converts
// them between API versions.
//
// There is no defaulting webhook: no field has a persisted default (defaults
// apply when the bootstrap data is rendered), so ClusterClass server-side
// apply dry-runs see exactly what they send and never detect a diff that
// would trigger a rollout, and v1beta1 objects read back as applied.
type K0sWorkerConfigTemplate struct{}

var _ admission.Validator[*bootstrapv1.K0sWorkerConfigTemplate] = &K0sWorkerConfigTemplate{}

// K0sWorkerConfigTemplateConverter converts K0sWorkerConfigTemplates between
// v1beta1 and the v1beta2 hub.
var K0sWorkerConfigTemplateConverter = conversion.NewHubSpokeConverter(&bootstrapv1.K0sWorkerConfigTemplate{},
	conversion.NewSpokeConverter(&bootstrapv1beta1.K0sWorkerConfigTemplate{},
		bootstrapv1beta1.ConvertK0sWorkerConfigTemplateHubToV1Beta1, bootstrapv1beta1.ConvertK0sWorkerConfigTemplateV1Beta1ToHub),
)

// SetupWebhookWithManager registers the validating and conversion webhooks.
func (w *K0sWorkerConfigTemplate) SetupWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &bootstrapv1.K0sWorkerConfigTemplate{}).
		WithValidator(w).
		WithConverter(K0sWorkerConfigTemplateConverter).
		Complete()
}

// ValidateCreate validates a new K0sWorkerConfigTemplate.
func (w *K0sWorkerConfigTemplate) ValidateCreate(_ context.Context, t *bootstrapv1.K0sWorkerConfigTemplate) (admission.Warnings, error) {
	return w.validate(t)
}

// ValidateUpdate validates a changed K0sWorkerConfigTemplate. Like Cluster
// API's own templates it stays mutable; a changed template affects Machines
// created afterwards.
func (w *K0sWorkerConfigTemplate) ValidateUpdate(_ context.Context, _, t *bootstrapv1.K0sWorkerConfigTemplate) (admission.Warnings, error) {
	return w.validate(t)
}

// ValidateDelete allows every deletion.
func (w *K0sWorkerConfigTemplate) ValidateDelete(context.Context, *bootstrapv1.K0sWorkerConfigTemplate) (admission.Warnings, error) {
	return nil, nil
}

func (w *K0sWorkerConfigTemplate) validate(t *bootstrapv1.K0sWorkerConfigTemplate) (admission.Warnings, error) {
	tpl := field.NewPath("spec", "template")
	errs, warnings := validation.Spec(&t.Spec.Template.Spec, tpl.Child("spec"))
	errs = append(errs, t.Spec.Template.ObjectMeta.Validate(tpl.Child("metadata"))...)
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(bootstrapv1.GroupVersion.WithKind("K0sWorkerConfigTemplate").GroupKind(), t.Name, errs)
	}
	return warnings, nil
}

// Setup registers every cabpk0s webhook with the manager.
func Setup(mgr ctrl.Manager) error {
	if err := (&K0sWorkerConfig{}).SetupWebhookWithManager(mgr); err != nil {
		return err
	}
	return (&K0sWorkerConfigTemplate{}).SetupWebhookWithManager(mgr)
}
