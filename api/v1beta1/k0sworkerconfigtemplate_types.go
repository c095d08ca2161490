package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// K0sWorkerConfigTemplateSpec holds the template configs are stamped from.
type K0sWorkerConfigTemplateSpec struct {
	// template is the K0sWorkerConfig every stamped config starts from.
	// +optional
	Template K0sWorkerConfigTemplateResource `json:"template,omitempty,omitzero"`
}

// ObjectMeta is the metadata a template copies to each stamped config.
type ObjectMeta struct {
	// labels are copied to each stamped config.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are copied to each stamped config.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// K0sWorkerConfigTemplateResource is the metadata and spec of stamped configs.
type K0sWorkerConfigTemplateResource struct {
	// metadata holds labels and annotations copied to each stamped config.
	// +optional
	ObjectMeta ObjectMeta `json:"metadata,omitempty,omitzero"`

	// spec is copied to each stamped config.
	// +optional
	Spec K0sWorkerConfigSpec `json:"spec,omitempty,omitzero"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=k0sworkerconfigtemplates,scope=Namespaced,categories=cluster-api
// +kubebuilder:deprecatedversion
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// K0sWorkerConfigTemplate is the template a MachineDeployment, MachineSet or
// MachinePool uses to create one K0sWorkerConfig per machine.
//
// Deprecated: use bootstrap.cluster.x-k8s.io/v1beta2.
type K0sWorkerConfigTemplate struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the template.
	// +optional
	Spec K0sWorkerConfigTemplateSpec `json:"spec,omitempty,omitzero"`
}

// +kubebuilder:object:root=true

// K0sWorkerConfigTemplateList is a list of K0sWorkerConfigTemplates.
type K0sWorkerConfigTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the templates.
	Items []K0sWorkerConfigTemplate `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &K0sWorkerConfigTemplate{}, &K0sWorkerConfigTemplateList{})
}
