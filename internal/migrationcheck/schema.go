package migrationcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cabpk0s/cabpk0s/internal/validation"
)

// kindSchema is what judges objects of one of cabpk0s's kinds.
type kindSchema struct {
	crd *apiextensionsv1.CustomResourceDefinition
	// versions are the served versions' schemas: an object of a version
	// that is not served cannot be read at all.
	versions map[string]*versionSchema
	// rules convert and admit objects of the kind.
	rules kindRules
}

// versionSchema is one version's schema, in the two forms the API server
// uses: structural for pruning, OpenAPI for validation.
type versionSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

func newKindSchema(crd *apiextensionsv1.CustomResourceDefinition) (*kindSchema, error) {
	rules, err := rulesFor(crd.Spec.Names.Kind)
	if err != nil {
		return nil, err
	}
	k := &kindSchema{crd: crd, versions: map[string]*versionSchema{}, rules: rules}
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if !v.Served {
			continue
		}
		s, err := newVersionSchema(v)
		if err != nil {
			return nil, fmt.Errorf("the schema of %s %s: %w", crd.Name, v.Name, err)
		}
		k.versions[v.Name] = s
	}
	return k, nil
}

// newVersionSchema builds a version's schemas as the API server's
// customresource handler does.
func newVersionSchema(v *apiextensionsv1.CustomResourceDefinitionVersion) (*versionSchema, error) {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("no openAPIV3Schema")
	}
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
		return nil, fmt.Errorf("converting to the internal version: %w", err)
	}
	structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("not structural: %w", err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("building the validator: %w", err)
	}
	return &versionSchema{structural: structural, validator: validator}, nil
}

// prune drops from obj what the API server drops when it reads it from
// etcd, and returns the paths of the unknown fields (metadata, apiVersion
// and kind are the API server's, and kept).
func (v *versionSchema) prune(obj map[string]any) []string {
	paths := structuralpruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	// A null where the schema allows none is dropped too, silently and
	// harmlessly (null and absent mean the same), so that validation does
	// not report it.
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	return paths
}

// validate judges a pruned obj by the schema, as the API server does on a
// create.
func (v *versionSchema) validate(obj map[string]any, about Finding) []Finding {
	var findings []Finding
	for _, e := range apiservervalidation.ValidateCustomResource(nil, obj, v.validator) {
		findings = append(findings, about.with(fieldOf(e), SeverityInvalid, describe(e)))
	}
	return findings
}

// fieldOf is an error's field path; empty for the whole object.
func fieldOf(e *field.Error) string {
	if e.Field == "<nil>" {
		return ""
	}
	return e.Field
}

// describe says what is wrong without the value: the error's type and
// rule. The refused value of an enum is shown, since an enum's values are
// not secrets and the value says which platform or variant is missing.
func describe(e *field.Error) string {
	if _, ok := e.BadValue.(string); ok && e.Type == field.ErrorTypeNotSupported {
		return oneLine(redactURLs(e.ErrorBody()))
	}
	msg := e.Type.String()
	switch {
	case e.Detail == "":
	case e.Type == field.ErrorTypeTypeInvalid:
		// The schema's type errors carry the value's JSON type, not the value.
		msg += ": " + e.Detail
	default:
		msg += ": " + withoutValue(e.Detail, e.BadValue)
	}
	return oneLine(redactURLs(msg))
}

// withoutValue removes a quoted value from a detail: the schema's format
// errors, for one, end with the value.
func withoutValue(detail string, value any) string {
	s, ok := value.(string)
	if !ok || s == "" {
		return detail
	}
	return strings.ReplaceAll(detail, strconv.Quote(s), "(value not shown)")
}

// urlPattern finds URLs in a message, for redactURLs.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"']+`)

// redactURLs hides the credentials of URLs in msg, as admission's messages
// do, in case a rule's message carries one.
func redactURLs(msg string) string {
	return urlPattern.ReplaceAllStringFunc(msg, validation.RedactURL)
}

// oneLine keeps a message on its finding's line.
func oneLine(msg string) string {
	return strings.Join(strings.Fields(msg), " ")
}
