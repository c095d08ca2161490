//go:build tools

// Package tools pins the main packages built from k8s.io/kubernetes so
// `go build` can find them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
