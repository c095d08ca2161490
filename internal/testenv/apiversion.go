package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	coreconversion "sigs.k8s.io/cluster-api/core/webhooks/conversion"
	"sigs.k8s.io/cluster-api/util/contract"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster API's conversion webhooks take their APIVersionGetter from one
// process-wide variable. Several management clusters can live in one test
// process (the sandbox plus the two of the clusterctl move scenario), each
// starting and stopping on its own: setting the variable per cluster would
// leave it pointing at a stopped API server, and writing it while another
// cluster's webhooks read it is a data race. So it is set once, to a getter
// that asks every running management cluster in turn. They all serve the
// same CRDs with the same contract labels, so any live one answers alike.
var apiVersionReaders struct {
	once    sync.Once
	mu      sync.Mutex
	next    int
	readers map[int]client.Reader
}

// RegisterAPIVersionReader adds a management cluster's API reader to the
// getter Cluster API's conversion webhooks use; call the returned function
// when that cluster stops. StartManagement does; a process serving Cluster
// API's webhooks against another API server (a simulated Pod's) must too.
func RegisterAPIVersionReader(r client.Reader) (unregister func()) {
	apiVersionReaders.once.Do(func() {
		apiVersionReaders.readers = map[int]client.Reader{}
		coreconversion.SetAPIVersionGetter(contractAPIVersionFromAnyCluster)
	})
	apiVersionReaders.mu.Lock()
	defer apiVersionReaders.mu.Unlock()
	id := apiVersionReaders.next
	apiVersionReaders.next++
	apiVersionReaders.readers[id] = r
	return func() {
		apiVersionReaders.mu.Lock()
		defer apiVersionReaders.mu.Unlock()
		delete(apiVersionReaders.readers, id)
	}
}

func contractAPIVersionFromAnyCluster(ctx context.Context, gk schema.GroupKind) (string, error) {
	apiVersionReaders.mu.Lock()
	ids := make([]int, 0, len(apiVersionReaders.readers))
	for id := range apiVersionReaders.readers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	readers := make([]client.Reader, 0, len(ids))
	for _, id := range ids {
		readers = append(readers, apiVersionReaders.readers[id])
	}
	apiVersionReaders.mu.Unlock()

	errs := []error{errors.New("no running management cluster answered")}
	for _, r := range readers {
		version, err := contractAPIVersion(ctx, r, gk)
		if err == nil {
			return version, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

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
