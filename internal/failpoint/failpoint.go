// Package failpoint names the moments of a reconcile where the fault suite
// (test/faults) stops a manager dead, to prove that nothing is lost when a
// process dies there: windows too short for a kill from outside to hit on
// purpose. Hooks are registered only by test binaries; in the manager
// binary Hit finds none and returns.
package failpoint

import "sync"

// Name is a moment in a reconcile.
type Name string

const (
	// JoinTokenCreated: the join token exists in the workload cluster and
	// the data Secret carrying it is not written yet.
	JoinTokenCreated Name = "join-token-created" //nolint:gosec // a failpoint name, not a credential
	// DataSecretWritten: the data Secret is written and the config's
	// status does not say so yet.
	DataSecretWritten Name = "data-secret-written"
)

var (
	mu    sync.RWMutex
	hooks = map[Name]func(){}
)

// Register makes hook run each time name is hit. Tests only.
func Register(name Name, hook func()) {
	mu.Lock()
	defer mu.Unlock()
	hooks[name] = hook
}

// Hit runs the hook registered for name, if any.
func Hit(name Name) {
	mu.RLock()
	hook := hooks[name]
	mu.RUnlock()
	if hook != nil {
		hook()
	}
}
