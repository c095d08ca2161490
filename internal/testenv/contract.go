package testenv

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/contract"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// contractAPIVersion answers which apiVersion of a referenced kind Cluster
// API should use, the way Cluster API's own (internal) helper does: from the
// CRD's cluster.x-k8s.io/<contract> label, newest contract first, highest
// served version within it. CAPI's conversion webhooks need it to turn
// v1beta2 contract references back into v1beta1 apiVersions.
func contractAPIVersion(ctx context.Context, c client.Reader, gk schema.GroupKind) (string, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: contract.CalculateCRDName(gk.Group, gk.Kind)}, crd); err != nil {
		return "", fmt.Errorf("reading the CRD of %s: %w", gk, err)
	}
	for _, contractVersion := range []string{clusterv1.GroupVersion.Version, "v1beta1"} {
		value := crd.Labels[clusterv1.GroupVersion.Group+"/"+contractVersion]
		if value == "" {
			continue
		}
		versions := strings.Split(value, "_")
		// Highest first: v1beta2 before v1beta1 before v1alpha4.
		slices.SortFunc(versions, func(a, b string) int { return version.CompareKubeAwareVersionStrings(b, a) })
		return schema.GroupVersion{Group: gk.Group, Version: versions[0]}.String(), nil
	}
	return "", fmt.Errorf("the CRD of %s has no cluster.x-k8s.io/<contract> label", gk)
}
