// Package migrationcheck is `cabpk0s check-migration`: what a management
// cluster's K0sWorkerConfigs, K0sWorkerConfigTemplates and
// K0sControllerConfigs would lose or break once cabpk0s's CRDs replace
// k0smotron's.
//
// It exists because a switch is silent. The CRDs keep their names, so
// k0smotron's objects stay in etcd and the API server reads them through
// cabpk0s's schema from then on: fields the schema does not know are pruned
// (dropped on every read, and from etcd on the next write) without a word,
// and values the schema or cabpk0s's admission webhook refuses are found
// only when someone changes the object, or re-creates it (clusterctl move,
// a restore from a backup). Checked before the switch, every such field is
// named while k0smotron can still be kept.
//
// Each object is judged as the API server and the webhooks would judge it:
// read in the version it is stored in (no conversion webhook is called,
// k0smotron's may be gone), pruned and validated against cabpk0s's CRD
// schema of that version (config/crd), converted to v1beta2 as cabpk0s's
// conversion webhook does (and, from another version, validated against
// the v1beta2 schema: a conversion-data annotation can bring back values
// the stored version has no field for), and checked with the admission
// rules (internal/webhooks). Findings name fields and rules, never values:
// a value may be a credential (a downloadURL with user:password@). Only
// the refused value of an enum is shown.
//
// Status is not judged: it is observed state, which cabpk0s rebuilds from
// the Machine and the data Secret when it adopts an object, and which an
// update of the object keeps as stored (the status subresource; the API
// server's validation ratcheting passes unchanged values). k0smotron 1.x's
// Cluster API v1beta1 conditions (severity, no reason) would otherwise be
// reported for every object.
package migrationcheck

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Severity is what a finding means for the object once cabpk0s serves it.
type Severity string

const (
	// SeverityPruned: cabpk0s's schema does not know the field. The API
	// server drops it when it reads the object, and from etcd on the
	// object's next write; cabpk0s never sees it.
	SeverityPruned Severity = "pruned"
	// SeverityInvalid: cabpk0s's schema or admission webhook refuses the
	// value. Re-creating the object (clusterctl move, a restore) fails,
	// and so does a change of the field, or, for what the webhook refuses,
	// any change of the spec.
	SeverityInvalid Severity = "invalid"
	// SeverityWarning: accepted, but the webhook warns that it has no
	// effect.
	SeverityWarning Severity = "warning"
)

// Finding is one problem of one object, or of a kind when Name is empty.
type Finding struct {
	Kind      string
	Namespace string
	Name      string
	// Version is the API version the object was read and judged in.
	Version string
	// Field is the field's path, such as spec.provisioner.platform; empty
	// for a problem of the whole object or kind.
	Field    string
	Problem  string
	Severity Severity
}

// String is the finding as check-migration prints it:
// "K0sWorkerConfig default/md-abc (v1beta1): spec.x: pruned: unknown to cabpk0s".
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Kind)
	if f.Name != "" {
		b.WriteString(" ")
		if f.Namespace != "" {
			b.WriteString(f.Namespace + "/")
		}
		b.WriteString(f.Name)
	}
	fmt.Fprintf(&b, " (%s): ", f.Version)
	if f.Field != "" {
		b.WriteString(f.Field + ": ")
	}
	fmt.Fprintf(&b, "%s: %s", f.Severity, f.Problem)
	return b.String()
}

// Report is the result of checking a cluster.
type Report struct {
	// Checked counts the objects judged.
	Checked int
	// Findings are sorted by kind, namespace, name, version, field,
	// severity and problem.
	Findings []Finding
}

// Blocking tells whether a finding would lose or break something: one
// that is not a warning.
func (r *Report) Blocking() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity != SeverityWarning })
}

// Count returns how many findings have the severity.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Checker judges objects by cabpk0s's CRDs.
type Checker struct {
	// kinds are the schemas and rules of each CRD's kind, in the CRDs' order.
	kinds []*kindSchema
}

// NewChecker prepares the schemas of crds (cabpk0s's, from
// config.CustomResourceDefinitions) for checking.
func NewChecker(crds []*apiextensionsv1.CustomResourceDefinition) (*Checker, error) {
	c := &Checker{}
	for _, crd := range crds {
		k, err := newKindSchema(crd)
		if err != nil {
			return nil, err
		}
		c.kinds = append(c.kinds, k)
	}
	return c, nil
}

// Object judges one object as read from a cluster, in its apiVersion: what
// pruning drops, what the schema refuses and what admission refuses or
// warns about. The object is not modified.
func (c *Checker) Object(obj *unstructured.Unstructured) []Finding {
	gvk := obj.GroupVersionKind()
	about := Finding{Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), Version: gvk.Version}
	k := c.kind(gvk.Kind)
	if k == nil || gvk.Group != k.crd.Spec.Group {
		about.Severity, about.Problem = SeverityInvalid, fmt.Sprintf("%s is not one of cabpk0s's kinds", gvk.GroupKind())
		return []Finding{about}
	}
	v, ok := k.versions[gvk.Version]
	if !ok {
		about.Severity, about.Problem = SeverityInvalid, fmt.Sprintf("cabpk0s does not serve %s", obj.GetAPIVersion())
		return []Finding{about}
	}

	judged := obj.DeepCopy()
	delete(judged.Object, "status")
	var findings []Finding
	for _, path := range v.prune(judged.Object) {
		findings = append(findings, about.with(path, SeverityPruned, "unknown to cabpk0s"))
	}
	schemaFindings := v.validate(judged.Object, about)
	findings = append(findings, schemaFindings...)
	findings = append(findings, k.checkHub(judged, about, len(schemaFindings) > 0)...)
	sortFindings(findings)
	return findings
}

// kind returns the schemas of a kind, nil if it is not one of cabpk0s's.
func (c *Checker) kind(kind string) *kindSchema {
	for _, k := range c.kinds {
		if k.crd.Spec.Names.Kind == kind {
			return k
		}
	}
	return nil
}

// with is a finding about the same object.
func (f Finding) with(field string, severity Severity, problem string) Finding {
	f.Field, f.Severity, f.Problem = field, severity, problem
	return f
}

func sortFindings(findings []Finding) {
	slices.SortFunc(findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Severity, b.Severity),
			cmp.Compare(a.Problem, b.Problem),
		)
	})
}
