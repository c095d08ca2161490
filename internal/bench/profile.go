package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Profiles of cabpk0s under load, for finding where its time and memory
// go: a CPU profile over the first RunOptions.Profile of the measured
// window and a heap profile once the data exists, from the manager's pprof endpoint
// (--profiler-address), written beside the run's logs as cpu.pprof and
// heap.pprof (`go tool pprof bin/manager out/bench/<date>/<run>/cpu.pprof`).

// profiler collects the profiles of one run; a nil profiler does nothing.
// The CPU profile has a length fixed when it starts (the endpoint answers
// when it is over), so it cannot follow the window to its end.
type profiler struct {
	addr, dir string
	cpu       time.Duration
	cpuDone   chan error
}

// startCPUProfile starts the CPU profile in the background.
func (p *profiler) startCPUProfile(ctx context.Context) {
	if p == nil {
		return
	}
	p.cpuDone = make(chan error, 1)
	go func() {
		p.cpuDone <- p.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(int(p.cpu.Seconds()), 1)), "cpu.pprof")
	}()
}

// finish takes the heap profile and waits for the CPU profile.
func (p *profiler) finish(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.fetch(ctx, "/debug/pprof/heap", "heap.pprof"); err != nil {
		return err
	}
	if p.cpuDone == nil {
		return nil
	}
	return <-p.cpuDone
}

func (p *profiler) fetch(ctx context.Context, path, file string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cpu+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profiling: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiling %s: %s", path, resp.Status)
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
