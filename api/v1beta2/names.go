package v1beta2

// Names cabpk0s writes on the configs it manages. They are part of the
// API: `clusterctl move` and backups carry them, and the admission webhook
// that sets them at creation and the controller that keeps them must agree.
const (
	// JoinTokenIDAnnotation names the bootstrap token a config's data
	// carries, or will carry. It is set before that token exists: by the
	// admission webhook when the config is created, or by the controller
	// just before it creates the token. A retry after any failure finds and
	// reuses the same ID, so a config never has two tokens. The data Secret
	// carries it too.
	JoinTokenIDAnnotation = "bootstrap.cluster.x-k8s.io/k0s-join-token-id" //nolint:gosec // an annotation key, not a credential

	// WorkerJoinTokenFinalizer keeps a K0sWorkerConfig until its join token
	// is revoked.
	WorkerJoinTokenFinalizer = "k0sworkerconfig.bootstrap.cluster.x-k8s.io/join-token" //nolint:gosec // a finalizer name, not a credential

	// ControllerJoinTokenFinalizer keeps a K0sControllerConfig until its
	// join token is revoked.
	ControllerJoinTokenFinalizer = "k0scontrollerconfig.bootstrap.cluster.x-k8s.io/join-token"
)
