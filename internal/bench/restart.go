package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/cabpk0s/cabpk0s/internal/promscrape"
)

// RestartResult is a provider restarted with every config settled: what
// the new process costs before it has nothing left to do.
type RestartResult struct {
	// Configs is how many settled configs the new process found.
	Configs int `json:"configs"`
	// IdleSeconds is from the new process's start until its work queues
	// are empty and its reconcile count no longer moves.
	IdleSeconds float64 `json:"idleSeconds"`
	// NotIdle is true when the new process was still working when the
	// budget ran out: IdleSeconds is then the budget, and the requests are
	// those made until then.
	NotIdle bool `json:"notIdle,omitempty"`
	// InitialListSeconds is how long listing the configs and Machines the
	// provider caches takes, measured by the harness on the same API
	// server right after: the least any process needs before it knows its
	// objects. (The providers' own lists are streamed as watches, which the
	// audit log records only when they end.)
	InitialListSeconds float64 `json:"initialListSeconds"`
	// Reconciles is how many reconciles the new process ran until idle.
	Reconciles float64 `json:"reconciles"`
	// Management and Workload count the new process's requests until idle.
	Management Requests `json:"managementRequests"`
	Workload   Requests `json:"workloadRequests"`
	// CPUSeconds and PeakRSSBytes are the new process's.
	CPUSeconds   float64 `json:"cpuSeconds"`
	PeakRSSBytes int64   `json:"peakRSSBytes"`
}

// UncachedReads counts the gets of resources: a cached client lists and
// watches only. Discovery and health checks (non-resource gets) are not
// reads of objects.
func (r *RestartResult) UncachedReads() int {
	return objectGets(r.Management) + objectGets(r.Workload)
}

func objectGets(r Requests) int {
	n := 0
	for key, v := range r {
		if verb, resource, _ := strings.Cut(key, " "); verb == "get" && resource != "(non-resource)" {
			n += v
		}
	}
	return n
}

// idleQuiet is how long a process's work queues must stay empty, and its
// reconcile count still, for it to be idle.
const idleQuiet = 3 * time.Second

// measureRestart stops the provider and starts it again on the same
// state, and measures the new process until it is idle. It returns the
// new process, which the caller stops.
func measureRestart(ctx context.Context, o RunOptions, p provider, e *environment, old *Process, a addrs, configs int) (*RestartResult, *Process, error) {
	if err := old.Stop(); err != nil {
		return nil, old, err
	}
	start := time.Now()
	proc, err := p.start(o, e, a, o.Provider+"-restarted")
	if err != nil {
		return nil, old, err
	}
	if err := proc.WaitReady(ctx, 2*time.Minute); err != nil {
		return nil, proc, err
	}
	idle, reconciles, err := waitIdle(ctx, a.metrics, configs, start.Add(o.budget()))
	notIdle := errors.Is(err, errNotIdle)
	if err != nil && !notIdle {
		return nil, proc, err
	}
	usage, err := proc.Usage()
	if err != nil {
		return nil, proc, err
	}
	r := &RestartResult{
		Configs: configs, IdleSeconds: idle.Sub(start).Seconds(), NotIdle: notIdle, Reconciles: reconciles,
		CPUSeconds: usage.CPUSeconds, PeakRSSBytes: usage.PeakRSSBytes,
	}
	management, workload := Client{Username: providerUser}, Client{UserAgentContains: p.workloadAgent}
	if r.Management, err = e.managementAudit.Count(management, start, idle); err != nil {
		return nil, proc, err
	}
	if r.Workload, err = e.workloadAudit.Count(workload, start, idle); err != nil {
		return nil, proc, err
	}
	if r.InitialListSeconds, err = initialListSeconds(ctx, e, p); err != nil {
		return nil, proc, err
	}
	return r, proc, nil
}

// errNotIdle: the provider was still working at the deadline.
var errNotIdle = errors.New("not idle")

// waitIdle scrapes a provider's metrics until its work queues are empty and
// its reconcile count, at least atLeast, has not moved for idleQuiet. It
// returns when the count last moved, and the count; at the deadline, the
// deadline and the count so far with errNotIdle.
func waitIdle(ctx context.Context, metricsAddr string, atLeast int, deadline time.Time) (time.Time, float64, error) {
	keep := func(name string) bool {
		return name == "workqueue_depth" || name == "controller_runtime_reconcile_total"
	}
	var (
		lastCount float64 = -1
		moved     time.Time
	)
	for {
		m, err := promscrape.Scrape(ctx, metricsAddr, keep)
		if err != nil {
			return time.Time{}, 0, err
		}
		now := time.Now()
		depth, count := 0.0, 0.0
		for key, v := range m {
			switch {
			case strings.HasPrefix(key, "workqueue_depth"):
				depth += v
			case strings.HasPrefix(key, "controller_runtime_reconcile_total"):
				count += v
			}
		}
		if count != lastCount || depth > 0 {
			if count != lastCount {
				moved = now
			}
			lastCount = count
		} else if count >= float64(atLeast) && now.Sub(moved) >= idleQuiet {
			return moved, count, nil
		}
		if now.After(deadline) {
			return now, count, fmt.Errorf("%w at %s: %.0f reconciles (want at least %d), %.0f queued", errNotIdle, deadline.Format(time.TimeOnly), count, atLeast, depth)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return time.Time{}, 0, err
		}
	}
}

// initialListSeconds times a list of the provider's configs and of the
// Machines, one after the other, as a new process's caches start.
func initialListSeconds(ctx context.Context, e *environment, p provider) (float64, error) {
	c, err := fastClient(e)
	if err != nil {
		return 0, err
	}
	configs := &unstructured.UnstructuredList{}
	configs.SetGroupVersionKind(p.configGVK.GroupVersion().WithKind(p.configGVK.Kind + "List"))
	start := time.Now()
	if err := c.List(ctx, configs); err != nil {
		return 0, err
	}
	if err := c.List(ctx, &clusterv1.MachineList{}); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}
