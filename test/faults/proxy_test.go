package faults

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// faultProxy stands between the manager replicas and the management API
// server, holding the replicas' credentials, and answers a share of their
// writes to K0sWorkerConfigs (the token-ID patch and the status patches)
// with a conflict or a server error instead of passing them on, while a
// fault window is open.
type faultProxy struct {
	listener net.Listener
	server   *http.Server

	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	injected map[int]int
}

func startFaultProxy(upstream *rest.Config, seed int64) (*faultProxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, err
	}
	transport, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{listener: l, rng: rand.New(rand.NewSource(seed)), injected: map[int]int{}} //nolint:gosec // a seeded, replayable choice
	reverse := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport: transport,
		// Watches stream.
		FlushInterval: -1,
		// Watches cut by an API server restart are the point, not news.
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", "the management API server is not reachable: "+err.Error())
		},
	}
	p.server = &http.Server{Handler: p.handler(reverse)} //nolint:gosec // loopback, test only
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

func (p *faultProxy) url() string { return "http://" + p.listener.Addr().String() }

func (p *faultProxy) stop() { _ = p.server.Shutdown(context.Background()) }

// setFailRate opens (rate > 0) or closes (0) a fault window.
func (p *faultProxy) setFailRate(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRate = rate
}

// counts returns how many conflicts and server errors were injected.
func (p *faultProxy) counts() (conflicts, serverErrors int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected[http.StatusConflict], p.injected[http.StatusInternalServerError]
}

func (p *faultProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := p.injection(r); code != 0 {
			if code == http.StatusConflict {
				writeStatus(w, code, "Conflict", "Operation cannot be fulfilled on k0sworkerconfigs: the object has been modified; please apply your changes to the latest version and try again (injected by the fault proxy)")
			} else {
				writeStatus(w, code, "InternalError", "Internal error occurred: injected by the fault proxy")
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// injection decides whether r is answered with a fault, and which.
func (p *faultProxy) injection(r *http.Request) int {
	if r.Method != http.MethodPatch && r.Method != http.MethodPut {
		return 0
	}
	if !strings.Contains(r.URL.Path, "/k0sworkerconfigs/") {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failRate == 0 || p.rng.Float64() >= p.failRate {
		return 0
	}
	code := http.StatusInternalServerError
	if p.rng.Intn(2) == 0 {
		code = http.StatusConflict
	}
	p.injected[code]++
	return code
}

// writeStatus answers as the API server does, with a Status client-go
// turns into the matching error.
func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, message, reason, code)
}
