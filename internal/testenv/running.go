package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// running is a manager started in the background.
type running struct {
	cancel   context.CancelFunc
	finished chan error
}

// runInBackground starts mgr and returns once it is elected.
func runInBackground(ctx context.Context, mgr ctrl.Manager) (*running, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, finished: make(chan error, 1)}
	go func() { r.finished <- mgr.Start(ctx) }()
	select {
	case <-mgr.Elected():
		return r, nil
	case err := <-r.finished:
		cancel()
		return nil, fmt.Errorf("the manager stopped before it was elected: %w", err)
	case <-time.After(time.Minute):
		return nil, errors.Join(errors.New("the manager was not elected within a minute"), r.stop())
	}
}

// stop stops the manager and waits for it; a nil running has nothing to stop.
func (r *running) stop() error {
	if r == nil {
		return nil
	}
	r.cancel()
	return <-r.finished
}

// WaitForTLS waits up to a minute until a TLS handshake with address
// succeeds the way the API server's does with a webhook: trusting caPEM,
// for serverName (the address's host when empty).
func WaitForTLS(ctx context.Context, address, serverName string, caPEM []byte) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}}
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := dialer.DialContext(ctx, "tcp", address)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server at %s did not complete a TLS handshake for %q within a minute: %w", address, serverName, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
