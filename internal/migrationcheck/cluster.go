package migrationcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// listPageSize bounds each list request, so that a cluster with many
// objects is read in pages rather than in one large response.
const listPageSize = 500

// Cluster checks every object of cabpk0s's kinds that cl reads, in
// namespace ("" for all). For each kind it reads the installed CRD
// (k0smotron's, before a switch) and lists the objects in its storage
// version: reading another version would call a conversion webhook,
// k0smotron's, which may already be gone. (An object etcd still holds in
// an older stored version is read as the installed CRD's conversion
// presents it in the storage version; after the switch cabpk0s reads it
// in the older version, which this cannot see.) A kind whose CRD is not
// installed has no objects to check.
func (c *Checker) Cluster(ctx context.Context, cl client.Reader, namespace string) (*Report, error) {
	report := &Report{}
	for _, k := range c.kinds {
		if err := c.checkKind(ctx, cl, k, namespace, report); err != nil {
			return nil, err
		}
	}
	sortFindings(report.Findings)
	return report, nil
}

func (c *Checker) checkKind(ctx context.Context, cl client.Reader, k *kindSchema, namespace string, report *Report) error {
	installed := &apiextensionsv1.CustomResourceDefinition{}
	if err := cl.Get(ctx, client.ObjectKey{Name: k.crd.Name}, installed); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("reading the CustomResourceDefinition %s: %w", k.crd.Name, err)
	}
	report.Findings = append(report.Findings, k.unservedVersions(installed)...)

	version := readVersion(installed)
	if _, served := k.versions[version]; !served {
		// Reported by unservedVersions: cabpk0s has no schema to judge by.
		return nil
	}
	gvk := schema.GroupVersionKind{Group: installed.Spec.Group, Version: version, Kind: installed.Spec.Names.ListKind}
	return list(ctx, cl, gvk, namespace, func(obj *unstructured.Unstructured) {
		report.Checked++
		report.Findings = append(report.Findings, c.Object(obj)...)
	})
}

// unservedVersions reports the versions objects may be stored in (the
// installed CRD's storage version and status.storedVersions) that cabpk0s
// does not serve: the API server refuses to replace a CRD by one without
// a stored version, and could not read objects of a version not served.
func (k *kindSchema) unservedVersions(installed *apiextensionsv1.CustomResourceDefinition) []Finding {
	stored := slices.Clone(installed.Status.StoredVersions)
	if v := storageVersion(installed); v != "" {
		stored = append(stored, v)
	}
	slices.Sort(stored)
	var findings []Finding
	for _, v := range slices.Compact(stored) {
		if _, served := k.versions[v]; served {
			continue
		}
		findings = append(findings, Finding{
			Kind: installed.Spec.Names.Kind, Version: v, Severity: SeverityInvalid,
			Problem: fmt.Sprintf("objects are stored in this version, which cabpk0s does not serve (it serves %s): rewrite them in one of those before the switch", strings.Join(k.served(), ", ")),
		})
	}
	return findings
}

// served lists the versions cabpk0s serves, sorted.
func (k *kindSchema) served() []string {
	versions := make([]string, 0, len(k.versions))
	for v := range k.versions {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions
}

func storageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// readVersion is the version to list a kind in: its storage version,
// which reads objects as stored; or, if the CRD does not serve that, the
// first version it serves, whose objects its conversion makes.
func readVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	storage := storageVersion(crd)
	for _, v := range crd.Spec.Versions {
		if v.Name == storage && v.Served {
			return storage
		}
	}
	for _, v := range crd.Spec.Versions {
		if v.Served {
			return v.Name
		}
	}
	return ""
}

// list calls each for every object of the list kind gvk, page by page.
func list(ctx context.Context, cl client.Reader, gvk schema.GroupVersionKind, namespace string, each func(*unstructured.Unstructured)) error {
	next := ""
	for {
		page := &unstructured.UnstructuredList{}
		page.SetGroupVersionKind(gvk)
		opts := []client.ListOption{client.Limit(listPageSize), client.Continue(next)}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := cl.List(ctx, page, opts...); err != nil {
			return fmt.Errorf("listing %s %s: %w", gvk.GroupVersion(), gvk.Kind, err)
		}
		for i := range page.Items {
			each(&page.Items[i])
		}
		if next = page.GetContinue(); next == "" {
			return nil
		}
	}
}
