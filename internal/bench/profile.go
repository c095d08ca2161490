package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// Profiles under load, for finding where time and memory go: a CPU
// profile over the first RunOptions.Profile of the measured window and a
// heap profile once the data exists, from cabpk0s's pprof endpoint
// (--profiler-address), written beside the run's logs as cpu.pprof and
// heap.pprof (`go tool pprof bin/manager out/bench/<date>/<run>/cpu.pprof`);
// and, for every provider, CPU profiles of the management and workload
// kube-apiservers over the same window (management-apiserver-cpu.pprof,
// workload-apiserver-cpu.pprof): the provider shares two cores with them,
// so what a provider makes an API server do costs its throughput as much
// as its own CPU does.

// profiler collects the profiles of one run; a nil profiler does nothing.
// A CPU profile has a length fixed when it starts (the endpoint answers
// when it is over), so it cannot follow the window to its end.
type profiler struct {
	// addr is cabpk0s's pprof endpoint; empty for a provider without one.
	addr, dir string
	// apiServers reach the API servers to profile as an administrator, by
	// the name their profile is written under.
	apiServers map[string]*rest.Config
	cpu        time.Duration
	cpuDone    chan error
}

// startCPUProfile starts the CPU profile in the background.
func (p *profiler) startCPUProfile(ctx context.Context) {
	if p == nil {
		return
	}
	path := fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(int(p.cpu.Seconds()), 1))
	p.cpuDone = make(chan error, 1+len(p.apiServers))
	go func() {
		if p.addr == "" {
			p.cpuDone <- nil
			return
		}
		p.cpuDone <- p.fetch(ctx, http.DefaultClient, "http://"+p.addr+path, "cpu.pprof")
	}()
	for name, config := range p.apiServers {
		go func() {
			httpClient, err := rest.HTTPClientFor(config)
			if err != nil {
				p.cpuDone <- err
				return
			}
			p.cpuDone <- p.fetch(ctx, httpClient, strings.TrimSuffix(config.Host, "/")+path, name+"-apiserver-cpu.pprof")
		}()
	}
}

// finish takes the heap profile and waits for the CPU profile.
func (p *profiler) finish(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if p.addr != "" {
		if err := p.fetch(ctx, http.DefaultClient, "http://"+p.addr+"/debug/pprof/heap", "heap.pprof"); err != nil {
			return err
		}
	}
	if p.cpuDone == nil {
		return nil
	}
	errs := make([]error, cap(p.cpuDone))
	for i := range errs {
		errs[i] = <-p.cpuDone
	}
	return errors.Join(errs...)
}

func (p *profiler) fetch(ctx context.Context, httpClient *http.Client, url, file string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cpu+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("profiling: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiling %s: %s", file, resp.Status)
	}
	f, err := os.Create(filepath.Join(p.dir, file)) //nolint:gosec // the run's own directory
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
