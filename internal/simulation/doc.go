// Package simulation stands in for what needs real machines or a cloud, on
// the real API servers of internal/testenv: each piece is named a
// simulator or Simulated... in code, in controller names and in events, so
// nobody mistakes it for the real thing.
//
//   - ControlPlaneSimulator: k0smotron's control plane provider (the
//     workload cluster is a bare kube-apiserver; no k0s runs);
//   - InfrastructureSimulator and MachinePoolSimulator: CAPA (no EC2
//     instance exists);
//   - BootSimulator: a machine booting with its bootstrap data: its join
//     token must really authenticate against the workload API server and
//     file the node's certificate request before its Node is registered;
//   - SimulatedCertManager and SimulatedKubelet: what a real management
//     cluster runs and a bare one lacks (WithClusterServices), the kubelet
//     running each installed provider's manager in this process
//     (providers.go).
//
// The sandbox (internal/sandbox, `make demo`) and the tests use them.
package simulation
