// Package v1beta1 contains the deprecated v1beta1 version of the cabpk0s API,
// with k0smotron 1.x field names (preStartCommands, postStartCommands,
// top-level ignition and customUserDataRef, status.ready). It converts
// losslessly to and from the v1beta2 hub.
// +kubebuilder:object:generate=true
// +groupName=bootstrap.cluster.x-k8s.io
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta1"}

	// schemeBuilder collects the functions that add this version's types to a scheme.
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this version's types to a scheme.
	AddToScheme = schemeBuilder.AddToScheme

	// objectTypes is filled by the init functions of the type files.
	objectTypes = []runtime.Object{}
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, objectTypes...)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
