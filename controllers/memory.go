package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The reconciler remembers two things per config, each in its own map. It
// is only memory: after a restart every config is checked against the API
// servers once, as it would be without it.
//
//   - knownToken: the join token this process last issued or checked, and
//     when it expires. A reconcile that a Machine's progress triggers
//     needs no workload-cluster GET while the token is far from expiry.
//   - ownWrite: when this process last stored a config's status, and
//     which token ID the data it stored (or read live) carries, and when.
//     The informers show our own writes a moment later; until then a
//     reconcile must neither write the data a second time nor take the
//     cached data Secret for stale. Both are trusted for cacheAllowance.
type (
	knownToken struct {
		id      string
		expires time.Time
	}
	ownWrite struct {
		at          time.Time
		dataTokenID string
		dataStored  time.Time
	}
)

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
