package rendercmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"

	bootstrapv1beta1 "github.com/cabpk0s/cabpk0s/api/v1beta1"
	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// found is the config to render and what FILE says about its owner.
type found struct {
	kind     string
	config   *bootstrapv1.K0sWorkerConfig
	specPath *field.Path
	// From a Machine, MachineDeployment or MachinePool in the same file
	// that refers to the config.
	machineName  string
	ownerVersion string
	pool         bool
}

// findConfig picks the K0sWorkerConfig or K0sWorkerConfigTemplate to
// render from raw (YAML documents), converting v1beta1 as the conversion
// webhook does.
func findConfig(raw []byte, name string) (*found, error) {
	objs, err := utilyaml.ToUnstructured(raw)
	if err != nil {
		return nil, err
	}
	var candidates []*found
	for i := range objs {
		obj := &objs[i]
		gv := obj.GroupVersionKind()
		if gv.Group != bootstrapv1.GroupVersion.Group || (name != "" && obj.GetName() != name) {
			continue
		}
		f, err := toHub(obj)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gv.Kind, obj.GetName(), err)
		}
		if f != nil {
			candidates = append(candidates, f)
		}
	}
	switch {
	case len(candidates) == 0 && name != "":
		return nil, fmt.Errorf("no K0sWorkerConfig or K0sWorkerConfigTemplate named %q", name)
	case len(candidates) == 0:
		return nil, errors.New("no K0sWorkerConfig or K0sWorkerConfigTemplate (bootstrap.cluster.x-k8s.io, v1beta1 or v1beta2)")
	case len(candidates) > 1:
		names := make([]string, len(candidates))
		for i, c := range candidates {
			names[i] = c.kind + " " + c.config.Name
		}
		return nil, fmt.Errorf("several configs (%s): choose one with --name", strings.Join(names, ", "))
	}
	f := candidates[0]
	f.machineName = f.config.Name
	for i := range objs {
		ownerFacts(&objs[i], f)
	}
	return f, nil
}

// toHub reads a config or template in either version as the v1beta2
// config it describes; nil for other kinds of the group.
func toHub(obj *unstructured.Unstructured) (*found, error) {
	version := obj.GroupVersionKind().Version
	if version != bootstrapv1beta1.GroupVersion.Version && version != bootstrapv1.GroupVersion.Version {
		return nil, fmt.Errorf("apiVersion %s is not served: use v1beta1 or v1beta2", obj.GetAPIVersion())
	}
	v1beta1 := version == bootstrapv1beta1.GroupVersion.Version
	switch obj.GetKind() {
	case configKind:
		config := &bootstrapv1.K0sWorkerConfig{}
		if err := readAs(obj, v1beta1, &bootstrapv1beta1.K0sWorkerConfig{}, config, bootstrapv1beta1.ConvertK0sWorkerConfigV1Beta1ToHub); err != nil {
			return nil, err
		}
		return &found{kind: configKind, config: config, specPath: fieldPath(false)}, nil
	case "K0sWorkerConfigTemplate":
		template := &bootstrapv1.K0sWorkerConfigTemplate{}
		if err := readAs(obj, v1beta1, &bootstrapv1beta1.K0sWorkerConfigTemplate{}, template, bootstrapv1beta1.ConvertK0sWorkerConfigTemplateV1Beta1ToHub); err != nil {
			return nil, err
		}
		// A Machine's config is the template's spec under the template's
		// name; its Machines are named after their MachineDeployment.
		config := &bootstrapv1.K0sWorkerConfig{Spec: template.Spec.Template.Spec}
		config.Name, config.Namespace = template.Name, template.Namespace
		return &found{kind: "K0sWorkerConfigTemplate", config: config, specPath: fieldPath(true)}, nil
	}
	return nil, nil
}

// readAs fills hub from obj: directly, or through spoke and its conversion
// for a v1beta1 object.
func readAs[S, H runtime.Object](obj *unstructured.Unstructured, v1beta1 bool, spoke S, hub H, convert func(context.Context, S, H) error) error {
	if !v1beta1 {
		return fromUnstructured(obj, hub)
	}
	if err := fromUnstructured(obj, spoke); err != nil {
		return err
	}
	return convert(context.Background(), spoke, hub)
}

// fromUnstructured converts strictly, so a misspelt field is reported as
// the API server's strict field validation would.
func fromUnstructured(obj *unstructured.Unstructured, into runtime.Object) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, into, true)
}

// ownerFacts takes the node name and version from a Machine, MachinePool or
// MachineDeployment that refers to the config, as its controller would.
func ownerFacts(obj *unstructured.Unstructured, f *found) {
	if obj.GroupVersionKind().Group != "cluster.x-k8s.io" {
		return
	}
	spec := []string{"spec"}
	switch obj.GetKind() {
	case "Machine":
	case "MachineDeployment", "MachineSet", "MachinePool":
		spec = []string{"spec", "template", "spec"}
	default:
		return
	}
	ref, _, _ := unstructured.NestedString(obj.Object, append(spec, "bootstrap", "configRef", "name")...)
	kind, _, _ := unstructured.NestedString(obj.Object, append(spec, "bootstrap", "configRef", "kind")...)
	if ref != f.config.Name || kind != strings.TrimSuffix(f.kind, "Template") && kind != f.kind {
		return
	}
	if v, _, _ := unstructured.NestedString(obj.Object, append(spec, "version")...); v != "" {
		f.ownerVersion = v
	}
	switch obj.GetKind() {
	case "Machine":
		f.machineName = obj.GetName()
	case "MachinePool":
		f.pool = true
	default:
		// MachineSet Machines are named <deployment>-<hash>-<random>.
		f.machineName = obj.GetName() + "-xxxxx-xxxxx"
	}
}
