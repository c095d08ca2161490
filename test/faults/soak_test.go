package faults

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// growthFigures are the leader's goroutines and resident memory at the
// same point of the soak's first and last cycle (the MachineDeployment
// settled at its full size), so load is alike and growth is a leak.
type growthFigures struct {
	cycles                          int
	samePID                         bool
	firstGoroutines, lastGoroutines float64
	firstRSS, lastRSS               float64
	span                            time.Duration
}

// Flat: goroutines within 10% (plus a few for timing), memory within 25%
// (the Go heap is returned to the OS lazily).
func (g *growthFigures) flat() bool {
	return g.samePID && g.cycles >= 2 &&
		g.lastGoroutines <= g.firstGoroutines*1.1+10 && g.lastRSS <= g.firstRSS*1.25
}

func (g *growthFigures) row() invariant {
	r := invariant{name: "goroutines / RSS growth over a 30-minute soak", mustBe: "flat"}
	if g == nil {
		r.got, r.ok = "not measured in the short run (make soak measures it)", true
		return r
	}
	r.got = fmt.Sprintf("goroutines %.0f -> %.0f, RSS %.0f -> %.0f MiB over %s (%d cycles of 200 -> 50 -> 200, one leader process: %t)",
		g.firstGoroutines, g.lastGoroutines, g.firstRSS/(1<<20), g.lastRSS/(1<<20), g.span.Round(time.Minute), g.cycles, g.samePID)
	r.ok = g.flat()
	return r
}

// soakRun scales the MachineDeployment between 50 and 200 until d has
// passed, with a fault window on config writes and a pause in every
// cycle but no process faults, so one leader lives through it all; its
// goroutines and memory are read at every full-size settle.
func soakRun(ctx context.Context, t *testing.T, env *environment, obs *observer, rs *replicas, d time.Duration) (*growthFigures, []string, error) {
	g := &growthFigures{samePID: true}
	var deadData []string
	start := time.Now()
	firstPID := 0
	for cycle := 0; time.Since(start) < d; cycle++ {
		env.proxy.setFailRate(0.2)
		if err := env.scale(ctx, 50); err != nil {
			return nil, nil, err
		}
		if _, err := settle(ctx, env, obs, 50, settleTimeout, t.Logf); err != nil {
			return nil, nil, fmt.Errorf("soak cycle %d at 50: %w", cycle, err)
		}
		env.proxy.setFailRate(0)
		if err := env.setPaused(ctx, true); err != nil {
			return nil, nil, err
		}
		time.Sleep(5 * time.Second)
		if err := env.setPaused(ctx, false); err != nil {
			return nil, nil, err
		}
		if err := env.scale(ctx, 200); err != nil {
			return nil, nil, err
		}
		s, err := settle(ctx, env, obs, 200, settleTimeout, t.Logf)
		if err != nil {
			return nil, nil, fmt.Errorf("soak cycle %d at 200: %w", cycle, err)
		}
		deadData = append(deadData, deadTokenData(s, obs.seen(), time.Now())...)
		leader := rs.leader(ctx)
		if leader == nil {
			g.samePID = false
			continue
		}
		m, err := scrape(ctx, leader.metricsAddr)
		if err != nil {
			return nil, nil, err
		}
		pid := leader.process().Pid()
		goroutines, rss := m["go_goroutines"], m["process_resident_memory_bytes"]
		t.Logf("soak cycle %d after %s: leader pid %d, %.0f goroutines, %.0f MiB resident", cycle, time.Since(start).Round(time.Second), pid, goroutines, rss/(1<<20))
		// The first cycle warms caches and pools up; growth is counted
		// from the second.
		switch {
		case cycle == 0:
			continue
		case firstPID == 0:
			firstPID, g.firstGoroutines, g.firstRSS = pid, goroutines, rss
			g.span = -time.Since(start)
		case pid != firstPID:
			g.samePID = false
		}
		g.lastGoroutines, g.lastRSS = goroutines, rss
		g.cycles++
	}
	g.span += time.Since(start)
	return g, deadData, nil
}
