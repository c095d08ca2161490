package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// The reconciler remembers two things per config, each in its own map. It
// is only memory: after a restart every config is checked against the API
// servers once, as it would be without it.
//
//   - knownToken: the join token this process last issued or checked, and
//     when it expires. A reconcile that a Machine's progress triggers
//     needs no workload-cluster GET while the token is far from expiry.
//   - ownWrite: the resourceVersion of the status this process last
//     wrote for a config, and the token ID and resourceVersion of the data
//     Secret it last stored (or read live). The informers show our own
//     writes a moment later; until a cached object is at least that
//     version, a reconcile must neither write the data a second time nor
//     take the cached data Secret for stale. Versions, not a clock: the
//     API server's resourceVersions are comparable.
type (
	knownToken struct {
		id      string
		expires time.Time
	}
	ownWrite struct {
		statusVersion string
		dataTokenID   string
		dataVersion   string
	}
)

// olderThan tells whether resourceVersion seen is older than written: the
// cache has not caught up with our write yet. Versions that cannot be
// compared count as caught up, the safe side for a reconcile that then
// reads everything again.
func olderThan(seen, written string) bool {
	if written == "" {
		return false
	}
	cmp, err := resourceversion.CompareResourceVersion(seen, written)
	return err == nil && cmp < 0
}

// uidMap is a map by config UID, safe for concurrent reconciles.
type uidMap[V any] struct {
	mu sync.Mutex
	m  map[types.UID]V
}

func (m *uidMap[V]) get(uid types.UID) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[uid]
	return v, ok
}

func (m *uidMap[V]) set(uid types.UID, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[types.UID]V{}
	}
	m.m[uid] = v
}

func (m *uidMap[V]) delete(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, uid)
}
