package testenv

import (
	"encoding/json"
	"slices"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/utils/ptr"
)

// K0smotron's bootstrap releases, as a management cluster that switches to
// cabpk0s in place has them: their CRDs have our kinds' names, and the
// objects they stored stay in etcd across the switch.
const (
	// K0smotron1 is k0smotron 1.x: v1beta1 only, stored as v1beta1,
	// Cluster API's v1beta1 contract.
	K0smotron1 = "v1beta1"
	// K0smotron2 is k0smotron 2.x: v1beta1 served and deprecated, v1beta2
	// stored, the v1beta2 contract, a conversion webhook for the configs.
	K0smotron2 = "v1beta2"
)

// K0smotronNamespace is where k0smotron's release installs its webhook
// Service.
const K0smotronNamespace = "k0smotron"

// K0smotronBootstrapCRDs are stand-ins for the CRDs k0smotron's bootstrap
// release storing storageVersion (K0smotron1, K0smotron2) installs
// (k0smotron's module cannot be fetched here). They are cabpk0s's CRDs,
// whose field names are k0smotron's, changed where k0smotron's differ in
// what they let be stored:
//
//   - versions: 1.x serves only v1beta1; 2.x serves v1beta1 (deprecated)
//     and stores v1beta2, converting configs through k0smotron's webhook
//     (the template's conversion is None);
//   - 1.x status conditions are Cluster API v1beta1's, with severity;
//   - values cabpk0s refuses that k0smotron accepts: the Ignition variants
//     openshift, r4e and fiot; in 2.x, the windows platform and the
//     powershell formats;
//   - no fields of cabpk0s's own (CabpkOnlyFields): k0smotron's schema
//     prunes them, as after a rollback.
func K0smotronBootstrapCRDs(storageVersion string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	ours, err := cabpk0sCRDs()
	if err != nil {
		return nil, err
	}
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(ours))
	for _, crd := range ours {
		crd = crd.DeepCopy()
		crd.Labels = map[string]string{}
		crd.Annotations = nil
		var versions []apiextensionsv1.CustomResourceDefinitionVersion
		for _, v := range crd.Spec.Versions {
			if storageVersion == K0smotron1 && v.Name != K0smotron1 {
				continue
			}
			v.Storage = v.Name == storageVersion
			v.Deprecated = v.Name != storageVersion
			v.DeprecationWarning = nil
			if v.Deprecated {
				v.DeprecationWarning = ptr.To("bootstrap.cluster.x-k8s.io/" + v.Name + " " + crd.Spec.Names.Kind + " is deprecated")
			}
			widenEnums(v.Schema.OpenAPIV3Schema, storageVersion == K0smotron2)
			dropCabpk0sFields(v.Schema.OpenAPIV3Schema)
			if storageVersion == K0smotron1 {
				if status, ok := v.Schema.OpenAPIV3Schema.Properties["status"]; ok {
					if _, ok := status.Properties["conditions"]; ok {
						status.Properties["conditions"] = v1beta1Conditions()
						v.Schema.OpenAPIV3Schema.Properties["status"] = status
					}
				}
			}
			versions = append(versions, v)
		}
		crd.Spec.Versions = versions
		crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
		if storageVersion == K0smotron2 && crd.Spec.Names.Kind != "K0sWorkerConfigTemplate" {
			crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ConversionReviewVersions: []string{"v1"},
					ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{
						Namespace: K0smotronNamespace, Name: "k0smotron-webhook-service", Path: ptr.To("/convert"),
					}},
				},
			}
		}
		out = append(out, LabelContract(crd, storageVersion))
	}
	return out, nil
}

// Cabpk0sOnlyFields are the spec fields cabpk0s has and k0smotron's
// releases do not (status.observedGeneration is the status's).
var Cabpk0sOnlyFields = []string{"labels", "taints", "kubeletExtraArgs", "profile", "downloadSHA256"}

// dropCabpk0sFields removes cabpk0s's own fields from a version's schema:
// from spec (a template's spec.template.spec) and status.
func dropCabpk0sFields(s *apiextensionsv1.JSONSchemaProps) {
	spec := s.Properties["spec"]
	if template, ok := spec.Properties["template"]; ok {
		inner := template.Properties["spec"]
		for _, f := range Cabpk0sOnlyFields {
			delete(inner.Properties, f)
		}
		template.Properties["spec"] = inner
		spec.Properties["template"] = template
	}
	for _, f := range Cabpk0sOnlyFields {
		delete(spec.Properties, f)
	}
	s.Properties["spec"] = spec
	if status, ok := s.Properties["status"]; ok {
		delete(status.Properties, "observedGeneration")
		s.Properties["status"] = status
	}
}

// widenEnums adds to the schema's enums the values k0smotron accepts and
// cabpk0s does not.
func widenEnums(s *apiextensionsv1.JSONSchemaProps, v2 bool) {
	if s == nil {
		return
	}
	has := func(value string) bool {
		return slices.ContainsFunc(s.Enum, func(j apiextensionsv1.JSON) bool { return string(j.Raw) == `"`+value+`"` })
	}
	add := func(values ...string) {
		for _, value := range values {
			raw, _ := json.Marshal(value)
			s.Enum = append(s.Enum, apiextensionsv1.JSON{Raw: raw})
		}
	}
	switch {
	case has("fcos"):
		add("openshift", "r4e", "fiot")
	case has("linux") && v2:
		add("windows")
	case has("cloud-config") && has("ignition") && v2:
		add("powershell", "powershell-xml")
	}
	for name, p := range s.Properties {
		widenEnums(&p, v2)
		s.Properties[name] = p
	}
	if s.Items != nil {
		widenEnums(s.Items.Schema, v2)
	}
}

// v1beta1Conditions is Cluster API v1beta1's conditions schema, which
// k0smotron 1.x stores.
func v1beta1Conditions() apiextensionsv1.JSONSchemaProps {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	return apiextensionsv1.JSONSchemaProps{
		Type: "array",
		Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
			Type:     "object",
			Required: []string{"lastTransitionTime", "status", "type"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"lastTransitionTime": {Type: "string", Format: "date-time"},
				"message":            str, "reason": str, "severity": str, "status": str, "type": str,
			},
		}},
	}
}
