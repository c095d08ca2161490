package testenv

import (
	"context"
	"errors"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	coreconversion "sigs.k8s.io/cluster-api/core/webhooks/conversion"
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

// registerAPIVersionReader adds a management cluster's API reader to the
// getter Cluster API's conversion webhooks use; call the returned function
// when that cluster stops.
func registerAPIVersionReader(r client.Reader) (unregister func()) {
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
