package v1beta1

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	utilconversion "sigs.k8s.io/cluster-api/util/conversion"

	"github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// v1beta2 is the hub. Fields v1beta1 cannot hold (the typed additions,
// workingDir, provisioner.platform, observedGeneration, ...) travel in the
// cluster.x-k8s.io/conversion-data annotation, as Cluster API's own types do,
// so that hub -> v1beta1 -> hub is lossless.

// ConvertK0sWorkerConfigV1Beta1ToHub converts a v1beta1 K0sWorkerConfig to v1beta2.
func ConvertK0sWorkerConfigV1Beta1ToHub(_ context.Context, src *K0sWorkerConfig, dst *v1beta2.K0sWorkerConfig) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	convertSpecToHub(&src.Spec, &dst.Spec)
	dst.Status = v1beta2.K0sWorkerConfigStatus{
		Conditions:     src.Status.DeepCopy().Conditions,
		DataSecretName: src.Status.DeepCopy().DataSecretName,
	}

	restored := &v1beta2.K0sWorkerConfig{}
	ok, err := utilconversion.UnmarshalData(dst, restored)
	if err != nil {
		return err
	}
	clusterv1.Convert_bool_To_Pointer_bool(src.Status.Ready, ok, restored.Status.Initialization.DataSecretCreated, &dst.Status.Initialization.DataSecretCreated)
	if ok {
		restoreSpec(&restored.Spec, &dst.Spec)
		dst.Status.ObservedGeneration = restored.Status.ObservedGeneration
	}
	return nil
}

// ConvertK0sWorkerConfigHubToV1Beta1 converts a v1beta2 K0sWorkerConfig to v1beta1.
func ConvertK0sWorkerConfigHubToV1Beta1(ctx context.Context, src *v1beta2.K0sWorkerConfig, dst *K0sWorkerConfig) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	delete(dst.Annotations, utilconversion.DataAnnotation)
	convertSpecFromHub(&src.Spec, &dst.Spec)
	dst.Status = K0sWorkerConfigStatus{
		Ready:          ptr.Deref(src.Status.Initialization.DataSecretCreated, false),
		DataSecretName: src.Status.DeepCopy().DataSecretName,
		Conditions:     src.Status.DeepCopy().Conditions,
	}

	// Only carry the conversion-data annotation when v1beta1 lost something,
	// so a v1beta1 object reads back exactly as it was applied.
	roundTrip := &v1beta2.K0sWorkerConfig{}
	if err := ConvertK0sWorkerConfigV1Beta1ToHub(ctx, dst, roundTrip); err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(src.Spec, roundTrip.Spec) && apiequality.Semantic.DeepEqual(src.Status, roundTrip.Status) {
		return nil
	}
	return utilconversion.MarshalDataUnsafeNoCopy(src, dst)
}

// ConvertK0sWorkerConfigTemplateV1Beta1ToHub converts a v1beta1 K0sWorkerConfigTemplate to v1beta2.
func ConvertK0sWorkerConfigTemplateV1Beta1ToHub(_ context.Context, src *K0sWorkerConfigTemplate, dst *v1beta2.K0sWorkerConfigTemplate) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	meta := src.Spec.Template.ObjectMeta.DeepCopy()
	dst.Spec.Template.ObjectMeta = clusterv1.ObjectMeta{Labels: meta.Labels, Annotations: meta.Annotations}
	convertSpecToHub(&src.Spec.Template.Spec, &dst.Spec.Template.Spec)

	restored := &v1beta2.K0sWorkerConfigTemplate{}
	ok, err := utilconversion.UnmarshalData(dst, restored)
	if err != nil {
		return err
	}
	if ok {
		restoreSpec(&restored.Spec.Template.Spec, &dst.Spec.Template.Spec)
	}
	return nil
}

// ConvertK0sWorkerConfigTemplateHubToV1Beta1 converts a v1beta2 K0sWorkerConfigTemplate to v1beta1.
func ConvertK0sWorkerConfigTemplateHubToV1Beta1(ctx context.Context, src *v1beta2.K0sWorkerConfigTemplate, dst *K0sWorkerConfigTemplate) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	delete(dst.Annotations, utilconversion.DataAnnotation)
	meta := src.Spec.Template.ObjectMeta.DeepCopy()
	dst.Spec.Template.ObjectMeta.Labels = meta.Labels
	dst.Spec.Template.ObjectMeta.Annotations = meta.Annotations
	convertSpecFromHub(&src.Spec.Template.Spec, &dst.Spec.Template.Spec)

	roundTrip := &v1beta2.K0sWorkerConfigTemplate{}
	if err := ConvertK0sWorkerConfigTemplateV1Beta1ToHub(ctx, dst, roundTrip); err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(src.Spec, roundTrip.Spec) {
		return nil
	}
	return utilconversion.MarshalDataUnsafeNoCopy(src, dst)
}

// restoreSpec copies back the worker fields v1beta1 has no place for.
func restoreSpec(restored, dst *v1beta2.K0sWorkerConfigSpec) {
	restoreInstall(&restored.K0sInstallSpec, &dst.K0sInstallSpec)
	dst.WorkingDir = restored.WorkingDir
	dst.Labels = restored.Labels
	dst.Taints = restored.Taints
	dst.KubeletExtraArgs = restored.KubeletExtraArgs
	dst.Profile = restored.Profile
}

// restoreInstall copies back the shared fields v1beta1 has no place for.
func restoreInstall(restored, dst *v1beta2.K0sInstallSpec) {
	// v1beta1 implies the type from the presence of ignition settings. Keep
	// the stored type while that presence is unchanged; if a v1beta1 client
	// added or removed the ignition settings, the implied type wins.
	if (restored.Provisioner.Ignition != nil) == (dst.Provisioner.Ignition != nil) {
		dst.Provisioner.Type = restored.Provisioner.Type
	}
	dst.Provisioner.Platform = restored.Provisioner.Platform
	dst.DownloadSHA256 = restored.DownloadSHA256
}

func convertSpecToHub(src *K0sWorkerConfigSpec, dst *v1beta2.K0sWorkerConfigSpec) {
	*dst = v1beta2.K0sWorkerConfigSpec{}
	installToHub(&src.K0sInstallSpec, &dst.K0sInstallSpec)
	if md := src.SecretMetadata.DeepCopy(); md != nil {
		dst.SecretMetadata = &v1beta2.SecretMetadata{Labels: md.Labels, Annotations: md.Annotations}
	}
}

func convertSpecFromHub(src *v1beta2.K0sWorkerConfigSpec, dst *K0sWorkerConfigSpec) {
	*dst = K0sWorkerConfigSpec{}
	installFromHub(&src.K0sInstallSpec, &dst.K0sInstallSpec)
	if md := src.SecretMetadata.DeepCopy(); md != nil {
		dst.SecretMetadata = &SecretMetadata{Labels: md.Labels, Annotations: md.Annotations}
	}
}

// installToHub converts the shared fields; workingDir and secretMetadata,
// which v1beta1 holds on one kind each, are left to the kind's conversion.
func installToHub(src *K0sInstallSpec, dst *v1beta2.K0sInstallSpec) {
	in := src.DeepCopy()
	*dst = v1beta2.K0sInstallSpec{
		K0sInstallDir:     in.K0sInstallDir,
		Version:           in.Version,
		UseSystemHostname: in.UseSystemHostname,
		Args:              in.Args,
		PreK0sCommands:    in.PreStartCommands,
		PostK0sCommands:   in.PostStartCommands,
		PreInstalledK0s:   in.PreInstalledK0s,
		DownloadURL:       in.DownloadURL,
	}
	if in.Ignition != nil {
		dst.Provisioner.Type = v1beta2.ProvisioningFormatIgnition
		dst.Provisioner.Ignition = &v1beta2.IgnitionSpec{
			Variant:          v1beta2.IgnitionVariant(in.Ignition.Variant),
			Version:          in.Ignition.Version,
			AdditionalConfig: in.Ignition.AdditionalConfig,
		}
	}
	dst.Provisioner.CustomUserDataRef = contentSourceToHub(in.CustomUserDataRef)
	if in.Files != nil {
		dst.Files = make([]v1beta2.File, len(in.Files))
		for i, f := range in.Files {
			dst.Files[i] = v1beta2.File{Path: f.Path, Content: f.Content, Permissions: f.Permissions, ContentFrom: contentSourceToHub(f.ContentFrom)}
		}
	}
}

func installFromHub(src *v1beta2.K0sInstallSpec, dst *K0sInstallSpec) {
	in := src.DeepCopy()
	*dst = K0sInstallSpec{
		K0sInstallDir:     in.K0sInstallDir,
		Version:           in.Version,
		UseSystemHostname: in.UseSystemHostname,
		Args:              in.Args,
		PreStartCommands:  in.PreK0sCommands,
		PostStartCommands: in.PostK0sCommands,
		PreInstalledK0s:   in.PreInstalledK0s,
		DownloadURL:       in.DownloadURL,
	}
	if ign := in.Provisioner.Ignition; ign != nil {
		dst.Ignition = &IgnitionSpec{Variant: string(ign.Variant), Version: ign.Version, AdditionalConfig: ign.AdditionalConfig}
	}
	dst.CustomUserDataRef = contentSourceFromHub(in.Provisioner.CustomUserDataRef)
	if in.Files != nil {
		dst.Files = make([]File, len(in.Files))
		for i, f := range in.Files {
			dst.Files[i] = File{Path: f.Path, Content: f.Content, Permissions: f.Permissions, ContentFrom: contentSourceFromHub(f.ContentFrom)}
		}
	}
}

func contentSourceToHub(in *ContentSource) *v1beta2.ContentSource {
	if in == nil {
		return nil
	}
	out := &v1beta2.ContentSource{}
	if in.SecretRef != nil {
		out.SecretRef = &v1beta2.ContentSourceRef{Name: in.SecretRef.Name, Key: in.SecretRef.Key}
	}
	if in.ConfigMapRef != nil {
		out.ConfigMapRef = &v1beta2.ContentSourceRef{Name: in.ConfigMapRef.Name, Key: in.ConfigMapRef.Key}
	}
	return out
}

func contentSourceFromHub(in *v1beta2.ContentSource) *ContentSource {
	if in == nil {
		return nil
	}
	out := &ContentSource{}
	if in.SecretRef != nil {
		out.SecretRef = &ContentSourceRef{Name: in.SecretRef.Name, Key: in.SecretRef.Key}
	}
	if in.ConfigMapRef != nil {
		out.ConfigMapRef = &ContentSourceRef{Name: in.ConfigMapRef.Name, Key: in.ConfigMapRef.Key}
	}
	return out
}
