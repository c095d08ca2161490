package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// tokenMemory remembers, per config, what this process last wrote or read:
// the join token it issued and when that expires, and whether the config's
// data and status were written. It saves a workload-cluster GET on every
// reconcile a Machine's progress triggers, and it stops a reconcile working
// on a cached config that does not yet show our own status write from
// writing the data a second time. It is only memory: after a restart every
// config is checked against the API servers once, as before.
type tokenMemory struct {
	mu      sync.Mutex
	configs map[types.UID]rememberedToken
}

type rememberedToken struct {
	id      string
	expires time.Time
	// written is when the data Secret and the status that names it were
	// both stored; zero until then.
	written time.Time
}

func (m *tokenMemory) get(uid types.UID) (rememberedToken, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.configs[uid]
	return t, ok
}

func (m *tokenMemory) remember(uid types.UID, id string, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.configs == nil {
		m.configs = map[types.UID]rememberedToken{}
	}
	t := m.configs[uid]
	t.id, t.expires = id, expires
	m.configs[uid] = t
}

func (m *tokenMemory) markWritten(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.configs[uid]; ok {
		t.written = time.Now()
		m.configs[uid] = t
	}
}

func (m *tokenMemory) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.configs, uid)
}
