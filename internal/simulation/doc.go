// Package simulation stands in for what needs real machines or a cloud, on
// the real API servers of internal/testenv: each piece is named a
// simulator or Simulated... in code, in controller names and in events, so
// nobody mistakes it for the real thing.
//
//   - ControlPlaneSimulator: k0smotron's control plane provider (the
//     workload cluster is a kube-apiserver and kube-controller-manager with
//     k0s's worker RBAC, testenv.Workload; no k0s runs), publishing the
//     worker profiles of its k0s config;
//   - InfrastructureSimulator and MachinePoolSimulator: CAPA (no EC2
//     instance exists);
//   - BootSimulator and Boot: a machine booting with its bootstrap data,
//     as far as the k0s worker's join, which k0s-worker-join (hack/envtest)
//     runs through the kubelet's own TLS bootstrap code (join.go); only the
//     machine under it (containerd, the kubelet's pods, the network) is
//     absent;
//   - SimulatedCertManager and SimulatedKubelet: what a real management
//     cluster runs and a bare one lacks (WithClusterServices), the kubelet
//     running each installed provider's manager in this process
//     (providers.go).
//
// The sandbox (internal/sandbox, `make demo`) and the tests use them.
package simulation
