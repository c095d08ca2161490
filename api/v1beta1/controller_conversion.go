package v1beta1

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	utilconversion "sigs.k8s.io/cluster-api/util/conversion"

	"github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// ConvertK0sControllerConfigV1Beta1ToHub converts a v1beta1 K0sControllerConfig to v1beta2.
func ConvertK0sControllerConfigV1Beta1ToHub(_ context.Context, src *K0sControllerConfig, dst *v1beta2.K0sControllerConfig) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	controllerSpecToHub(&src.Spec, &dst.Spec)
	dst.Status = v1beta2.K0sControllerConfigStatus{
		Conditions:     src.Status.DeepCopy().Conditions,
		DataSecretName: src.Status.DeepCopy().DataSecretName,
	}

	restored := &v1beta2.K0sControllerConfig{}
	ok, err := utilconversion.UnmarshalData(dst, restored)
	if err != nil {
		return err
	}
	clusterv1.Convert_bool_To_Pointer_bool(src.Status.Ready, ok, restored.Status.Initialization.DataSecretCreated, &dst.Status.Initialization.DataSecretCreated)
	if ok {
		restoreInstall(&restored.Spec.K0sInstallSpec, &dst.Spec.K0sInstallSpec)
		dst.Spec.SecretMetadata = restored.Spec.SecretMetadata
		dst.Status.ObservedGeneration = restored.Status.ObservedGeneration
	}
	return nil
}

// ConvertK0sControllerConfigHubToV1Beta1 converts a v1beta2 K0sControllerConfig to v1beta1.
func ConvertK0sControllerConfigHubToV1Beta1(ctx context.Context, src *v1beta2.K0sControllerConfig, dst *K0sControllerConfig) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	delete(dst.Annotations, utilconversion.DataAnnotation)
	controllerSpecFromHub(&src.Spec, &dst.Spec)
	dst.Status = K0sControllerConfigStatus{
		Ready:          ptr.Deref(src.Status.Initialization.DataSecretCreated, false),
		DataSecretName: src.Status.DeepCopy().DataSecretName,
		Conditions:     src.Status.DeepCopy().Conditions,
	}

	// As for workers: the annotation only when v1beta1 lost something.
	roundTrip := &v1beta2.K0sControllerConfig{}
	if err := ConvertK0sControllerConfigV1Beta1ToHub(ctx, dst, roundTrip); err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(src.Spec, roundTrip.Spec) && apiequality.Semantic.DeepEqual(src.Status, roundTrip.Status) {
		return nil
	}
	return utilconversion.MarshalDataUnsafeNoCopy(src, dst)
}

func controllerSpecToHub(src *K0sControllerConfigSpec, dst *v1beta2.K0sControllerConfigSpec) {
	in := src.DeepCopy()
	*dst = v1beta2.K0sControllerConfigSpec{
		K0s: in.K0s,
		Tunneling: v1beta2.TunnelingSpec{
			Enabled:           in.Tunneling.Enabled,
			ServerAddress:     in.Tunneling.ServerAddress,
			ServerNodePort:    in.Tunneling.ServerNodePort,
			TunnelingNodePort: in.Tunneling.TunnelingNodePort,
			Mode:              v1beta2.TunnelingMode(in.Tunneling.Mode),
		},
	}
	installToHub(&in.K0sInstallSpec, &dst.K0sInstallSpec)
	dst.WorkingDir = in.WorkingDir
}

func controllerSpecFromHub(src *v1beta2.K0sControllerConfigSpec, dst *K0sControllerConfigSpec) {
	in := src.DeepCopy()
	*dst = K0sControllerConfigSpec{
		K0s:        in.K0s,
		WorkingDir: in.WorkingDir,
		Tunneling: TunnelingSpec{
			Enabled:           in.Tunneling.Enabled,
			ServerAddress:     in.Tunneling.ServerAddress,
			ServerNodePort:    in.Tunneling.ServerNodePort,
			TunnelingNodePort: in.Tunneling.TunnelingNodePort,
			Mode:              string(in.Tunneling.Mode),
		},
	}
	installFromHub(&in.K0sInstallSpec, &dst.K0sInstallSpec)
}
