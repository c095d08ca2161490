// Package webhooks wires admission validation and v1beta1 <-> v1beta2
// conversion for the cabpk0s kinds (K0sWorkerConfig, its template, and
// K0sControllerConfig) into a controller-runtime manager, and the one
// mutation: a config being created gets its join token ID and finalizer
// (see tokenReservation).
//
// No spec field is defaulted: defaults apply when the bootstrap data is
// rendered, so ClusterClass server-side apply dry-runs see exactly what
// they send and never detect a diff that would trigger a rollout, and
// v1beta1 objects read back as applied.
package webhooks

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/controller-runtime/pkg/webhook/conversion"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/validation"
)

// +kubebuilder:webhook:verbs=create;update,path=/validate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfig,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigs,versions=v1beta2,name=validation.k0sworkerconfig.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1
// +kubebuilder:webhook:verbs=create;update,path=/validate-bootstrap-cluster-x-k8s-io-v1beta2-k0scontrollerconfig,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0scontrollerconfigs,versions=v1beta2,name=validation.k0scontrollerconfig.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1
// +kubebuilder:webhook:verbs=create;update,path=/validate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfigtemplate,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigtemplates,versions=v1beta2,name=validation.k0sworkerconfigtemplate.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1

// K0sWorkerConfigConverter converts K0sWorkerConfigs between v1beta1 and the v1beta2 hub.
var K0sWorkerConfigConverter = conversion.NewHubSpokeConverter(&bootstrapv1.K0sWorkerConfig{},
	conversion.NewSpokeConverter(&bootstrapv1beta1.K0sWorkerConfig{},
		bootstrapv1beta1.ConvertK0sWorkerConfigHubToV1Beta1, bootstrapv1beta1.ConvertK0sWorkerConfigV1Beta1ToHub),
)

// K0sWorkerConfigTemplateConverter converts K0sWorkerConfigTemplates between
// v1beta1 and the v1beta2 hub.
var K0sWorkerConfigTemplateConverter = conversion.NewHubSpokeConverter(&bootstrapv1.K0sWorkerConfigTemplate{},
	conversion.NewSpokeConverter(&bootstrapv1beta1.K0sWorkerConfigTemplate{},
		bootstrapv1beta1.ConvertK0sWorkerConfigTemplateHubToV1Beta1, bootstrapv1beta1.ConvertK0sWorkerConfigTemplateV1Beta1ToHub),
)

// K0sControllerConfigConverter converts K0sControllerConfigs between v1beta1
// and the v1beta2 hub.
var K0sControllerConfigConverter = conversion.NewHubSpokeConverter(&bootstrapv1.K0sControllerConfig{},
	conversion.NewSpokeConverter(&bootstrapv1beta1.K0sControllerConfig{},
		bootstrapv1beta1.ConvertK0sControllerConfigHubToV1Beta1, bootstrapv1beta1.ConvertK0sControllerConfigV1Beta1ToHub),
)

// Scope is what the manager serving the webhooks reconciles: its
// --namespace and --watch-filter. A config it will never reconcile gets no
// join token reservation, whose finalizer only its controller removes.
type Scope struct {
	Namespace        string
	WatchFilterValue string
}

// Setup registers the validating and conversion webhooks of every kind,
// and the configs' token reservation for the configs in scope.
func Setup(mgr ctrl.Manager, scope Scope) error {
	server := mgr.GetWebhookServer()
	server.Register(workerReservationPath, &webhook.Admission{Handler: tokenReservation{scope: scope, finalizer: bootstrapv1.WorkerJoinTokenFinalizer}})
	server.Register(controllerReservationPath, &webhook.Admission{Handler: tokenReservation{scope: scope, finalizer: bootstrapv1.ControllerJoinTokenFinalizer}})
	if err := ctrl.NewWebhookManagedBy(mgr, &bootstrapv1.K0sControllerConfig{}).
		WithValidator(specValidator[*bootstrapv1.K0sControllerConfig]{kind: "K0sControllerConfig", validate: ValidateControllerConfig,
			sameSpec: func(old, obj *bootstrapv1.K0sControllerConfig) bool {
				return equality.Semantic.DeepEqual(old.Spec, obj.Spec)
			}}).
		WithConverter(K0sControllerConfigConverter).
		Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &bootstrapv1.K0sWorkerConfig{}).
		WithValidator(specValidator[*bootstrapv1.K0sWorkerConfig]{kind: "K0sWorkerConfig", validate: ValidateConfig,
			sameSpec: func(old, obj *bootstrapv1.K0sWorkerConfig) bool {
				return equality.Semantic.DeepEqual(old.Spec, obj.Spec)
			}}).
		WithConverter(K0sWorkerConfigConverter).
		Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &bootstrapv1.K0sWorkerConfigTemplate{}).
		WithValidator(specValidator[*bootstrapv1.K0sWorkerConfigTemplate]{kind: "K0sWorkerConfigTemplate", validate: ValidateTemplate,
			sameSpec: func(old, obj *bootstrapv1.K0sWorkerConfigTemplate) bool {
				return equality.Semantic.DeepEqual(old.Spec, obj.Spec)
			}}).
		WithConverter(K0sWorkerConfigTemplateConverter).
		Complete()
}

// ValidateConfig is the admission check of a K0sWorkerConfig: the errors
// refuse it, the warnings are returned to the client. `cabpk0s
// check-migration` runs it on stored objects before a switch.
func ValidateConfig(c *bootstrapv1.K0sWorkerConfig) (field.ErrorList, []string) {
	return validation.Spec(&c.Spec, field.NewPath("spec"))
}

// ValidateControllerConfig is the admission check of a K0sControllerConfig.
func ValidateControllerConfig(c *bootstrapv1.K0sControllerConfig) (field.ErrorList, []string) {
	return validation.ControllerSpec(&c.Spec, field.NewPath("spec"))
}

// ValidateTemplate is the admission check of a K0sWorkerConfigTemplate:
// its config spec and the metadata it stamps.
func ValidateTemplate(t *bootstrapv1.K0sWorkerConfigTemplate) (field.ErrorList, []string) {
	tpl := field.NewPath("spec", "template")
	errs, warnings := validation.Spec(&t.Spec.Template.Spec, tpl.Child("spec"))
	return append(errs, t.Spec.Template.ObjectMeta.Validate(tpl.Child("metadata"))...), warnings
}

// specValidator admits an object of one kind when validate finds nothing
// wrong. The spec stays mutable, as Cluster API's own bootstrap configs and
// templates are: a Machine's data is generated once, so a changed config
// only affects data not yet generated, and a changed template only Machines
// created afterwards. Deletion is always allowed.
type specValidator[T client.Object] struct {
	kind     string
	validate func(T) (field.ErrorList, []string)
	// sameSpec tells an update that leaves the spec alone.
	sameSpec func(old, obj T) bool
}

var (
	_ admission.Validator[*bootstrapv1.K0sWorkerConfig]         = specValidator[*bootstrapv1.K0sWorkerConfig]{}
	_ admission.Validator[*bootstrapv1.K0sWorkerConfigTemplate] = specValidator[*bootstrapv1.K0sWorkerConfigTemplate]{}
	_ admission.Validator[*bootstrapv1.K0sControllerConfig]     = specValidator[*bootstrapv1.K0sControllerConfig]{}
)

// ValidateCreate validates a new object.
func (v specValidator[T]) ValidateCreate(_ context.Context, obj T) (admission.Warnings, error) {
	return v.check(obj)
}

// ValidateUpdate validates a changed spec. An update that leaves the spec
// as it is (metadata: the controller's token ID and finalizer, a user's
// labels) and any update of an object being deleted pass: a rule added in a
// later release must never keep an object stored under an older one from
// being looked after or from going.
func (v specValidator[T]) ValidateUpdate(_ context.Context, old, obj T) (admission.Warnings, error) {
	if !obj.GetDeletionTimestamp().IsZero() || v.sameSpec(old, obj) {
		return nil, nil
	}
	return v.check(obj)
}

// ValidateDelete allows every deletion.
func (v specValidator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}

func (v specValidator[T]) check(obj T) (admission.Warnings, error) {
	errs, warnings := v.validate(obj)
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(bootstrapv1.GroupVersion.WithKind(v.kind).GroupKind(), obj.GetName(), errs)
	}
	return warnings, nil
}
