package migrationcheck

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/webhooks"
)

// hubVersion is the version cabpk0s's conversion webhook converts every
// object to and its admission webhook validates.
var hubVersion = bootstrapv1.GroupVersion.Version

// kindRules are what cabpk0s does with an object of a kind beyond its
// schema: convert it to v1beta2, and admit it.
type kindRules struct {
	// toHub reads a pruned object of a served version as the v1beta2
	// object cabpk0s's conversion webhook makes of it.
	toHub func(obj *unstructured.Unstructured) (runtime.Object, error)
	// validate is the kind's admission check (internal/webhooks).
	validate func(hub runtime.Object) (field.ErrorList, []string)
}

// rulesFor returns a kind's rules. A kind without them is an error, so
// that a kind added to the CRDs cannot go unchecked.
func rulesFor(kind string) (kindRules, error) {
	switch kind {
	case "K0sWorkerConfig":
		return rules[bootstrapv1beta1.K0sWorkerConfig, bootstrapv1.K0sWorkerConfig](bootstrapv1beta1.ConvertK0sWorkerConfigV1Beta1ToHub, webhooks.ValidateConfig), nil
	case "K0sWorkerConfigTemplate":
		return rules[bootstrapv1beta1.K0sWorkerConfigTemplate, bootstrapv1.K0sWorkerConfigTemplate](bootstrapv1beta1.ConvertK0sWorkerConfigTemplateV1Beta1ToHub, webhooks.ValidateTemplate), nil
	case "K0sControllerConfig":
		return rules[bootstrapv1beta1.K0sControllerConfig, bootstrapv1.K0sControllerConfig](bootstrapv1beta1.ConvertK0sControllerConfigV1Beta1ToHub, webhooks.ValidateControllerConfig), nil
	}
	return kindRules{}, fmt.Errorf("no conversion and admission check for kind %s", kind)
}

// rules reads an object into the hub type H, through the v1beta1 type S
// and convert for a v1beta1 object, and validates H.
func rules[S, H any, PS interface {
	*S
	runtime.Object
}, PH interface {
	*H
	runtime.Object
}](convert func(context.Context, PS, PH) error, validate func(PH) (field.ErrorList, []string)) kindRules {
	toHub := func(obj *unstructured.Unstructured) (runtime.Object, error) {
		hub := PH(new(H))
		switch version := obj.GroupVersionKind().Version; version {
		case hubVersion:
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, hub); err != nil {
				return nil, err
			}
		case bootstrapv1beta1.GroupVersion.Version:
			spoke := PS(new(S))
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, spoke); err != nil {
				return nil, err
			}
			if err := convert(context.Background(), spoke, hub); err != nil {
				return nil, fmt.Errorf("converting to %s: %w", hubVersion, err)
			}
		default:
			return nil, fmt.Errorf("no conversion from %s", version)
		}
		return hub, nil
	}
	return kindRules{
		toHub: toHub,
		validate: func(hub runtime.Object) (field.ErrorList, []string) {
			return validate(hub.(PH))
		},
	}
}

// checkHub judges the v1beta2 object cabpk0s makes of a pruned object.
// An object the schema already refuses may not read as the typed object
// at all, or may be refused again under v1beta2's names; the schema's
// findings say why, so that is not reported.
func (k *kindSchema) checkHub(obj *unstructured.Unstructured, about Finding, schemaRefused bool) []Finding {
	hub, err := k.rules.toHub(obj)
	if err != nil {
		if schemaRefused {
			return nil
		}
		return []Finding{about.with("", SeverityInvalid, oneLine(redactURLs(fmt.Sprintf("cannot be read as cabpk0s's %s: %v", about.Kind, err))))}
	}
	var findings []Finding
	if about.Version != hubVersion && !schemaRefused {
		findings = append(findings, k.hubSchema(hub, about)...)
	}
	return append(findings, k.admission(hub, about)...)
}

// hubSchema judges a converted object by the v1beta2 schema: a v1beta1
// object's conversion-data annotation can restore v1beta2 values (a
// platform, say) that its own version has no field for, and so no schema
// to refuse them. cabpk0s would read them as v1beta2 after the switch.
func (k *kindSchema) hubSchema(hub runtime.Object, about Finding) []Finding {
	schema, ok := k.versions[hubVersion]
	if !ok {
		return nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(hub)
	if err != nil {
		return []Finding{about.with("", SeverityInvalid, fmt.Sprintf("cannot be written as cabpk0s's %s %s: %v", about.Kind, hubVersion, err))}
	}
	delete(obj, "status")
	findings := schema.validate(obj, about)
	for i := range findings {
		findings[i].Problem = "as " + hubVersion + ": " + findings[i].Problem
	}
	return findings
}

// admission runs the kind's admission check. Its errors refuse every
// change of the spec (an update that leaves the spec alone passes, see
// internal/webhooks), so they are reported as refusals of an update.
func (k *kindSchema) admission(hub runtime.Object, about Finding) []Finding {
	errs, warnings := k.rules.validate(hub)
	// The webhook names v1beta2's fields, also for a v1beta1 object.
	refused := "would be refused on update: "
	if about.Version != hubVersion {
		refused = fmt.Sprintf("would be refused on update (as %s): ", hubVersion)
	}
	var findings []Finding
	for _, e := range errs {
		findings = append(findings, about.with(fieldOf(e), SeverityInvalid, refused+describe(e)))
	}
	for _, w := range warnings {
		// A warning names its fields itself.
		findings = append(findings, about.with("", SeverityWarning, oneLine(redactURLs(w))))
	}
	return findings
}
