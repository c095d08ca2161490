package controllers

import (
	"time"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// Names cabpk0s writes on objects it manages (see the API package).
const (
	// TokenFinalizer keeps a K0sWorkerConfig until its join token is revoked.
	TokenFinalizer = bootstrapv1.WorkerJoinTokenFinalizer

	// ControllerTokenFinalizer keeps a K0sControllerConfig until its join
	// token is revoked.
	ControllerTokenFinalizer = bootstrapv1.ControllerJoinTokenFinalizer

	// TokenIDAnnotation records the bootstrap token a config's data
	// carries; it travels with `clusterctl move`, which drops status.
	TokenIDAnnotation = bootstrapv1.JoinTokenIDAnnotation

	workerConfigKind     = "K0sWorkerConfig"
	controllerConfigKind = "K0sControllerConfig"
)

const (
	// workloadRetryInterval is how soon an unreachable workload cluster is
	// tried again, besides the ClusterCache's own reconnect event.
	workloadRetryInterval = time.Minute
	// missingCARetryInterval is how soon a missing <cluster>-ca Secret is
	// looked for again (contentFrom sources are watched instead).
	missingCARetryInterval = 20 * time.Second
	// revocationGracePeriod bounds how long deletion waits for an
	// unreachable workload cluster before giving up on revoking the token,
	// which then expires within the TTL on its own.
	revocationGracePeriod = 2 * time.Minute
	// ownerGracePeriod is how long a config may lack an owner before it
	// says so: Cluster API sets the owner within a second or two of
	// creating the config, and writing a condition for that second on
	// every machine of a scale-up would cost a write each.
	ownerGracePeriod = 10 * time.Second
	// initLockRecheck is how soon a controller waiting for the first one
	// looks at the init lock again: a first controller that goes away
	// before the control plane is initialized wakes nobody.
	initLockRecheck = 20 * time.Second
	// controllerJoinRecheck is how soon a joining controller's ControlNode
	// is looked for again while its token lives.
	controllerJoinRecheck = 10 * time.Second
)
