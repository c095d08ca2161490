//go:build tools

// Package tools pins CABPK's main package so `go build` can find it.
package tools

import _ "sigs.k8s.io/cluster-api/bootstrap/kubeadm"
