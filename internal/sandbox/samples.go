package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// placeholderInstanceType fills the seed AWSMachineTemplate's elided spec:
// CAPA's schema requires an instance type there, so the object as written is
// rejected by every real CAPA installation too.
const placeholderInstanceType = "t3.medium"

// SampleFiles are the manifests of config/samples (the seed's), as
// embedded in this binary, by name: the AWS kinds before the Machines that
// reference them.
func SampleFiles() ([]string, error) {
	paths, err := fs.Glob(cabpk0sconfig.Samples, "samples/*.yaml")
	if err != nil {
		return nil, err
	}
	var files []string
	for _, p := range paths {
		if name := path.Base(p); name != "kustomization.yaml" {
			files = append(files, name)
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no samples are embedded")
	}
	return files, nil
}

// Sample returns the objects of config/samples/<file>, as written.
func Sample(file string) ([]unstructured.Unstructured, error) {
	data, err := fs.ReadFile(cabpk0sconfig.Samples, path.Join("samples", file))
	if err != nil {
		return nil, err
	}
	objs, err := utilyaml.ToUnstructured(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return objs, nil
}

// applySamples applies config/samples (the seed's manifests) as written.
func (s *Sandbox) applySamples(ctx context.Context) error {
	files, err := SampleFiles()
	if err != nil {
		return err
	}
	for _, file := range files {
		objs, err := Sample(file)
		if err != nil {
			return err
		}
		for i := range objs {
			if err := s.apply(ctx, &objs[i]); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	return nil
}

func (s *Sandbox) apply(ctx context.Context, obj *unstructured.Unstructured) error {
	c := s.Management.Client
	err := c.Create(ctx, obj, client.FieldValidation("Strict"))
	if apierrors.IsInvalid(err) && obj.GetKind() == testenv.AWSMachineTemplateGVK.Kind {
		fmt.Fprintf(s.opts.Out, "CAPA rejects the seed's AWSMachineTemplate %s as written (its spec.template.spec is a placeholder);\n  applying it with instanceType %s\n", obj.GetName(), placeholderInstanceType)
		if err := unstructured.SetNestedMap(obj.Object, map[string]any{"instanceType": placeholderInstanceType}, "spec", "template", "spec"); err != nil {
			return err
		}
		err = c.Create(ctx, obj, client.FieldValidation("Strict"))
	}
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	fmt.Fprintf(s.opts.Out, "applied %s %s/%s\n", obj.GetKind(), obj.GetNamespace(), obj.GetName())
	return nil
}
