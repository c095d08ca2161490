package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// A joining controller reaches the k0s join API on the endpoint's host, at
// the port the k0s config names, else 9443; the endpoint's own port is the
// Kubernetes API's.
func TestControllerJoinServer(t *testing.T) {
	g := NewWithT(t)
	cluster := &clusterv1.Cluster{Spec: clusterv1.ClusterSpec{ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: "cp.example.com", Port: 6443}}}
	g.Expect(controllerJoinServer(cluster, &bootstrapv1.K0sControllerConfigSpec{})).To(Equal("https://cp.example.com:9443"))
	g.Expect(controllerJoinServer(cluster, &bootstrapv1.K0sControllerConfigSpec{K0s: &runtime.RawExtension{Raw: []byte(`{"spec":{"api":{"k0sApiPort":9555}}}`)}})).
		To(Equal("https://cp.example.com:9555"))
	cluster.Spec.ControlPlaneEndpoint.Host = "fd00::1"
	g.Expect(controllerJoinServer(cluster, &bootstrapv1.K0sControllerConfigSpec{})).To(Equal("https://[fd00::1]:9443"))
}
