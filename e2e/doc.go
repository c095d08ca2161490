//go:build e2e

// Package e2e holds cabpk0s's end-to-end tests: real management clusters
// (kind, or an existing cluster for AWS), Cluster API, k0smotron's hosted
// control plane, cabpk0s built from this checkout, and workers on CAPD
// (Docker) or CAPA (AWS) that install k0s and join.
//
// The specs use Cluster API's e2e framework (sigs.k8s.io/cluster-api/test)
// but load its E2EConfig themselves (config.go): Cluster API's loader
// requires a bootstrap provider named kubeadm.
//
// Run them with `make e2e-docker` or `make e2e-aws`; see docs/development.md.
package e2e
