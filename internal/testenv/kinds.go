package testenv

import (
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/test/builder"
)

// The kinds of other providers the management clusters serve: CAPA's (real
// CRDs, see CAPACRDs) and control plane stand-ins.
var (
	AWSClusterGVK         = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSCluster"}
	AWSMachineGVK         = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachine"}
	AWSMachineTemplateGVK = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachineTemplate"}
	// AWSMachinePoolGVK is CAPA's machine pool kind (an EC2 Auto Scaling group).
	AWSMachinePoolGVK = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachinePool"}

	// GenericControlPlaneGVK is Cluster API's test stand-in control plane.
	GenericControlPlaneGVK = builder.ControlPlaneGroupVersion.WithKind(builder.GenericControlPlaneKind)
	// K0smotronControlPlaneGVK is the kind of k0smotron's hosted control
	// plane, which K0smotronControlPlaneCRD stands in for.
	K0smotronControlPlaneGVK = schema.GroupVersionKind{Group: "controlplane.cluster.x-k8s.io", Version: "v1beta2", Kind: "K0smotronControlPlane"}
	// K0sControlPlaneGVK is the kind of k0smotron's machine-based control
	// plane, which K0sControlPlaneCRD stands in for.
	K0sControlPlaneGVK = schema.GroupVersionKind{Group: "controlplane.cluster.x-k8s.io", Version: "v1beta2", Kind: "K0sControlPlane"}
	// ControlNodeGVK is k0s autopilot's record of a running controller,
	// cluster-scoped, named after the controller (AUTOPILOT_HOSTNAME).
	ControlNodeGVK = schema.GroupVersionKind{Group: "autopilot.k0sproject.io", Version: "v1beta2", Kind: "ControlNode"}
)

// K0sControlPlaneCRD is a stand-in CRD for k0smotron's K0sControlPlane:
// the same group, kind and contract label, any spec.
func K0sControlPlaneCRD() *apiextensionsv1.CustomResourceDefinition {
	crd := OpenSchemaCRD(K0sControlPlaneGVK, "k0scontrolplanes")
	crd.Labels = map[string]string{clusterv1.GroupVersion.String(): K0sControlPlaneGVK.Version}
	crd.Spec.Names.Categories = []string{"cluster-api"}
	return crd
}

// ControlNodeCRD is a stand-in CRD for k0s autopilot's ControlNode, which
// a workload cluster's controllers create for themselves.
func ControlNodeCRD() *apiextensionsv1.CustomResourceDefinition {
	crd := OpenSchemaCRD(ControlNodeGVK, "controlnodes")
	crd.Spec.Scope = apiextensionsv1.ClusterScoped
	return crd
}

// K0smotronControlPlaneCRD is a stand-in CRD for k0smotron's
// K0smotronControlPlane (k0smotron's module cannot be fetched here): the
// same group, kind and contract label, any spec. Only the Cluster API
// contract fields matter to what is simulated of it.
func K0smotronControlPlaneCRD() *apiextensionsv1.CustomResourceDefinition {
	crd := OpenSchemaCRD(K0smotronControlPlaneGVK, "k0smotroncontrolplanes")
	crd.Labels = map[string]string{clusterv1.GroupVersion.String(): K0smotronControlPlaneGVK.Version}
	crd.Spec.Names.Categories = []string{"cluster-api"}
	return crd
}

// OpenSchemaCRD is a namespaced CRD for a kind whose schema is not at hand:
// one version, any spec and status, a status subresource.
func OpenSchemaCRD(gvk schema.GroupVersionKind, plural string) *apiextensionsv1.CustomResourceDefinition {
	open := apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + gvk.Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: gvk.Group,
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: gvk.Kind, ListKind: gvk.Kind + "List", Plural: plural, Singular: strings.ToLower(gvk.Kind),
			},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: gvk.Version, Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": open, "status": open},
				}},
			}},
		},
	}
}
