//go:build tools

// Package tools pins the etcd server main package so `go build` can find it.
package tools

import _ "go.etcd.io/etcd/server/v3"
