// Package testenv starts real Kubernetes API servers for the tests, the
// benchmark and the sandbox, backed by a kube-apiserver and etcd built from
// their Go modules (see hack/envtest and AssetsDir):
//
//   - StartManagement: a management cluster serving Cluster API's CRDs and
//     webhooks, CAPA's CRDs and cabpk0s's CRDs and webhooks, with an
//     in-process manager serving the webhooks and, when asked, Cluster
//     API's core controllers;
//   - StartWorkload: a workload cluster as a k0s control plane runs it for
//     joining workers: kube-apiserver with the cluster's own CA, bootstrap
//     tokens, the Node authorizer and NodeRestriction; kube-controller-manager
//     approving and signing kubelet certificates and collecting expired
//     tokens; k0s's worker RBAC and worker profiles;
//   - StartBareManagement: an API server with nothing of Cluster API, for
//     clusterctl to install into.
//
// It also answers Cluster API's conversion webhooks which apiVersion a
// contract reference means (apiversion.go) and labels other providers' CRDs
// with the contracts they implement (crds.go). The manifests it installs
// are embedded, so a binary built from it runs outside a checkout: this
// tree's from the config package, Cluster API's and CAPA's copied from
// their pinned modules into thirdparty/ by make generate.
//
// What needs machines or a cloud is not here: internal/simulation stands
// in for it. The objects tests start from are in internal/fixtures.
package testenv
