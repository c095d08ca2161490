package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "sigs.k8s.io/cluster-api/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// placeholderInstanceType fills the seed AWSMachineTemplate's elided spec:
// CAPA's schema requires an instance type there, so the object as written is
// rejected by every real CAPA installation too.
const placeholderInstanceType = "t3.medium"

// applySamples applies config/samples (the seed's manifests) as written.
func (s *Sandbox) applySamples(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(file) //nolint:gosec // the repository's own samples
		if err != nil {
			return err
		}
		objs, err := utilyaml.ToUnstructured(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for i := range objs {
			if err := s.apply(ctx, &objs[i]); err != nil {
				return fmt.Errorf("%s: %w", filepath.Base(file), err)
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
